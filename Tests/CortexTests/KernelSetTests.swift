import CortexKernels
import Testing

@testable import CortexCore

/// The convolution, pooling and reduction kernels of every instruction set
/// the CPU has, in both precisions, against plain loops: row widths from 1
/// to 33 leave every tail of a 4-, 8- and 16-lane register.
@Suite struct KernelSetTests {
  /// Random windows over planes `height × width`, with padding, stride and
  /// dilation, and the output extent they produce (at least 1×1).
  static func geometries(count: Int, seed: UInt64) -> [WindowGeometry] {
    var random = SeededGenerator(seed: seed)
    var result: [WindowGeometry] = []
    while result.count < count {
      let input = Extent(
        height: Int.random(in: 1...6, using: &random), width: result.count % 33 + 1)
      let window = Extent(
        height: Int.random(in: 1...3, using: &random), width: Int.random(in: 1...3, using: &random))
      let unit = Int.random(in: 0..<2, using: &random) == 0
      let stride =
        unit
        ? Extent(height: 1, width: 1)
        : Extent(
          height: Int.random(in: 1...2, using: &random),
          width: Int.random(in: 1...3, using: &random))
      let dilation =
        unit
        ? Extent(height: 1, width: 1)
        : Extent(
          height: Int.random(in: 1...2, using: &random),
          width: Int.random(in: 1...2, using: &random))
      let padding = Extent(
        height: Int.random(in: 0...window.height - 1, using: &random),
        width: Int.random(in: 0...window.width - 1, using: &random))
      func outputs(_ size: Int, _ w: Int, _ s: Int, _ p: Int, _ d: Int) -> Int {
        (size + 2 * p - d * (w - 1) - 1) / s + 1
      }
      let output = Extent(
        height: outputs(
          input.height, window.height, stride.height, padding.height, dilation.height),
        width: outputs(input.width, window.width, stride.width, padding.width, dilation.width))
      guard output.height >= 1 && output.width >= 1 else { continue }
      result.append(
        WindowGeometry(
          input: input, window: window, stride: stride, padding: padding, dilation: dilation,
          output: output))
    }
    return result
  }

  /// The largest difference between two buffers of the same length.
  static func worst<S: TensorScalar>(_ x: [S], _ y: [S]) -> Double {
    zip(x, y).map { Swift.abs(Double($0 - $1)) }.max() ?? 0
  }

  /// A copy of `x` in memory of its own, for the kernels' calls, which
  /// keep pointers; deallocate it after use.
  static func copy<S>(_ x: [S]) -> UnsafePointer<S> {
    let copy = UnsafeMutablePointer<S>.allocate(capacity: max(x.count, 1))
    copy.initialize(from: x, count: x.count)
    return UnsafePointer(copy)
  }

  /// `count` scalars, NaN until `write` writes them.
  static func written<S: TensorScalar>(_ count: Int, _ write: (UnsafeMutablePointer<S>) -> Void)
    -> [S]
  {
    [S](unsafeUninitializedCapacity: count) { buffer, initialized in
      buffer.initialize(repeating: .nan)
      if count > 0 { write(buffer.baseAddress!) }
      initialized = count
    }
  }

  /// `x` viewed as `[outer, axis, inner]`, summed along its middle axis by
  /// the sum kernel of `kernels`.
  static func sum<S: TensorScalar>(
    _ x: [S], outer: Int, axis: Int, inner: Int, using kernels: any KernelSet.Type
  ) -> [S] {
    let source = copy(x)
    defer { source.deallocate() }
    return written(outer * inner) { out in
      kernels.run(.sumAlongAxis(x: source, outer: outer, axis: axis, inner: inner, out: out))
    }
  }

  static func random<S: TensorScalar>(_ count: Int, using generator: inout SeededGenerator) -> [S] {
    (0..<count).map { _ in S(generator.nextUnit() * 4 - 2) }
  }

  /// The input index that window tap `(i, j)` of output `(oh, ow)` reads,
  /// or `nil` in the padding.
  static func tap(_ g: WindowGeometry, _ oh: Int, _ ow: Int, _ i: Int, _ j: Int) -> Int? {
    let ih = oh * g.stride.height - g.padding.height + i * g.dilation.height
    let iw = ow * g.stride.width - g.padding.width + j * g.dilation.width
    guard ih >= 0 && ih < g.input.height && iw >= 0 && iw < g.input.width else { return nil }
    return ih * g.input.width + iw
  }

  func checkColumns<S: TensorScalar>(_: S.Type, on set: InstructionSet) {
    let kernels = ComputeSettings.kernels(for: set)
    var generator = SeededGenerator(seed: 5)
    for g in Self.geometries(count: 66, seed: 11) {
      let channels = 2
      let image: [S] = Self.random(channels * g.inputCount, using: &generator)
      let patch = channels * g.windowCount
      // im2col with a row stride wider than a row: the gap is left alone.
      let rowStride = g.outputCount + 3
      var columns = [S](repeating: 7, count: patch * rowStride)
      image.withUnsafeBufferPointer { image in
        columns.withUnsafeMutableBufferPointer { columns in
          kernels.run(
            .im2col(
              image: image.baseAddress!, channels: channels, geometry: g,
              columns: columns.baseAddress!, rowStride: rowStride))
        }
      }
      let upstream: [S] = Self.random(patch * g.outputCount, using: &generator)
      var folded = [S](repeating: 0, count: image.count)
      upstream.withUnsafeBufferPointer { upstream in
        folded.withUnsafeMutableBufferPointer { folded in
          kernels.run(
            .col2im(
              columns: upstream.baseAddress!, channels: channels, geometry: g,
              image: folded.baseAddress!))
        }
      }
      var expectedColumns = [S](repeating: 7, count: columns.count)
      var expectedFolded = [S](repeating: 0, count: image.count)
      for c in 0..<channels {
        for i in 0..<g.window.height {
          for j in 0..<g.window.width {
            let row = (c * g.window.height + i) * g.window.width + j
            for oh in 0..<g.output.height {
              for ow in 0..<g.output.width {
                let position = oh * g.output.width + ow
                guard let index = Self.tap(g, oh, ow, i, j) else {
                  expectedColumns[row * rowStride + position] = 0
                  continue
                }
                expectedColumns[row * rowStride + position] = image[c * g.inputCount + index]
                expectedFolded[c * g.inputCount + index] += upstream[row * g.outputCount + position]
              }
            }
          }
        }
      }
      #expect(columns == expectedColumns, "\(set) \(S.self) im2col \(g)")
      #expect(Self.worst(folded, expectedFolded) <= 1e-5, "\(set) \(S.self) col2im \(g)")
    }
  }

  @Test func columnMatricesAndCol2imMatchPlainLoopsOnEverySet() {
    for set in InstructionSet.supported {
      checkColumns(Float.self, on: set)
      checkColumns(Double.self, on: set)
    }
  }

  /// The convolution kernels, which pack the GEMM's panels straight from
  /// padded copies of the images, against plain loops over every tap: the
  /// forward pass with and without bias, the input gradient, and the
  /// channels-last filter gradient added onto what is there, for the
  /// middle images of a batch of four (the others must stay untouched).
  func checkConvolutions<S: TensorScalar>(_: S.Type, on set: InstructionSet) {
    let kernels = ComputeSettings.kernels(for: set)
    var generator = SeededGenerator(seed: 21)
    // The two 3×3 cases of 16 channels and 150 filters run Winograd's
    // transforms, which round more than a direct sum: up to 1.7e-4 on
    // input gradients of 1,350 terms of up to 4.
    let tolerance = S.self == Float.self ? 2e-4 : 1e-11
    // Random windows with 1 to 3 or 16 channels and 1 to 64 filters, then
    // two larger products: 150 filters (more rows of A than one block of
    // the tile holds, run on both threads) over rows of 16 and of 24
    // outputs (every panel, or only some, read where it lies).
    var cases = Self.geometries(count: 40, seed: 17).enumerated().map { index, plane in
      (plane, [1, 2, 3, 16][index % 4], [1, 5, 7, 13, 64][index % 5])
    }
    for width in [16, 24] {
      let extent = Extent(height: 4, width: width)
      let plane = WindowGeometry(
        input: extent, window: Extent(height: 3, width: 3), stride: Extent(height: 1, width: 1),
        padding: Extent(height: 1, width: 1), dilation: Extent(height: 1, width: 1),
        output: extent)
      cases.append((plane, 16, 150))
    }
    // Both ways to the input gradient are covered: the transposed
    // convolution (at least 16 channels, a multiple of 8) and col2im.
    #expect(cases.contains { $0.0.transposed != nil && $0.1 == 16 })
    #expect(cases.contains { $0.0.transposed == nil || $0.1 < 16 })
    for (plane, channels, filters) in cases {
      let batch = 4
      let g = ConvolutionGeometry(
        batch: batch, channels: channels, filters: filters, plane: plane)
      let (positions, patch, taps) = (plane.outputCount, g.patchSize, plane.windowCount)
      let images = filters > 64 ? 1..<2 : 1..<3
      let input: [S] = Self.random(batch * g.inputImageCount, using: &generator)
      let weights: [S] = Self.random(filters * patch, using: &generator)
      let bias: [S] = Self.random(filters, using: &generator)
      let upstream: [S] = Self.random(batch * g.outputImageCount, using: &generator)
      var expectedOutput = [S](repeating: 0, count: batch * g.outputImageCount)
      var expectedInputGradient = [S](repeating: 0, count: batch * g.inputImageCount)
      var expectedFilterGradient = [S](repeating: 0.5, count: filters * patch)
      for n in images {
        for k in 0..<filters {
          for position in 0..<positions {
            let (oh, ow) = position.quotientAndRemainder(dividingBy: plane.output.width)
            let out = (n * filters + k) * positions + position
            var sum: S = 0
            for c in 0..<channels {
              for i in 0..<plane.window.height {
                for j in 0..<plane.window.width {
                  guard let tap = Self.tap(plane, oh, ow, i, j) else { continue }
                  let x = n * g.inputImageCount + c * plane.inputCount + tap
                  let w = ((k * channels + c) * plane.window.height + i) * plane.window.width + j
                  sum += weights[w] * input[x]
                  expectedInputGradient[x] += weights[w] * upstream[out]
                  expectedFilterGradient[(k * taps + i * plane.window.width + j) * channels + c] +=
                    upstream[out] * input[x]
                }
              }
            }
            expectedOutput[out] = sum
          }
        }
      }
      let label = "\(set) \(S.self) \(filters) filters, \(channels) channels, \(plane)"
      var outputs = [[S]](repeating: [S](repeating: 0, count: expectedOutput.count), count: 2)
      var inputGradient = [S](repeating: 0, count: expectedInputGradient.count)
      var filterGradient = [S](repeating: 0.5, count: expectedFilterGradient.count)
      func run(_ call: KernelCall<S>) { kernels.run(call) }
      input.withUnsafeBufferPointer { x in
        weights.withUnsafeBufferPointer { w in
          bias.withUnsafeBufferPointer { b in
            upstream.withUnsafeBufferPointer { u in
              let (x, w, b, u) = (x.baseAddress!, w.baseAddress!, b.baseAddress!, u.baseAddress!)
              for (slot, withBias) in [false, true].enumerated() {
                outputs[slot].withUnsafeMutableBufferPointer { output in
                  run(
                    .convolution(
                      input: x, filters: w, bias: withBias ? b : nil,
                      output: output.baseAddress!, geometry: g, images: images))
                }
              }
              inputGradient.withUnsafeMutableBufferPointer { gradient in
                run(
                  .convolutionInputGradient(
                    upstream: u, filters: w, inputGradient: gradient.baseAddress!, geometry: g,
                    images: images))
              }
              filterGradient.withUnsafeMutableBufferPointer { gradient in
                run(
                  .convolutionFilterGradient(
                    upstream: u, input: x, filterGradient: gradient.baseAddress!, geometry: g,
                    images: images))
              }
            }
          }
        }
      }
      for (slot, withBias) in [false, true].enumerated() {
        var expected = expectedOutput
        if withBias {
          for n in images {
            for k in 0..<filters {
              for position in 0..<positions {
                expected[(n * filters + k) * positions + position] += bias[k]
              }
            }
          }
        }
        #expect(
          Self.worst(outputs[slot], expected) <= tolerance,
          "convolution, bias \(withBias), \(label)")
      }
      #expect(
        Self.worst(inputGradient, expectedInputGradient) <= tolerance, "input gradient, \(label)")
      #expect(
        Self.worst(filterGradient, expectedFilterGradient) <= tolerance, "filter gradient, \(label)"
      )
    }
  }

  @Test func convolutionsMatchPlainLoopsOnEverySet() {
    for set in InstructionSet.supported {
      checkConvolutions(Float.self, on: set)
      checkConvolutions(Double.self, on: set)
    }
  }

  func checkPooling<S: TensorScalar>(_: S.Type, on set: InstructionSet) {
    let kernels = ComputeSettings.kernels(for: set)
    var generator = SeededGenerator(seed: 9)
    let planes = 3
    var geometries = Self.geometries(count: 40, seed: 13).filter {
      $0.dilation == Extent(height: 1, width: 1)
    }
    // 2×2 tilings of every output width up to 20.
    geometries += (1...20).map { width in
      WindowGeometry(
        input: Extent(height: 4, width: 2 * width), window: Extent(height: 2, width: 2),
        stride: Extent(height: 2, width: 2), padding: Extent(height: 0, width: 0),
        dilation: Extent(height: 1, width: 1), output: Extent(height: 2, width: width))
    }
    for g in geometries {
      // Few distinct values, so that windows hold ties.
      let input = (0..<planes * g.inputCount).map { _ in S(Int(generator.next() % 5)) }
      let upstream: [S] = Self.random(planes * g.outputCount, using: &generator)
      var expectedMaximum = [S](repeating: 0, count: upstream.count)
      var expectedWinners = [Int32](repeating: 0, count: upstream.count)
      var expectedAverage = [S](repeating: 0, count: upstream.count)
      var expectedAverageGradient = [S](repeating: 0, count: input.count)
      for p in 0..<planes {
        for oh in 0..<g.output.height {
          for ow in 0..<g.output.width {
            let o = (p * g.output.height + oh) * g.output.width + ow
            var best: Int? = nil
            var sum: S = 0
            var taps: [Int] = []
            for i in 0..<g.window.height {
              for j in 0..<g.window.width {
                guard let index = Self.tap(g, oh, ow, i, j) else { continue }
                let flat = p * g.inputCount + index
                taps.append(flat)
                sum += input[flat]
                if best == nil || input[flat] > input[best!] { best = flat }
              }
            }
            expectedMaximum[o] = input[best!]
            expectedWinners[o] = Int32(best!)
            expectedAverage[o] = sum * (1 / S(g.windowCount))
            for flat in taps {
              expectedAverageGradient[flat] += upstream[o] * (1 / S(g.windowCount))
            }
          }
        }
      }
      var expectedRouted = [S](repeating: 0, count: input.count)
      for (o, winner) in expectedWinners.enumerated() { expectedRouted[Int(winner)] += upstream[o] }

      let (x, u) = (Self.copy(input), Self.copy(upstream))
      defer {
        x.deallocate()
        u.deallocate()
      }
      for tiled in g.tiles2x2 ? [false, true] : [false] {
        var winners = [Int32](repeating: -1, count: upstream.count)
        let maximum = winners.withUnsafeMutableBufferPointer { winners in
          Self.written(upstream.count) { maximum in
            kernels.run(
              tiled
                ? .maxPool2x2(
                  input: x, output: maximum, winners: winners.baseAddress!, planes: planes,
                  geometry: g)
                : .maxPool(
                  input: x, output: maximum, winners: winners.baseAddress!, planes: planes,
                  geometry: g))
          }
        }
        let label = "\(set) \(S.self)\(tiled ? " 2×2" : "")"
        #expect(maximum == expectedMaximum && winners == expectedWinners, "\(label) max \(g)")
        let routed = winners.withUnsafeBufferPointer { winners in
          Self.written(input.count) { routed in
            kernels.run(
              tiled
                ? .routeToWinners2x2(
                  upstream: u, winners: winners.baseAddress!, gradient: routed, planes: planes,
                  geometry: g)
                : .routeToWinners(
                  upstream: u, winners: winners, gradient: routed, inputCount: input.count))
          }
        }
        #expect(routed == expectedRouted, "\(label) routing \(g)")
      }
      let average = Self.written(upstream.count) { average in
        kernels.run(.averagePool(input: x, output: average, planes: planes, geometry: g))
      }
      #expect(average == expectedAverage, "\(set) \(S.self) average \(g)")
      let averageGradient = Self.written(input.count) { gradient in
        kernels.run(
          .averagePoolGradient(upstream: u, inputGradient: gradient, planes: planes, geometry: g))
      }
      #expect(
        Self.worst(averageGradient, expectedAverageGradient) <= 1e-5,
        "\(set) \(S.self) average gradient \(g)")
    }
  }

  @Test func poolingMatchesPlainLoopsOnEverySet() {
    for set in InstructionSet.supported {
      checkPooling(Float.self, on: set)
      checkPooling(Double.self, on: set)
    }
  }

  func checkMaxout<S: TensorScalar>(_: S.Type, on set: InstructionSet) {
    let kernels = ComputeSettings.kernels(for: set)
    var generator = SeededGenerator(seed: 21)
    for inner in 1...33 {
      let (outer, units, pieces) = (2, 3, inner % 4 + 1)
      let input = (0..<outer * units * pieces * inner).map { _ in S(Int(generator.next() % 4)) }
      let x = Self.copy(input)
      defer { x.deallocate() }
      var winners = [Int32](repeating: -1, count: outer * units * inner)
      let output = winners.withUnsafeMutableBufferPointer { winners in
        Self.written(winners.count) { output in
          kernels.run(
            .maxout(
              input: x, output: output, winners: winners.baseAddress!, outer: outer,
              units: units, pieces: pieces, inner: inner))
        }
      }
      var expectedWinners = [Int32](repeating: -1, count: output.count)
      for group in 0..<outer * units {
        for s in 0..<inner {
          let first = group * pieces * inner + s
          var best = first
          for j in 1..<pieces where input[first + j * inner] > input[best] {
            best = first + j * inner
          }
          expectedWinners[group * inner + s] = Int32(best)
        }
      }
      #expect(winners == expectedWinners, "\(set) \(S.self) maxout inner \(inner) pieces \(pieces)")
      #expect(
        output == expectedWinners.map { input[Int($0)] }, "\(set) \(S.self) maxout inner \(inner)")
    }
  }

  @Test func maxoutMatchesPlainLoopsOnEverySet() {
    for set in InstructionSet.supported {
      checkMaxout(Float.self, on: set)
      checkMaxout(Double.self, on: set)
    }
  }

  /// The sum in the order the kernels promise: lane `l` of two blocks of
  /// eight partial sums adds elements `16t + l` and `16t + 8 + l`; the
  /// lanes are then added pairwise, `a + b` first, then the rest in order.
  static func eightLaneSum<S: TensorScalar>(_ x: [S]) -> S {
    var a = [S](repeating: 0, count: 8)
    var b = [S](repeating: 0, count: 8)
    var i = 0
    while i + 16 <= x.count {
      for l in 0..<8 {
        a[l] += x[i + l]
        b[l] += x[i + 8 + l]
      }
      i += 16
    }
    var sum = SIMD8<S>((0..<8).map { a[$0] + b[$0] }).sum()
    while i < x.count {
      sum += x[i]
      i += 1
    }
    return sum
  }

  func checkSums<S: TensorScalar>(_: S.Type, on set: InstructionSet) {
    let kernels = ComputeSettings.kernels(for: set)
    var generator = SeededGenerator(seed: 33)
    for count in 0...70 {
      let x: [S] = Self.random(count, using: &generator)
      let sum = Self.sum(x, outer: 1, axis: count, inner: 1, using: kernels)
      #expect(sum == [Self.eightLaneSum(x)], "\(set) \(S.self) \(count)")
    }
    for (outer, axis, inner) in [
      (3, 37, 1), (2, 5, 1), (2, 4, 17), (1, 3, 33), (3, 6, 16), (2, 0, 5),
    ] {
      let x: [S] = Self.random(outer * axis * inner, using: &generator)
      let out = Self.sum(x, outer: outer, axis: axis, inner: inner, using: kernels)
      var expected = [S](repeating: 0, count: out.count)
      for o in 0..<outer {
        if inner == 1 {
          expected[o] = Self.eightLaneSum(Array(x[(o * axis)..<((o + 1) * axis)]))
          continue
        }
        for k in 0..<axis {
          for i in 0..<inner { expected[o * inner + i] += x[(o * axis + k) * inner + i] }
        }
      }
      #expect(out == expected, "\(set) \(S.self) sum [\(outer), \(axis), \(inner)]")
    }
  }

  @Test func sumsFollowTheEightLaneOrderOnEverySet() {
    for set in InstructionSet.supported {
      checkSums(Float.self, on: set)
      checkSums(Double.self, on: set)
    }
  }

  func checkRectifier<S: TensorScalar>(_: S.Type, on set: InstructionSet) {
    let kernels = ComputeSettings.kernels(for: set)
    var generator = SeededGenerator(seed: 41)
    for count in 0...33 {
      var x: [S] = Self.random(count, using: &generator)
      for (i, special) in [S.nan, 0, -0.0, -S.infinity].enumerated() where i < count {
        x[(i * 7) % count] = special
      }
      let upstream: [S] = Self.random(count, using: &generator)
      var out = [S](repeating: 5, count: count)
      var gradient = [S](repeating: 5, count: count)
      kernels.apply(.maximum(0), x, &out, count: count)
      kernels.apply(
        .passWhereAtLeast(0), upstream, shapeA: [count], x, shapeB: [count], &gradient,
        result: [count])
      let passes = x.map { $0 >= 0 }
      let expected = zip(x, passes).map { $1 ? $0 : 0 }
      // -0 passes as -0: compare signs too.
      #expect(
        out == expected && out.map(\.sign) == expected.map(\.sign),
        "\(set) \(S.self) relu \(count)")
      #expect(
        gradient == zip(upstream, passes).map { $1 ? $0 : 0 },
        "\(set) \(S.self) relu gradient \(count)")
    }
  }

  @Test func rectifierMatchesPlainLoopsOnEverySet() {
    for set in InstructionSet.supported {
      checkRectifier(Float.self, on: set)
      checkRectifier(Double.self, on: set)
    }
  }
}
