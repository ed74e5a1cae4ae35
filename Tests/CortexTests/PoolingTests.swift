import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Distinct values in random order, 0.1 apart: no two elements of a max
/// pooling window are tied, even after a central-difference step.
func distinctValues(_ shape: [Int], seed: UInt64) -> Tensor<Double> {
  var random = SeededGenerator(seed: seed)
  let count = shape.reduce(1, *)
  let values = (0..<count).map { Double($0 - count / 2) * 0.1 }.shuffled(using: &random)
  return Tensor(shape: shape, scalars: values)
}

/// Pooling: gradient checks, the tie convention, the seeds' arithmetic and
/// validation messages.
@Suite struct PoolingTests {
  struct Case: CustomTestStringConvertible, Sendable {
    var input: [Int]
    var sizes: (Int, Int)
    var strides: (Int, Int)
    var paddings = (0, 0)
    var rounding = ConvolutionRounding.exact

    var testDescription: String {
      "x\(input) F\(sizes) S\(strides) P\(paddings) \(rounding)"
    }
  }

  static let cases: [Case] = [
    Case(input: [2, 3, 4, 4], sizes: (2, 2), strides: (2, 2)),
    Case(input: [2, 2, 5, 5], sizes: (2, 2), strides: (1, 1)),
    Case(input: [2, 2, 7, 5], sizes: (3, 3), strides: (2, 2)),
    Case(input: [1, 2, 5, 5], sizes: (3, 3), strides: (2, 2), paddings: (1, 1)),
    Case(input: [3, 1, 4, 6], sizes: (2, 3), strides: (2, 3)),
    Case(input: [2, 1, 6, 7], sizes: (3, 2), strides: (2, 2), paddings: (1, 1), rounding: .floor),
    Case(input: [1, 2, 3, 3], sizes: (1, 1), strides: (1, 1)),
  ]

  @Test(arguments: cases)
  func maxPoolGradientMatchesCentralDifferences(_ c: Case) {
    let x = distinctValues(c.input, seed: 1)
    let report = checkGradients(at: x) {
      maxPool2d(
        $0, sizes: c.sizes, strides: c.strides, paddings: c.paddings, rounding: c.rounding)
    }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }

  /// Ceil rounding (PyTorch's `ceil_mode`): the last window overhangs the
  /// edge, and only the positions inside the input compete.
  static let ceilCases = [
    Case(input: [2, 2, 5, 5], sizes: (2, 2), strides: (2, 2), rounding: .ceil),
    Case(input: [1, 2, 6, 7], sizes: (3, 3), strides: (2, 2), rounding: .ceil),
    Case(input: [2, 1, 7, 6], sizes: (3, 2), strides: (2, 2), paddings: (1, 1), rounding: .ceil),
  ]

  @Test(arguments: ceilCases)
  func ceilMaxPoolMatchesAReferenceAndItsGradientCentralDifferences(_ c: Case) {
    let x = distinctValues(c.input, seed: 3)
    let y = maxPool2d(
      x, sizes: c.sizes, strides: c.strides, paddings: c.paddings, rounding: .ceil)
    let (height, width) = (c.input[2], c.input[3])
    func outputSize(_ size: Int, _ window: Int, _ stride: Int, _ padding: Int) -> Int {
      var count = (size + 2 * padding - window + stride - 1) / stride + 1
      if (count - 1) * stride >= size + padding { count -= 1 }
      return count
    }
    let oh = outputSize(height, c.sizes.0, c.strides.0, c.paddings.0)
    let ow = outputSize(width, c.sizes.1, c.strides.1, c.paddings.1)
    #expect(y.shape == [c.input[0], c.input[1], oh, ow])
    for n in 0..<c.input[0] {
      for channel in 0..<c.input[1] {
        for i in 0..<oh {
          for j in 0..<ow {
            var best = -Double.infinity
            for r in (i * c.strides.0 - c.paddings.0)..<(i * c.strides.0 - c.paddings.0 + c.sizes.0)
            where (0..<height).contains(r) {
              for q
                in (j * c.strides.1 - c.paddings.1)..<(j * c.strides.1 - c.paddings.1 + c.sizes.1)
              where (0..<width).contains(q) {
                best = Swift.max(best, x[n, channel, r, q])
              }
            }
            #expect(y[n, channel, i, j] == best)
          }
        }
      }
    }
    let report = checkGradients(at: x) {
      maxPool2d($0, sizes: c.sizes, strides: c.strides, paddings: c.paddings, rounding: .ceil)
    }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }

  /// The sizes of ZFNet's poolings, and PyTorch's rule that no window
  /// starts in the right padding.
  @Test func ceilRoundingSizes() throws {
    #expect(
      try pool2dOutputShape(input: [1, 1, 110, 110], size: 3, stride: 2, rounding: .ceil)
        == [1, 1, 55, 55])
    #expect(
      try pool2dOutputShape(input: [1, 1, 26, 26], size: 3, stride: 2, rounding: .ceil)
        == [1, 1, 13, 13])
    #expect(
      try pool2dOutputShape(input: [1, 1, 5, 5], size: 2, stride: 2, padding: 1, rounding: .ceil)
        == [1, 1, 3, 3])
    #expect(throws: HyperparameterError.self) { try AvgPool2D<Float>(size: 2, rounding: .ceil) }
    #expect(throws: ShapeError.self) {
      try conv2dOutputShape(
        input: [1, 1, 5, 5], filters: [1, 1, 2, 2], stride: 2, rounding: .ceil)
    }
  }

  @Test(arguments: cases)
  func avgPoolGradientMatchesCentralDifferences(_ c: Case) {
    let x = Tensor<Double>.randomNormal(c.input, seed: 2)
    // Average pooling is linear, so a central difference has no truncation
    // error; a step larger than the default keeps rounding noise away from
    // gradient elements that are near zero.
    let report = checkGradients(at: x, step: 1e-4) {
      avgPool2d(
        $0, sizes: c.sizes, strides: c.strides, paddings: c.paddings, rounding: c.rounding)
    }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }

  @Test func globalAvgPoolGradientMatchesCentralDifferences() {
    let x = Tensor<Double>.randomNormal([2, 3, 4, 5], seed: 3)
    let report = checkGradients(at: x) { globalAvgPool2d($0) }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }

  @Test func globalAvgPoolAveragesEachPlane() {
    let x = Tensor<Double>(shape: [1, 2, 2, 2], scalars: [1, 2, 3, 4, 10, 20, 30, 40])
    let y = globalAvgPool2d(x)
    #expect(y == Tensor(shape: [1, 2], scalars: [2.5, 25]))
  }

  @Test func avgPoolCountsPaddingAsZeros() {
    let x = Tensor<Double>(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4])
    let y = avgPool2d(x, size: 2, stride: 2, padding: 1)
    // Each 2×2 window holds one input and three padding zeros.
    #expect(y == Tensor(shape: [1, 1, 2, 2], scalars: [0.25, 0.5, 0.75, 1]))
    let dx = gradient(at: x) { avgPool2d($0, size: 2, stride: 2, padding: 1).sum() }
    #expect(dx == Tensor(repeating: 0.25, shape: [1, 1, 2, 2]))
  }

  // MARK: - Ties and padding

  @Test func equalWindowRoutesTheWholeGradientToItsFirstElement() {
    let x = Tensor<Double>.ones([1, 1, 4, 4])
    let dx = gradient(at: x) { maxPool2d($0, size: 2, stride: 2).sum() }
    let expected: [Double] = [
      1, 0, 1, 0,
      0, 0, 0, 0,
      1, 0, 1, 0,
      0, 0, 0, 0,
    ]
    #expect(dx == Tensor(shape: [1, 1, 4, 4], scalars: expected))
  }

  @Test func overlappingEqualWindowsEachRouteToTheirFirstElement() {
    let x = Tensor<Double>(repeating: 7, shape: [1, 1, 3, 3])
    let g = Tensor<Double>(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4])
    let dx = valueWithPullback(at: [x]) { maxPool2d($0[0], size: 2, stride: 1) }.pullback(g)[0]
    #expect(dx == Tensor(shape: [1, 1, 3, 3], scalars: [1, 2, 0, 3, 4, 0, 0, 0, 0]))
  }

  @Test func firstOfTwoEqualMaximaWins() {
    let x = Tensor<Double>(shape: [1, 1, 2, 2], scalars: [1, 3, 3, 2])
    let (y, dx) = valueWithGradient(at: x) { maxPool2d($0, size: 2, stride: 2).sum() }
    #expect(y.scalar == 3)
    #expect(dx == Tensor(shape: [1, 1, 2, 2], scalars: [0, 1, 0, 0]))
  }

  @Test func paddingNeverWins() {
    let x = Tensor<Double>(shape: [1, 1, 2, 2], scalars: [-1, -2, -3, -4])
    let (y, dx) = valueWithGradient(at: x) { maxPool2d($0, size: 2, stride: 2, padding: 1).sum() }
    // Each window holds one input; padding would have given 0.
    #expect(y.scalar == -10)
    #expect(dx == Tensor.ones([1, 1, 2, 2]))
  }

  // MARK: - Arithmetic and validation

  @Test func twoByTwoStrideTwoHalvesWidthAndHeight() throws {
    #expect(
      try pool2dOutputShape(input: [1, 64, 224, 224], size: 2, stride: 2) == [1, 64, 112, 112])
    let x = distinctValues([2, 3, 8, 6], seed: 4)
    #expect(maxPool2d(x, size: 2, stride: 2).shape == [2, 3, 4, 3])
    #expect(avgPool2d(x, size: 2, stride: 2).shape == [2, 3, 4, 3])
  }

  @Test func messagesSayWhatIsWrong() throws {
    #expect(
      throws: ShapeError(
        "(6 − 3 + 2·0)/2 + 1 = 2.5: a 3×3 window with stride 2 does not fit a 6×6 input")
    ) {
      try pool2dOutputShape(input: [1, 1, 6, 6], size: 3, stride: 2)
    }
    #expect(
      try pool2dOutputShape(input: [1, 1, 6, 6], size: 3, stride: 2, rounding: .floor) == [
        1, 1, 2, 2,
      ])
    #expect(throws: ShapeError("padding 2 is more than half of the 3×3 window")) {
      try pool2dOutputShape(input: [1, 1, 6, 6], size: 3, stride: 1, padding: 2)
    }
    #expect(throws: ShapeError("pooling expects an input of shape [N, C, H, W], found [6, 6]")) {
      try pool2dOutputShape(input: [6, 6], size: 2, stride: 2)
    }
    #expect(throws: ShapeError("a 3×3 window is larger than a 2×2 input padded by 0: 3 > 2 + 2·0"))
    {
      try pool2dOutputShape(input: [1, 1, 2, 2], size: 3, stride: 1)
    }
  }
}
