import CortexKernels
import CortexNN
import Foundation
import Testing

@testable import CortexCore

/// The backend seam: the CPU backend's elementwise functions against plain
/// reference loops, and the rule that only Tensor/ and Backend/ reach a
/// tensor's memory.
@Suite struct BackendTests {
  /// Values that cover both signs, zero, ties with the constants below and
  /// magnitudes where naive formulas overflow.
  static func values<S: TensorScalar>(_: S.Type) -> [S] {
    [-40, -3.5, -1, -0.25, 0, 0.5, 0.75, 1, 2, 3.25, 40, 0.001]
  }

  /// Every unary function with its reference, written out per element.
  static func unaryCases<S: TensorScalar>(_: S.Type) -> [(UnaryFunction<S>, (S) -> S)] {
    func inDouble(_ f: @escaping (Double) -> Double) -> (S) -> S { { S(f(Double($0))) } }
    return [
      (.negate, { -$0 }),
      (.exp, { S.exp($0) }),
      (.log, { S.log($0) }),
      (.sqrt, { $0.squareRoot() }),
      (.square, { $0 * $0 }),
      (.abs, { Swift.abs($0) }),
      (.sign, { $0 > 0 ? 1 : $0 < 0 ? -1 : 0 }),
      (.power(3), { S.pow($0, 3) }),
      (.tanh, { S.tanh($0) }),
      (.sigmoid, inDouble { 1 / (1 + Foundation.exp(-$0)) }),
      (.maximum(0.5), { Swift.max($0, 0.5) }),
      (.minimum(0.5), { Swift.min($0, 0.5) }),
      (.atLeast(0.5), { $0 >= 0.5 ? 1 : 0 }),
      (.atMost(0.5), { $0 <= 0.5 ? 1 : 0 }),
      (.finiteOrZero, { $0 }),
      (.erf, inDouble(Foundation.erf)),
      (.sin, inDouble(Foundation.sin)),
      (.cos, inDouble(Foundation.cos)),
      (.log1p, inDouble(Foundation.log1p)),
      (.expm1, inDouble(Foundation.expm1)),
      (.softplus, inDouble { Foundation.log(1 + Foundation.exp($0)) }),
      (.silu, inDouble { $0 / (1 + Foundation.exp(-$0)) }),
      (.gelu, inDouble { $0 * (1 + Foundation.erf($0 / 2.squareRoot())) / 2 }),
      (
        .geluTanh,
        inDouble {
          $0 * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * pow($0, 3))))
            / 2
        }
      ),
    ]
  }

  /// Every binary function with its reference.
  static func binaryCases<S: TensorScalar>(_: S.Type) -> [(BinaryFunction<S>, (S, S) -> S)] {
    [
      (.add, +), (.subtract, -), (.multiply, *), (.divide, /),
      (.power, { S.pow($0, $1) }),
      (.maximum, { Swift.max($0, $1) }), (.minimum, { Swift.min($0, $1) }),
      (.greater, { $0 > $1 ? 1 : 0 }), (.less, { $0 < $1 ? 1 : 0 }),
      (.greaterOrEqual, { $0 >= $1 ? 1 : 0 }), (.lessOrEqual, { $0 <= $1 ? 1 : 0 }),
      (.equal, { $0 == $1 ? 1 : 0 }), (.notEqual, { $0 != $1 ? 1 : 0 }),
      (.passWhereAtLeast(0.5), { $1 >= 0.5 ? $0 : 0 }),
      (.passWhereAtMost(0.5), { $1 <= 0.5 ? $0 : 0 }),
      (.tanhGradient, { $0 * (1 - $1 * $1) }),
      (.sigmoidGradient, { $0 * $1 * (1 - $1) }),
      (
        .logisticLoss,
        { z, t in
          let sigma = 1 / (1 + S.exp(-z))
          return -(t * S.log(sigma) + (1 - t) * S.log(1 - sigma))
        }
      ),
    ]
  }

  /// The relative difference of `a` and `b`, 0 when both are NaN or equal.
  static func difference<S: TensorScalar>(_ a: S, _ b: S) -> Double {
    if a == b || (a.isNaN && b.isNaN) { return 0 }
    return Double(Swift.abs(a - b)) / Swift.max(1, Double(Swift.abs(b)))
  }

  func checkUnary<S: TensorScalar>(_: S.Type, tolerance: Double) {
    let values = Self.values(S.self)
    let x = Tensor<S>(shape: [3, 4], scalars: values)
    for (function, reference) in Self.unaryCases(S.self) {
      let result = CPUBackend.shared.unary(function, x)
      #expect(result.shape == [3, 4])
      for (value, computed) in zip(values, result.scalars) {
        let expected = reference(value)
        #expect(
          Self.difference(computed, expected) <= tolerance,
          "\(function)(\(value)) = \(computed), expected \(expected)")
      }
    }
  }

  @Test func everyUnaryFunctionMatchesItsReferenceLoop() {
    // Float: the tanh kernel is within 3.95e-7, the logistic loss's naive
    // reference loses digits near the ends; Double matches to rounding.
    checkUnary(Float.self, tolerance: 2e-6)
    checkUnary(Double.self, tolerance: 1e-14)
  }

  func checkBinary<S: TensorScalar>(_: S.Type, tolerance: Double) {
    // [3, 1, 4] against [2, 1] broadcasts to [3, 2, 4].
    let a = Tensor<S>(shape: [3, 1, 4], scalars: Self.values(S.self).map { $0 / 8 })
    let b = Tensor<S>(shape: [2, 1], scalars: [0.5, 0.75])
    for (function, reference) in Self.binaryCases(S.self) {
      let result = CPUBackend.shared.binary(function, a, b, shape: [3, 2, 4])
      #expect(result.shape == [3, 2, 4])
      for i in 0..<3 {
        for j in 0..<2 {
          for k in 0..<4 {
            let (x, y) = (a[i, 0, k], b[j, 0])
            let expected = reference(x, y)
            #expect(
              Self.difference(result[i, j, k], expected) <= tolerance,
              "\(function)(\(x), \(y)) = \(result[i, j, k]), expected \(expected)")
          }
        }
      }
    }
  }

  @Test func everyBinaryFunctionMatchesItsReferenceLoopWithBroadcasting() {
    checkBinary(Float.self, tolerance: 1e-6)
    checkBinary(Double.self, tolerance: 1e-14)
  }

  @Test func selectAndBlockCopiesMatchTheirDefinitions() {
    let condition = Tensor<Double>([1, 0, 0, 1])
    let a = Tensor<Double>([1, 2, 3, 4])
    let b = Tensor<Double>([-1, -2, -3, -4])
    #expect(CPUBackend.shared.select(condition, a, b).scalars == [1, -2, -3, 4])
    let source = Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    let padded = CPUBackend.shared.assemble(
      [3, 4], zeroFilled: true,
      blocks: [
        BlockCopy(
          source: source, sourceOrigin: [0, 1], region: [2, 2], destinationOrigin: [1, 2])
      ])
    #expect(padded.scalars == [0, 0, 0, 0, 0, 0, 2, 3, 0, 0, 5, 6])
  }

  /// The first NaN or infinity against a plain scan of the scalars: none,
  /// one at either end, several (the first wins), in Float and Double.
  @Test func firstNonFiniteFindsTheFirstNaNOrInfinity() {
    func check<S: TensorScalar>(_: S.Type) {
      let cases: [(count: Int, placed: [(Int, S)])] = [
        (0, []), (1, [(0, .nan)]), (17, []), (17, [(16, -.infinity)]),
        (33, [(5, .infinity), (9, .nan)]), (33, [(20, .nan), (3, -.infinity)]),
      ]
      for (count, placed) in cases {
        var scalars = (0..<count).map { S($0) - 7.5 }
        for (index, value) in placed { scalars[index] = value }
        let found = CPUBackend.shared.firstNonFinite(Tensor(shape: [count], scalars: scalars))
        let expected = scalars.indices.first { !scalars[$0].isFinite }
        #expect(found?.index == expected, "\(S.self), \(count) scalars, \(placed)")
        if let found, let expected {
          let value = scalars[expected]
          #expect(value.isNaN ? found.value.isNaN : found.value == value)
        }
      }
      let meta = Tensor<S>(
        shape: [4], storage: TensorStorage(uninitializedCount: 4, device: .meta))
      #expect(MetaBackend.shared.firstNonFinite(meta) == nil)
    }
    check(Float.self)
    check(Double.self)
  }

  /// `topK`, `argmax` and `argmin` against selection loops over each line,
  /// on values with many ties (the earlier position first), along every
  /// axis, in Float and Double.
  @Test func topKAndArgExtremaMatchSelectionLoops() {
    func check<S: TensorScalar>(_: S.Type) {
      for (seed, shape) in [[7], [2, 3, 5], [4, 1, 6]].enumerated() {
        let x = Tensor<S>.randomUniform(shape, lower: 0, upper: 4, seed: UInt64(seed))
          .map { $0.rounded(.down) }
        let scalars = x.scalars
        for axis in shape.indices {
          let (outer, size, inner) = extents(shape, at: axis)
          // The line through each (o, i) along `axis`, as positions in it.
          func line(_ o: Int, _ i: Int) -> [S] {
            (0..<size).map { scalars[(o * size + $0) * inner + i] }
          }
          func selection(_ values: [S], _ k: Int, largest: Bool) -> [Int] {
            var remaining = Array(values.indices)
            var chosen: [Int] = []
            for _ in 0..<k {
              var best = remaining[0]
              for j in remaining where largest ? values[j] > values[best] : values[j] < values[best]
              {
                best = j
              }
              remaining.removeAll { $0 == best }
              chosen.append(best)
            }
            return chosen
          }
          for k in 0...size {
            for largest in [true, false] {
              var expected = [Int](repeating: 0, count: outer * k * inner)
              for o in 0..<outer {
                for i in 0..<inner {
                  for (r, position) in selection(line(o, i), k, largest: largest).enumerated() {
                    expected[(o * k + r) * inner + i] = position
                  }
                }
              }
              let (values, indices) = x.topK(k, alongAxis: axis, largest: largest)
              #expect(indices.scalars == expected, "\(S.self) \(shape) axis \(axis) k \(k)")
              #expect(
                values.scalars
                  == expected.indices.map { flat in
                    let (o, rest) = flat.quotientAndRemainder(dividingBy: k * inner)
                    return scalars[(o * size + expected[flat]) * inner + rest % inner]
                  })
            }
          }
          let lines = (0..<outer).flatMap { o in (0..<inner).map { line(o, $0) } }
          #expect(x.argmax(alongAxis: axis) == lines.map { selection($0, 1, largest: true)[0] })
          #expect(
            x.argmin(alongAxis: axis, keepDims: false).scalars
              == lines.map { selection($0, 1, largest: false)[0] })
        }
      }
    }
    check(Float.self)
    check(Double.self)
  }

  /// On the meta device, `topK` and `argmax` give shapes without values.
  @Test func topKAndArgmaxTraceShapes() {
    let meta = Tensor<Float>(
      shape: [2, 5, 3], storage: TensorStorage(uninitializedCount: 30, device: .meta))
    let (values, indices) = meta.topK(2, alongAxis: 1)
    #expect(values.shape == [2, 2, 3] && values.device == .meta)
    #expect(indices.shape == [2, 2, 3])
    #expect(meta.argmax(alongAxis: 1, keepDims: false).shape == [2, 3])
  }

  /// Causal attention finds its visible keys on the backend, so a shape
  /// trace runs through it.
  @Test func causalAttentionTracesShapes() throws {
    let traced = traceShape([2, 3, 5, 4]) { (q: Tensor<Float>) in
      attentionWeights(query: q, key: q, causal: true)
    }
    #expect(try traced.get() == [2, 3, 5, 5])
  }

  @Test func theCPUServesTheCPUDevice() {
    #expect(Backends.backend(for: .cpu, "test") === CPUBackend.shared)
    #expect(Tensor<Float>([1]).backend("test").name == Device.cpu.backend)
  }

  // MARK: - Who touches memory

  /// What reaches a tensor's memory directly.
  static let rawAccess = [
    ".pointer", "withUnsafe", "UnsafePointer", "UnsafeMutablePointer", "UnsafeBufferPointer",
    "UnsafeMutableBufferPointer", "UnsafeRawPointer", "UnsafeMutableRawPointer",
  ]

  /// What reaches a tensor's memory from outside the core: its storage or
  /// its host buffers (a layer copy's `withUnsafeMutableBytes` on a
  /// struct's own fields is not a tensor's memory).
  static let tensorAccess = [
    ".pointer", ".storage", "withUnsafeBufferPointer", "withUnsafeMutableBufferPointer",
    "UnsafePointer", "UnsafeBufferPointer", "UnsafeMutableBufferPointer",
  ]

  /// The lines of `text` that hold any of `tokens` outside comments, as
  /// "line: text".
  static func rawAccessLines(in text: String, tokens: [String] = rawAccess) -> [String] {
    text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap {
      number, line in
      let code = line.components(separatedBy: "//")[0]
      return tokens.contains { code.contains($0) } ? "\(number + 1): \(line)" : nil
    }
  }

  @Test func theScanFindsRawAccess() {
    let found = Self.rawAccessLines(
      in: "let a = x.storage.pointer[0]\n// x.storage.pointer in a comment\nlet b = 1")
    #expect(found == ["1: let a = x.storage.pointer[0]"])
    #expect(Self.rawAccessLines(in: "t.withUnsafeBufferPointer { $0[0] }").count == 1)
    let layerCopy = "withUnsafeMutableBytes(of: &result) { bytes in"
    #expect(Self.rawAccessLines(in: layerCopy, tokens: Self.tensorAccess).isEmpty)
    #expect(
      Self.rawAccessLines(in: "p.value.withUnsafeBufferPointer { $0 }", tokens: Self.tensorAccess)
        .count == 1)
  }

  /// The Swift files of `Sources/<target>` outside the `allowed` folders,
  /// as paths relative to the target, each with the lines that hold any of
  /// `tokens`.
  static func scan(_ target: String, allowing allowed: Set<String>, tokens: [String]) throws
    -> [(file: String, lines: [String])]
  {
    let folder = URL(fileURLWithPath: #filePath)
      .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Sources/\(target)")
    let files = try #require(FileManager.default.enumerator(atPath: folder.path))
      .compactMap { $0 as? String }
      .filter { $0.hasSuffix(".swift") && !allowed.contains(String($0.split(separator: "/")[0])) }
    return try files.map { file in
      let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
      return (file, rawAccessLines(in: text, tokens: tokens))
    }
  }

  /// Only `Tensor/` (the storage) and `Backend/` (the primitives, which
  /// hand the memory to the kernels) of the core may touch memory: every
  /// operation, gate and check goes through a backend.
  @Test func onlyTensorAndBackendTouchMemory() throws {
    let checked = try Self.scan(
      "CortexCore", allowing: ["Tensor", "Backend"], tokens: Self.rawAccess)
    // Operations, Autodiff and Checking hold dozens of files: an empty scan
    // would mean the folders moved, not that the rule holds.
    #expect(checked.count >= 30, "found only \(checked.map(\.file))")
    #expect(checked.contains { $0.file.hasPrefix("Operations/") })
    for (file, lines) in checked {
      #expect(lines.isEmpty, "\(file) reaches memory directly:\n\(lines.joined(separator: "\n"))")
    }
  }

  /// Layers, optimizers and models reach scalars only through operations
  /// and the core's primitives (an optimizer's step included), never a
  /// tensor's memory.
  @Test func layersAndOptimizersNeverTouchTensorMemory() throws {
    let checked = try Self.scan("CortexNN", allowing: [], tokens: Self.tensorAccess)
    #expect(checked.count >= 15, "found only \(checked.map(\.file))")
    #expect(checked.contains { $0.file == "Optimizers/Optimizer.swift" })
    for (file, lines) in checked {
      #expect(lines.isEmpty, "\(file) reaches tensor memory:\n\(lines.joined(separator: "\n"))")
    }
  }
}

/// A composite layer that leaves `outputShape(for:)` to the shape-only
/// trace: a convolution, max pooling, a flatten and a dense layer.
private struct TracedBlock: Layer {
  let conv: Conv2D<Float>
  let dense: Dense<Float>

  init() throws {
    conv = try Conv2D(inputChannels: 1, outputChannels: 4, filterSize: 3, padding: 1)
    dense = try Dense(inputSize: 4 * 4 * 4, outputSize: 10)
  }

  func callAsFunction(_ x: Tensor<Float>) -> Tensor<Float> {
    dense(maxPool2d(relu(conv(x)), size: 2, stride: 2).flattened())
  }
}

/// Shapes without computation: the meta backend under a shape trace.
@Suite struct ShapeTracingTests {
  @Test func aCustomLayerWithoutOutputShapeIsSummarized() throws {
    let block = try TracedBlock()
    let before = block.namedParameters.map(\.parameter.value)
    #expect(try block.outputShape(for: [5, 1, 8, 8]) == [5, 10])
    let summary = try block.summary(inputShape: [1, 8, 8])
    #expect(summary.rows.last?.outputShape == [10])
    #expect(summary.totalParameters == 4 * 9 + 4 + 64 * 10 + 10)
    // The trace leaves the parameters as they were.
    #expect(block.namedParameters.map(\.parameter.value) == before)
  }

  @Test func aWrongInputIsAThrownErrorNamingTheLayer() throws {
    let block = try TracedBlock()
    // 6×6 pools to 3×3: 36 features where the dense layer takes 64.
    #expect {
      try block.outputShape(for: [2, 1, 6, 6])
    } throws: { error in
      let message = (error as? ShapeError)?.message ?? ""
      return message.hasPrefix("TracedBlock: ") && message.contains("[2, 36]")
    }
    // Three input channels where the convolution takes one.
    #expect {
      try block.summary(inputShape: [3, 8, 8])
    } throws: { error in
      let message = (error as? ShapeError)?.message ?? ""
      return message.contains("TracedBlock: conv2d: filter depth 1 does not match input depth 3")
    }
    // The process survives both, and the layer still computes.
    let output = block(Tensor<Float>.ones([1, 1, 8, 8]))
    #expect(output.shape == [1, 10] && output.scalars.allSatisfy(\.isFinite))
  }

  @Test func shapeOnlyTensorsAllocateNothingAndReadAsZeros() {
    let x = Tensor<Float>(
      shape: [1000, 1000], storage: TensorStorage(uninitializedCount: 1_000_000, device: .meta))
    let y = matmul(x, Tensor<Float>.ones([1000, 3])) + 1
    #expect(y.shape == [1000, 3] && y.device == .meta)
    #expect(y.scalars == [Float](repeating: 0, count: 3000))
    #expect(exp(x).sum(alongAxes: 1).shape == [1000])
  }

  /// A host tensor first among shape-only ones (a class token before the
  /// traced patches) still leaves the work to the meta backend.
  @Test func aHostTensorBeforeShapeOnlyOnesStaysShapeOnly() {
    let patches = Tensor<Float>(
      shape: [4, 1000, 8], storage: TensorStorage(uninitializedCount: 32_000, device: .meta))
    let token = Tensor<Float>.ones([4, 1, 8])
    let joined = Tensor(concatenating: [token, patches], alongAxis: 1)
    #expect(joined.shape == [4, 1001, 8] && joined.device == .meta)
    let filters = Tensor<Float>.ones([2, 8, 3, 3])
    let images = Tensor<Float>(
      shape: [4, 8, 5, 5], storage: TensorStorage(uninitializedCount: 800, device: .meta))
    let maps = conv2d(images, filters: filters, bias: Tensor<Float>.zeros([2]))
    #expect(maps.shape == [4, 2, 3, 3] && maps.device == .meta)
  }
}
