import CortexKernels
import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// The vectorized fast paths of the kernels against plain reference loops.
@Suite struct FastPathTests {
  // MARK: tanh

  /// Values covering the polynomial's range, the clamp, the tiny-input
  /// branch and the special values.
  static let tanhInputs: [Float] = {
    var values: [Float] = [
      0, -0, 1e-8, -1e-8, 3.9e-4, -3.9e-4, 4e-4, -4e-4, 0.5, -0.5, 7.9, -7.9, 7.906, -7.906, 9,
      -9, 20, -20, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
    ]
    var random = SeededGenerator(seed: 7)
    for _ in 0..<4000 { values.append(Float(random.nextUnit() * 24 - 12)) }
    for _ in 0..<1000 { values.append(Float(random.nextUnit() * 0.02 - 0.01)) }
    return values
  }()

  @Test func singlePrecisionTanhIsWithin4e7OfTheExactValue() {
    let x = Self.tanhInputs
    // Every length up to 17 exercises the vector blocks and the tail.
    for count in Array(0...17) + [x.count] {
      var y = [Float](repeating: .nan, count: count)
      x.withUnsafeBufferPointer { x in
        y.withUnsafeMutableBufferPointer { y in
          ComputeSettings.kernels.tanh(x.baseAddress!, y.baseAddress!, count: count)
        }
      }
      for i in 0..<count {
        let exact = Foundation.tanh(Double(x[i]))
        #expect(Swift.abs(Double(y[i]) - exact) <= 4e-7, "tanh(\(x[i])) = \(y[i]), exact \(exact)")
        #expect(Swift.abs(y[i]) <= 1)
      }
    }
  }

  @Test func singlePrecisionTanhIsOddAndExactNearZero() {
    let x = Self.tanhInputs
    var y = [Float](repeating: 0, count: x.count)
    var z = [Float](repeating: 0, count: x.count)
    let negated = x.map { -$0 }
    ComputeSettings.kernels.tanh(x, &y, count: x.count)
    ComputeSettings.kernels.tanh(negated, &z, count: x.count)
    for i in x.indices {
      #expect(y[i] == -z[i], "tanh(\(x[i]))")
      if Swift.abs(x[i]) < 4e-4 { #expect(y[i] == x[i]) }
    }
  }

  @Test func singlePrecisionTanhPropagatesNaN() {
    let x: [Float] = [.nan, 1, .nan, -1, 0, .nan, 2, 3, .nan]
    var y = [Float](repeating: 0, count: x.count)
    ComputeSettings.kernels.tanh(x, &y, count: x.count)
    for i in x.indices { #expect(y[i].isNaN == x[i].isNaN, "tanh(\(x[i])) = \(y[i])") }
  }

  @Test func doublePrecisionTanhIsTheCLibrary() {
    let x = random([257], in: -10..<10, seed: 3)
    let y = tanh(x)
    for i in 0..<x.scalarCount {
      #expect(y.scalars[i] == Foundation.tanh(x.scalars[i]))
    }
  }

  // MARK: 2×2 max pooling

  /// Max pooling 2×2 stride 2 and its gradient by the direct loop, in
  /// Double: the first maximum in row-major window order wins.
  static func referenceMaxPool2x2(_ x: [Double], _ upstream: [Double], shape: [Int]) -> (
    output: [Double], gradient: [Double]
  ) {
    let (planes, height, width) = (shape[0] * shape[1], shape[2], shape[3])
    var output: [Double] = []
    var gradient = [Double](repeating: 0, count: x.count)
    for p in 0..<planes {
      for oh in 0..<(height / 2) {
        for ow in 0..<(width / 2) {
          var best = (p * height + 2 * oh) * width + 2 * ow
          for (i, j) in [(0, 1), (1, 0), (1, 1)] {
            let candidate = (p * height + 2 * oh + i) * width + 2 * ow + j
            if x[candidate] > x[best] { best = candidate }
          }
          gradient[best] += upstream[output.count]
          output.append(x[best])
        }
      }
    }
    return (output, gradient)
  }

  func checkMaxPool2x2<Scalar: TensorScalar>(_: Scalar.Type, shape: [Int], seed: UInt64) {
    // Rounded values make ties common, exercising the tie rule.
    let x = Tensor<Double>.randomNormal(shape, seed: seed).map { ($0 * 2).rounded() }
    let outputShape = [shape[0], shape[1], shape[2] / 2, shape[3] / 2]
    let upstream = Tensor<Double>.randomNormal(outputShape, seed: seed + 1).map {
      ($0 * 64).rounded() / 64
    }
    let expected = Self.referenceMaxPool2x2(x.scalars, upstream.scalars, shape: shape)
    let (value, pullback) = valueWithPullback(at: [
      Tensor<Scalar>(shape: shape, scalars: x.scalars.map { Scalar($0) })
    ]) {
      maxPool2d($0[0], size: 2, stride: 2)
    }
    let gradient = pullback(
      Tensor(shape: outputShape, scalars: upstream.scalars.map { Scalar($0) }))[0]
    let forwardError =
      zip(value.scalars, expected.output).map { Swift.abs(Double($0) - $1) }.max() ?? 0
    let backwardError =
      zip(gradient.scalars, expected.gradient).map { Swift.abs(Double($0) - $1) }.max() ?? 0
    #expect(value.shape == outputShape)
    #expect(forwardError <= 1e-10, "\(Scalar.self) forward \(shape)")
    #expect(backwardError <= 1e-10, "\(Scalar.self) backward \(shape)")
  }

  @Test func maxPool2x2MatchesTheDirectLoop() {
    // Widths around the 8-output vector blocks, and planes enough to be
    // split over the cores.
    var seed: UInt64 = 40
    for width in [2, 4, 10, 14, 16, 18, 30, 32, 34, 48] {
      for shape in [[1, 1, 4, width], [2, 3, 6, width], [4, 16, 8, width]] {
        checkMaxPool2x2(Float.self, shape: shape, seed: seed)
        checkMaxPool2x2(Double.self, shape: shape, seed: seed)
        seed += 2
      }
    }
  }

  @Test func maxPool2x2KeepsTheScalarRuleForNaNAndInfinity() {
    // One block of eight outputs: the vector path.
    let upper: [Float] = [.nan, 1, 2, 3, 4, .infinity, -.infinity, 0, 5, 5, 5, 5, -1, .nan, -2, -3]
    let lower: [Float] = [1, .nan, 3, 2, -.infinity, 4, 0, 0, 5, 6, 5, 5, .nan, .nan, -3, -2]
    let values = upper + lower
    var expectedOutput: [Float] = []
    var expectedWinners: [Int] = []
    for ow in 0..<8 {
      var best = 2 * ow
      for candidate in [2 * ow + 1, 16 + 2 * ow, 16 + 2 * ow + 1]
      where values[candidate] > values[best] {
        best = candidate
      }
      expectedOutput.append(values[best])
      expectedWinners.append(best)
    }
    let x = Tensor<Float>(shape: [1, 1, 2, 16], scalars: values)
    let (value, pullback) = valueWithPullback(at: [x]) { maxPool2d($0[0], size: 2, stride: 2) }
    for i in 0..<8 {
      let same =
        value.scalars[i] == expectedOutput[i] || value.scalars[i].isNaN && expectedOutput[i].isNaN
      #expect(same, "output \(i): \(value.scalars[i]), expected \(expectedOutput[i])")
    }
    let upstream = Tensor<Float>(shape: [1, 1, 1, 8], scalars: (1...8).map { Float($0) })
    let gradient = pullback(upstream)[0].scalars
    for (i, winner) in expectedWinners.enumerated() { #expect(gradient[winner] == Float(i + 1)) }
    #expect(gradient.filter { $0 != 0 }.count == 8)
  }

  // MARK: sums and the bias gradient

  @Test func contiguousSumMatchesTheSequentialLoop() {
    let x = random([100], seed: 11).scalars
    for count in 0...x.count {
      var expected = 0.0
      for i in 0..<count { expected += x[i] }
      var sum = 0.0
      x.withUnsafeBufferPointer { x in
        withUnsafeMutablePointer(to: &sum) { sum in
          ComputeSettings.kernels.run(
            .sumAlongAxis(x: x.baseAddress!, outer: 1, axis: count, inner: 1, out: sum))
        }
      }
      #expect(Swift.abs(sum - expected) <= 1e-10, "count \(count)")
    }
  }

  /// The bias gradient alone (input and filters held constant), computed
  /// in the chunks of the batch, against the sum over images and
  /// positions.
  @Test func biasGradientAloneIsTheSumOfTheUpstreamGradient() {
    for (batch, size) in [(1, 3), (3, 5), (8, 12)] {
      let x = random([batch, 4, size, size], seed: 20)
      let w = random([6, 4, 3, 3], seed: 21)
      let b = random([6], seed: 22)
      let upstream = random([batch, 6, size, size], seed: 23)
      let (_, pullback) = valueWithPullback(at: [b]) {
        conv2d(x, filters: w, bias: $0[0], stride: 1, padding: 1)
      }
      let gradient = pullback(upstream)[0].scalars
      let u = upstream.scalars
      let positions = size * size
      for k in 0..<6 {
        var expected = 0.0
        for n in 0..<batch {
          for p in 0..<positions { expected += u[(n * 6 + k) * positions + p] }
        }
        #expect(Swift.abs(gradient[k] - expected) <= 1e-10, "batch \(batch) size \(size) k \(k)")
      }
    }
  }

  // MARK: single-precision convolution

  /// The single-precision specializations of the convolution kernels (the
  /// padded im2col and col2im, the dot-product filter gradient, the pooled
  /// scratch) against the double-precision ones, which the reference tests
  /// check against direct loops.
  @Test func singlePrecisionConvolutionMatchesDoublePrecision() {
    let configurations: [(input: [Int], filters: [Int], padding: Int)] = [
      ([3, 3, 32, 32], [8, 3, 5, 5], 2), ([2, 5, 9, 13], [7, 5, 3, 3], 1),
      ([4, 2, 6, 6], [3, 2, 5, 5], 2), ([1, 16, 8, 8], [20, 16, 5, 5], 2),
    ]
    for (index, c) in configurations.enumerated() {
      let seed = UInt64(60 + 4 * index)
      let x = random(c.input, seed: seed)
      let w = random(c.filters, seed: seed + 1)
      let b = random([c.filters[0]], seed: seed + 2)
      func single(_ t: Tensor<Double>) -> Tensor<Float> {
        Tensor(shape: t.shape, scalars: t.scalars.map { Float($0) })
      }
      let (y, pullback) = valueWithPullback(at: [x, w, b]) {
        conv2d($0[0], filters: $0[1], bias: $0[2], stride: 1, padding: c.padding)
      }
      let upstream = random(y.shape, seed: seed + 3)
      let gradients = pullback(upstream)
      let (ySingle, pullbackSingle) = valueWithPullback(at: [single(x), single(w), single(b)]) {
        conv2d($0[0], filters: $0[1], bias: $0[2], stride: 1, padding: c.padding)
      }
      let gradientsSingle = pullbackSingle(single(upstream))
      for (double, float) in zip([y] + gradients, [ySingle] + gradientsSingle) {
        let scale = double.scalars.map { Swift.abs($0) }.max() ?? 1
        let error = zip(double.scalars, float.scalars).map { Swift.abs($0 - Double($1)) }.max() ?? 0
        #expect(error <= 1e-4 * Swift.max(scale, 1), "configuration \(index): \(error)")
      }
    }
  }
}
