import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Convolution: gradient checks, the seeds' arithmetic, and validation
/// messages.
@Suite struct ConvolutionTests {
  /// A convolution configuration for gradient checks.
  struct Case: CustomTestStringConvertible, Sendable {
    var input: [Int]
    var filters: [Int]
    var strides = (1, 1)
    var paddings = (0, 0)
    var dilations = (1, 1)
    var bias = true
    var rounding = ConvolutionRounding.exact

    var testDescription: String {
      "x\(input) w\(filters) S\(strides) P\(paddings) D\(dilations) bias \(bias) \(rounding)"
    }
  }

  static let gradientCases: [Case] = [
    Case(input: [2, 3, 5, 5], filters: [4, 3, 3, 3], paddings: (1, 1)),
    Case(input: [2, 2, 7, 6], filters: [3, 2, 3, 2], strides: (2, 2), bias: false),
    Case(input: [3, 1, 5, 7], filters: [1, 1, 2, 3], strides: (1, 2), paddings: (1, 0)),
    Case(input: [2, 3, 4, 5], filters: [2, 3, 1, 1]),
    Case(input: [2, 2, 5, 5], filters: [2, 2, 1, 1], strides: (2, 2), paddings: (1, 1)),
    Case(input: [1, 2, 7, 7], filters: [2, 2, 3, 3], dilations: (2, 2)),
    Case(
      input: [2, 1, 7, 6], filters: [2, 1, 2, 2], strides: (2, 3), paddings: (1, 1),
      dilations: (2, 1), bias: false),
    Case(input: [2, 2, 6, 6], filters: [3, 2, 3, 3], strides: (2, 2), rounding: .floor),
    // Winograd's transforms: 16 channels and filters, 3 × 3, stride 1.
    Case(input: [1, 16, 8, 9], filters: [16, 16, 3, 3], paddings: (1, 1)),
  ]

  @Test(arguments: gradientCases)
  func gradientsMatchCentralDifferences(_ c: Case) {
    let x = Tensor<Double>.randomNormal(c.input, seed: 1)
    let w = Tensor<Double>.randomNormal(c.filters, seed: 2)
    let b = Tensor<Double>.randomNormal([c.filters[0]], seed: 3)
    // The convolution is linear in every scalar it reads, so a central
    // difference has no truncation error; a step larger than the default
    // keeps rounding noise away from gradient elements that are near zero.
    let report = checkGradients(at: c.bias ? [x, w, b] : [x, w], step: 1e-4) { t in
      conv2d(
        t[0], filters: t[1], bias: c.bias ? t[2] : nil, strides: c.strides,
        paddings: c.paddings, dilations: c.dilations, rounding: c.rounding)
    }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }

  @Test func squareOverloadMatchesPairs() {
    let x = Tensor<Double>.randomNormal([2, 2, 7, 7], seed: 4)
    let w = Tensor<Double>.randomNormal([3, 2, 3, 3], seed: 5)
    let b = Tensor<Double>.randomNormal([3], seed: 6)
    let square = conv2d(x, filters: w, bias: b, stride: 2, padding: 1, dilation: 2)
    let pairs = conv2d(x, filters: w, bias: b, strides: (2, 2), paddings: (1, 1), dilations: (2, 2))
    #expect(square == pairs)
    #expect(square.shape == [2, 3, 3, 3])
  }

  /// The pullback computes exactly the gradients asked for: a first layer
  /// (whose input needs none) does not pay for its input's gradient.
  @Test func eachGradientIsComputedOnlyWhenNeeded() {
    let x = Tensor<Double>.randomNormal([2, 2, 5, 5], seed: 7)
    let w = Tensor<Double>.randomNormal([3, 2, 3, 3], seed: 8)
    let b = Tensor<Double>.randomNormal([3], seed: 9)
    let tape = Tape<Double>()
    let watched = [x, w, b].map { tape.watch($0) }
    let y = ActiveTape.$current.withValue(tape) {
      conv2d(watched[0], filters: watched[1], bias: watched[2], stride: 2, padding: 1)
    }
    let pullback = tape.entries[tape.count - 1].pullback!
    let upstream = Tensor<Double>.randomNormal(y.shape, seed: 10)
    let all = pullback(upstream, [true, true, true])
    for mask in 0..<8 {
      let needs = (0..<3).map { mask & (1 << $0) != 0 }
      let gradients = pullback(upstream, needs)
      for i in 0..<3 {
        #expect(gradients[i] == (needs[i] ? all[i] : nil), "input \(i), needs \(needs)")
      }
    }
  }

  @Test func floatMatchesDouble() {
    let x = Tensor<Double>.randomNormal([2, 3, 9, 7], seed: 9)
    let w = Tensor<Double>.randomNormal([4, 3, 3, 2], seed: 10)
    let b = Tensor<Double>.randomNormal([4], seed: 11)
    let double = conv2d(x, filters: w, bias: b, strides: (2, 1), paddings: (1, 1))
    let float = conv2d(
      x.converted(to: Float.self), filters: w.converted(to: Float.self),
      bias: b.converted(to: Float.self), strides: (2, 1), paddings: (1, 1))
    #expect(float.converted(to: Double.self).isAlmostEqual(to: double, absoluteTolerance: 1e-4))
  }

  // MARK: - The seeds' arithmetic

  @Test func tenFiveByFiveFiltersKeep32By32() throws {
    let x = Tensor<Double>.randomNormal([1, 3, 32, 32], seed: 12)
    let w = Tensor<Double>.randomNormal([10, 3, 5, 5], seed: 13)
    let b = Tensor<Double>.zeros([10])
    let y = conv2d(x, filters: w, bias: b, stride: 1, padding: 2)
    #expect(y.shape == [1, 10, 32, 32])
    #expect(w.scalarCount + b.scalarCount == 760)
    #expect(
      try conv2dOutputShape(input: [1, 3, 32, 32], filters: [10, 3, 5, 5], padding: 2) == [
        1, 10, 32, 32,
      ])
  }

  @Test func sevenBySevenWithThreeByThree() throws {
    #expect(try convolutionOutputSize(input: 7, filter: 3, stride: 1, padding: 0) == 5)
    #expect(try convolutionOutputSize(input: 7, filter: 3, stride: 2, padding: 0) == 3)
    #expect(
      throws: ShapeError(
        "(7 − 3 + 2·0)/3 + 1 = 2.33: a 3×3 filter with stride 3 does not fit a 7×7 input")
    ) {
      try convolutionOutputSize(input: 7, filter: 3, stride: 3, padding: 0)
    }
    #expect(
      throws: ShapeError(
        "(7 − 3 + 2·0)/3 + 1 = 2.33: a 3×3 filter with stride 3 does not fit a 7×7 input")
    ) {
      try conv2dOutputShape(input: [1, 1, 7, 7], filters: [1, 1, 3, 3], stride: 3)
    }
    let x = Tensor<Double>.randomNormal([1, 1, 7, 7], seed: 14)
    let w = Tensor<Double>.randomNormal([1, 1, 3, 3], seed: 15)
    #expect(conv2d(x, filters: w, stride: 1).shape == [1, 1, 5, 5])
    #expect(conv2d(x, filters: w, stride: 2).shape == [1, 1, 3, 3])
    #expect(conv2d(x, filters: w, padding: 1).shape == [1, 1, 7, 7])
  }

  @Test func zeroPaddingOfHalfTheFilterPreservesSize() throws {
    for f in [3, 5, 7] {
      #expect(try convolutionOutputSize(input: 7, filter: f, stride: 1, padding: (f - 1) / 2) == 7)
    }
    // The 19×19×48 Go board stays 19×19.
    #expect(
      try conv2dOutputShape(input: [1, 48, 19, 19], filters: [192, 48, 5, 5], padding: 2)
        == [1, 192, 19, 19])
  }

  @Test func oneByOneConvolutionReducesDepth() throws {
    #expect(
      try conv2dOutputShape(input: [1, 64, 56, 56], filters: [32, 64, 1, 1]) == [1, 32, 56, 56])
    let x = Tensor<Double>.randomNormal([2, 8, 6, 6], seed: 16)
    let w = Tensor<Double>.randomNormal([4, 8, 1, 1], seed: 17)
    #expect(conv2d(x, filters: w).shape == [2, 4, 6, 6])
  }

  @Test func alexNetFirstLayer() throws {
    let conv1 = try conv2dOutputShape(
      input: [1, 3, 227, 227], filters: [96, 3, 11, 11], stride: 4)
    #expect(conv1 == [1, 96, 55, 55])
    #expect(96 * 3 * 11 * 11 == 34_848)
    #expect(try pool2dOutputShape(input: conv1, size: 3, stride: 2) == [1, 96, 27, 27])
  }

  @Test func leNetShrinks32To28To14() {
    let x = Tensor<Double>.randomNormal([1, 1, 32, 32], seed: 18)
    let w = Tensor<Double>.randomNormal([6, 1, 5, 5], seed: 19)
    let c1 = conv2d(x, filters: w)
    #expect(c1.shape == [1, 6, 28, 28])
    #expect(maxPool2d(c1, size: 2, stride: 2).shape == [1, 6, 14, 14])
  }

  // MARK: - Validation

  @Test func floorRoundingIsOptIn() throws {
    #expect(
      try convolutionOutputSize(input: 7, filter: 3, stride: 3, padding: 0, rounding: .floor) == 2)
    // ResNet's stem: 224 with a 7×7 filter, stride 2, padding 3.
    #expect(throws: ShapeError.self) {
      try conv2dOutputShape(
        input: [1, 3, 224, 224], filters: [64, 3, 7, 7], stride: 2, padding: 3)
    }
    #expect(
      try conv2dOutputShape(
        input: [1, 3, 224, 224], filters: [64, 3, 7, 7], stride: 2, padding: 3, rounding: .floor)
        == [1, 64, 112, 112])
  }

  @Test func messagesSayWhatIsWrong() {
    #expect(throws: ShapeError("filter depth 3 does not match input depth 6")) {
      try conv2dOutputShape(input: [1, 6, 7, 7], filters: [4, 3, 3, 3])
    }
    #expect(
      throws: ShapeError(
        "(9 − 5 + 2·0)/3 + 1 = 2.33: a 3×5 filter with strides (1, 3) does not fit the width of a 7×9 input"
      )
    ) {
      try conv2dOutputShape(input: [1, 1, 7, 9], filters: [1, 1, 3, 5], strides: (1, 3))
    }
    #expect(
      throws: ShapeError(
        "(7 − 5 + 2·0)/3 + 1 = 1.67: a 3×3 filter with dilation 2 (extent 5) and stride 3 does not fit a 7×7 input"
      )
    ) {
      try convolutionOutputSize(input: 7, filter: 3, stride: 3, padding: 0, dilation: 2)
    }
    #expect(throws: ShapeError("a 9×9 filter is larger than a 7×7 input padded by 0: 9 > 7 + 2·0"))
    {
      try convolutionOutputSize(input: 7, filter: 9, stride: 1, padding: 0)
    }
    #expect(throws: ShapeError("stride must be positive, found 0")) {
      try convolutionOutputSize(input: 7, filter: 3, stride: 0, padding: 0)
    }
    #expect(throws: ShapeError("padding must not be negative, found -1")) {
      try convolutionOutputSize(input: 7, filter: 3, stride: 1, padding: -1)
    }
    #expect(throws: ShapeError("input size must be positive, found 0")) {
      try convolutionOutputSize(input: 0, filter: 3, stride: 1, padding: 1)
    }
    #expect(throws: ShapeError("filter size must be positive, found 0")) {
      try convolutionOutputSize(input: 7, filter: 0, stride: 1, padding: 0)
    }
    #expect(throws: ShapeError("dilation must be positive, found 0")) {
      try convolutionOutputSize(input: 7, filter: 3, stride: 1, padding: 0, dilation: 0)
    }
    #expect(throws: ShapeError("bias of shape [5] does not match 4 filters: expected [4]")) {
      try conv2dOutputShape(input: [1, 3, 7, 7], filters: [4, 3, 3, 3], bias: [5])
    }
    #expect(throws: ShapeError("conv2d expects an input of shape [N, C, H, W], found [3, 7, 7]")) {
      try conv2dOutputShape(input: [3, 7, 7], filters: [4, 3, 3, 3])
    }
  }

  @Test func convolutionTrapsWithTheValidationMessage() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      let x = Tensor<Double>.zeros([1, 1, 7, 7])
      let w = Tensor<Double>.zeros([1, 1, 3, 3])
      _ = conv2d(x, filters: w, stride: 3)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains(
        "conv2d: (7 − 3 + 2·0)/3 + 1 = 2.33: a 3×3 filter with stride 3 does not fit a 7×7 input (input [1, 1, 7, 7], filters [1, 1, 3, 3])"
      ))
  }

  /// The batch is split into the same chunks on any number of threads, so
  /// the gradients agree to the last bit.
  @Test func gradientsDoNotDependOnTheThreadCount() {
    let x = Tensor<Float>.randomNormal([16, 3, 9, 9], seed: 1)
    let w = Tensor<Float>.randomNormal([4, 3, 3, 3], seed: 2)
    let b = Tensor<Float>.randomNormal([4], seed: 3)
    func gradients() -> [Tensor<Float>] {
      let (_, g) = valueWithGradient(at: [x, w, b]) {
        square(conv2d($0[0], filters: $0[1], bias: $0[2], padding: 1)).sum()
      }
      return g
    }
    let one = withThreadCount(1) { gradients() }
    let two = withThreadCount(2) { gradients() }
    #expect(one == two)
  }
}
