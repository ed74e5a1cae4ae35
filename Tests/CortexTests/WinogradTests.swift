import CortexKernels
import Testing

@testable import CortexCore

/// The Winograd F(2×2, 3×3) kernels (3 × 3 convolutions of stride 1):
/// the forward pass, the input gradient and the filter gradient against
/// plain loops over every tap, in both precisions, on every set; identical
/// bits on every set that fuses multiply-adds; and the shapes that take
/// the transforms.
@Suite struct WinogradTests {
  /// A batch of images, the filters and the images of the batch a call
  /// computes.
  struct Shape: CustomTestStringConvertible, Sendable {
    var batch: Int
    var channels: Int
    var filters: Int
    var height: Int
    var width: Int
    var padding: Int
    var images: Range<Int>

    var geometry: ConvolutionGeometry {
      let output = Extent(height: height + 2 * padding - 2, width: width + 2 * padding - 2)
      return ConvolutionGeometry(
        batch: batch, channels: channels, filters: filters,
        plane: WindowGeometry(
          input: Extent(height: height, width: width), window: Extent(height: 3, width: 3),
          stride: Extent(height: 1, width: 1), padding: Extent(height: padding, width: padding),
          dilation: Extent(height: 1, width: 1), output: output))
    }

    var testDescription: String {
      "\(batch)×\(channels)×\(height)×\(width), \(filters) filters, P\(padding), images \(images)"
    }
  }

  /// The smallest shape that takes the transforms; odd channel and filter
  /// counts; planes whose last tile row and column reach past the output;
  /// padding 0, 1 and 2; rows of tiles that fill 16-lane registers and
  /// planes cut into several blocks of tile rows; batches of one and
  /// several, with images left out on either side.
  static let shapes: [Shape] = [
    Shape(batch: 1, channels: 16, filters: 16, height: 8, width: 8, padding: 1, images: 0..<1),
    Shape(batch: 3, channels: 17, filters: 20, height: 13, width: 10, padding: 1, images: 1..<3),
    Shape(batch: 2, channels: 16, filters: 33, height: 9, width: 11, padding: 0, images: 1..<2),
    Shape(batch: 3, channels: 24, filters: 16, height: 10, width: 19, padding: 2, images: 0..<2),
    Shape(batch: 1, channels: 16, filters: 18, height: 30, width: 40, padding: 1, images: 0..<1),
  ]

  /// Exact results in `Double`, each with the sum of the magnitudes of
  /// its terms (the scale of its rounding error).
  struct Reference {
    var output: [Double]
    var outputMagnitude: [Double]
    var inputGradient: [Double]
    var inputMagnitude: [Double]
    /// `[K, 3, 3, C]`, added onto `filterGradientStart` everywhere.
    var filterGradient: [Double]
    var filterMagnitude: [Double]
  }

  static let filterGradientStart = 0.5

  struct Data {
    var input: [Double]
    var filters: [Double]
    var bias: [Double]
    var upstream: [Double]
  }

  static func data(_ shape: Shape, seed: UInt64) -> Data {
    let g = shape.geometry
    var generator = SeededGenerator(seed: seed)
    func random(_ count: Int) -> [Double] {
      (0..<count).map { _ in generator.nextUnit() * 4 - 2 }
    }
    return Data(
      input: random(g.batch * g.inputImageCount), filters: random(g.filters * g.patchSize),
      bias: random(g.filters), upstream: random(g.batch * g.outputImageCount))
  }

  /// The direct convolution and its gradients over every tap, for the
  /// shape's images (the others stay 0).
  static func reference(_ shape: Shape, _ d: Data) -> Reference {
    let g = shape.geometry
    let plane = g.plane
    let (channels, filters) = (g.channels, g.filters)
    var r = Reference(
      output: .init(repeating: 0, count: g.batch * g.outputImageCount),
      outputMagnitude: .init(repeating: 0, count: g.batch * g.outputImageCount),
      inputGradient: .init(repeating: 0, count: g.batch * g.inputImageCount),
      inputMagnitude: .init(repeating: 0, count: g.batch * g.inputImageCount),
      filterGradient: .init(repeating: filterGradientStart, count: filters * g.patchSize),
      filterMagnitude: .init(repeating: filterGradientStart, count: filters * g.patchSize))
    for n in shape.images {
      for k in 0..<filters {
        for oh in 0..<plane.output.height {
          for ow in 0..<plane.output.width {
            let out = ((n * filters + k) * plane.output.height + oh) * plane.output.width + ow
            r.output[out] = d.bias[k]
            r.outputMagnitude[out] = abs(d.bias[k])
            for c in 0..<channels {
              for i in 0..<3 {
                for j in 0..<3 {
                  let (ih, iw) = (oh - shape.padding + i, ow - shape.padding + j)
                  guard ih >= 0 && ih < shape.height && iw >= 0 && iw < shape.width else {
                    continue
                  }
                  let x = ((n * channels + c) * shape.height + ih) * shape.width + iw
                  let w = ((k * channels + c) * 3 + i) * 3 + j
                  let filterIndex = ((k * 3 + i) * 3 + j) * channels + c
                  r.output[out] += d.filters[w] * d.input[x]
                  r.outputMagnitude[out] += abs(d.filters[w] * d.input[x])
                  r.inputGradient[x] += d.filters[w] * d.upstream[out]
                  r.inputMagnitude[x] += abs(d.filters[w] * d.upstream[out])
                  r.filterGradient[filterIndex] += d.upstream[out] * d.input[x]
                  r.filterMagnitude[filterIndex] += abs(d.upstream[out] * d.input[x])
                }
              }
            }
          }
        }
      }
    }
    return r
  }

  /// The three kernels on `set` in precision `S`: the output (with bias),
  /// the input gradient and the filter gradient (`[K, 3, 3, C]`, added
  /// onto ``filterGradientStart``). Images outside the shape's range hold
  /// `untouched`.
  static func run<S: TensorScalar>(
    _: S.Type, _ shape: Shape, _ d: Data, on set: InstructionSet, untouched: S = 7
  ) -> (output: [S], inputGradient: [S], filterGradient: [S]) {
    let kernels = ComputeSettings.kernels(for: set)
    let g = shape.geometry
    let (input, filters) = (d.input.map { S($0) }, d.filters.map { S($0) })
    let (bias, upstream) = (d.bias.map { S($0) }, d.upstream.map { S($0) })
    var output = [S](repeating: untouched, count: g.batch * g.outputImageCount)
    var inputGradient = [S](repeating: untouched, count: g.batch * g.inputImageCount)
    var filterGradient = [S](
      repeating: S(filterGradientStart), count: g.filters * g.patchSize)
    input.withUnsafeBufferPointer { x in
      filters.withUnsafeBufferPointer { w in
        bias.withUnsafeBufferPointer { b in
          upstream.withUnsafeBufferPointer { u in
            let (x, w, b, u) = (x.baseAddress!, w.baseAddress!, b.baseAddress!, u.baseAddress!)
            output.withUnsafeMutableBufferPointer { y in
              kernels.run(
                KernelCall<S>.convolution(
                  input: x, filters: w, bias: b, output: y.baseAddress!, geometry: g,
                  images: shape.images))
            }
            inputGradient.withUnsafeMutableBufferPointer { dx in
              kernels.run(
                KernelCall<S>.convolutionInputGradient(
                  upstream: u, filters: w, inputGradient: dx.baseAddress!, geometry: g,
                  images: shape.images))
            }
            filterGradient.withUnsafeMutableBufferPointer { dw in
              kernels.run(
                KernelCall<S>.convolutionFilterGradient(
                  upstream: u, input: x, filterGradient: dw.baseAddress!, geometry: g,
                  images: shape.images))
            }
          }
        }
      }
    }
    return (output, inputGradient, filterGradient)
  }

  /// The largest `|result − exact| / magnitude` over the images computed,
  /// and whether every other image was left alone.
  static func worstRelativeError<S: TensorScalar>(
    _ result: [S], _ exact: [Double], _ magnitude: [Double], imageCount: Int, _ shape: Shape,
    untouched: S
  ) -> (error: Double, othersUntouched: Bool) {
    var (error, othersUntouched) = (0.0, true)
    for (index, value) in result.enumerated() {
      if imageCount > 0 && !shape.images.contains(index / imageCount) {
        othersUntouched = othersUntouched && value == untouched
        continue
      }
      error = max(error, abs(Double(value) - exact[index]) / magnitude[index])
    }
    return (error, othersUntouched)
  }

  /// Checks the three kernels in precision `S` on every set against the
  /// reference: each result within `bound` times the sum of the
  /// magnitudes of its terms.
  func check<S: TensorScalar>(_: S.Type, _ shape: Shape, bound: Double) {
    let g = shape.geometry
    #expect(g.usesWinograd, "\(shape) should take the transforms")
    let d = Self.data(shape, seed: 31)
    let exact = Self.reference(shape, d)
    for set in InstructionSet.supported {
      let untouched: S = 7
      let result = Self.run(S.self, shape, d, on: set, untouched: untouched)
      let label = "\(set) \(S.self) \(shape)"
      let output = Self.worstRelativeError(
        result.output, exact.output, exact.outputMagnitude, imageCount: g.outputImageCount, shape,
        untouched: untouched)
      let input = Self.worstRelativeError(
        result.inputGradient, exact.inputGradient, exact.inputMagnitude,
        imageCount: g.inputImageCount, shape, untouched: untouched)
      let filter = Self.worstRelativeError(
        result.filterGradient, exact.filterGradient, exact.filterMagnitude, imageCount: 0, shape,
        untouched: untouched)
      #expect(output.error <= bound, "output \(output.error), \(label)")
      #expect(input.error <= bound, "input gradient \(input.error), \(label)")
      #expect(filter.error <= bound, "filter gradient \(filter.error), \(label)")
      #expect(output.othersUntouched && input.othersUntouched, "images outside, \(label)")
    }
  }

  /// In double precision every result is within 2e-15 of the sum of the
  /// magnitudes of its terms (18 units of 2⁻⁵³; at most 5.5e-16 measured).
  @Test(arguments: shapes)
  func doublePrecisionMatchesDirectLoops(_ shape: Shape) {
    check(Double.self, shape, bound: 2e-15)
  }

  /// In single precision every result is within 1e-6 of the sum of the
  /// magnitudes of its terms (17 units of 2⁻²⁴; at most 2.6e-7 measured).
  @Test(arguments: shapes)
  func singlePrecisionIsWithinItsBound(_ shape: Shape) {
    check(Float.self, shape, bound: 1e-6)
  }

  /// Every set that fuses multiply-adds gives the same bits, in both
  /// precisions: the transforms add lane by lane, whatever the register
  /// width, and the products sum each entry over the channels (or the
  /// tiles) in order.
  @Test(
    .enabled(
      if: InstructionSet.supported.filter(\.fusesMultiplyAdd).count > 1,
      "this CPU has fewer than two instruction sets with fused multiply-add"),
    arguments: shapes)
  func fusedSetsGiveIdenticalBits(_ shape: Shape) {
    let d = Self.data(shape, seed: 32)
    let sets = InstructionSet.supported.filter(\.fusesMultiplyAdd)
    let single = Self.run(Float.self, shape, d, on: sets[0])
    let double = Self.run(Double.self, shape, d, on: sets[0])
    for set in sets.dropFirst() {
      let otherSingle = Self.run(Float.self, shape, d, on: set)
      let otherDouble = Self.run(Double.self, shape, d, on: set)
      #expect(otherSingle.output == single.output, "output, \(set) \(shape)")
      #expect(otherSingle.inputGradient == single.inputGradient, "input gradient, \(set) \(shape)")
      #expect(otherSingle.filterGradient == single.filterGradient, "filter, \(set) \(shape)")
      #expect(otherDouble.output == double.output, "output, \(set) \(shape)")
      #expect(otherDouble.inputGradient == double.inputGradient, "input gradient, \(set) \(shape)")
      #expect(otherDouble.filterGradient == double.filterGradient, "filter, \(set) \(shape)")
    }
  }

  /// Only 3 × 3 windows of stride and dilation 1, padding at most 2, with
  /// 16 channels and filters or more and rows of 8 or more take the
  /// transforms; LeNet-5's 5 × 5 filters and the first layers of small
  /// networks keep the direct convolution.
  @Test func onlyThreeByThreeUnitStrideConvolutionsTakeTheTransforms() {
    func geometry(
      channels: Int = 16, filters: Int = 16, size: Int = 8, window: Int = 3, stride: Int = 1,
      padding: Int = 1, dilation: Int = 1
    ) -> ConvolutionGeometry {
      let reach = dilation * (window - 1) + 1
      let output = (size + 2 * padding - reach) / stride + 1
      return ConvolutionGeometry(
        batch: 2, channels: channels, filters: filters,
        plane: WindowGeometry(
          input: Extent(height: size, width: size), window: Extent(height: window, width: window),
          stride: Extent(height: stride, width: stride),
          padding: Extent(height: padding, width: padding),
          dilation: Extent(height: dilation, width: dilation),
          output: Extent(height: output, width: output)))
    }
    #expect(geometry().usesWinograd)
    #expect(geometry(size: 10, padding: 0).usesWinograd)
    #expect(geometry(padding: 2).usesWinograd)
    #expect(!geometry(window: 5, padding: 2).usesWinograd)
    #expect(!geometry(size: 16, stride: 2).usesWinograd)
    #expect(!geometry(size: 12, dilation: 2).usesWinograd)
    #expect(!geometry(channels: 8).usesWinograd)
    #expect(!geometry(filters: 15).usesWinograd)
    #expect(!geometry(size: 7).usesWinograd)
    #expect(!geometry(padding: 0).usesWinograd)
  }
}
