import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// The central difference of `f` at `x` along `direction`, elementwise:
/// `(f(x + h·d) − f(x − h·d)) / 2h`.
func centralDifference(
  at x: Tensor<Double>, along direction: Tensor<Double>, step: Double = 1e-5,
  of f: (Tensor<Double>) -> Tensor<Double>
) -> Tensor<Double> {
  withoutRecording { (f(x + step * direction) - f(x - step * direction)) / (2 * step) }
}

@Suite struct HigherOrderTests {
  let x = Tensor<Double>([0.5, -1, 2, 0])

  @Test func gradientOfTheSquaredGradientOfACube() {
    // ∇(x³) = 3x², so Σ(3x²)² = 9Σx⁴ and its gradient is 36x³.
    let result = gradient(at: x) { x in
      let g = gradient(at: x) { ($0 * $0 * $0).sum() }
      return (g * g).sum()
    }
    #expect(result.isAlmostEqual(to: 36 * x * x * x, absoluteTolerance: 1e-12))
  }

  @Test func innerGradientAtAnIntermediateValue() {
    // y = 2x, ∇_y Σy² = 2y = 4x, so the function is Σ4x + Σ2x and its
    // gradient is 6 everywhere.
    let result = gradient(at: x) { x in
      let y = x * 2
      return gradient(at: y) { ($0 * $0).sum() }.sum() + y.sum()
    }
    #expect(result.scalars == [6, 6, 6, 6])
  }

  @Test func thirdDerivativeOfAFourthPower() {
    // d³/dx³ x⁴ = 24x.
    let third = gradient(at: x) { x in
      gradient(at: x) { x in gradient(at: x) { pow($0, 4).sum() }.sum() }.sum()
    }
    #expect(third.isAlmostEqual(to: 24 * x, absoluteTolerance: 1e-9))
  }

  @Test func innerValueIsDifferentiableToo() {
    // The inner value Σx² is recorded on the outer tape: d/dx (Σx² + Σ2x) = 2x + 2.
    let result = gradient(at: x) { x in
      let (value, g) = valueWithGradient(at: x) { ($0 * $0).sum() }
      return value + g.sum()
    }
    #expect(result.scalars == x.scalars.map { 2 * $0 + 2 })
  }

  /// A small MLP loss of a flat parameter vector: 2 inputs, 3 tanh units, 2 classes.
  static func mlpLoss(_ theta: Tensor<Double>) -> Tensor<Double> {
    let w1 = theta.sliced(alongAxis: 0, range: 0..<6).reshaped(to: [3, 2])
    let b1 = theta.sliced(alongAxis: 0, range: 6..<9)
    let w2 = theta.sliced(alongAxis: 0, range: 9..<15).reshaped(to: [2, 3])
    let input = Tensor<Double>(
      shape: [4, 2], scalars: [0.3, -0.2, 1.1, 0.4, -0.7, 0.9, 0.05, -1.2])
    let hidden = tanh(linear(input, weight: w1, bias: b1))
    return softmaxCrossEntropy(logits: linear(hidden, weight: w2), labels: [0, 1, 1, 0])
  }

  static let theta = Tensor<Double>.randomUniform([15], lower: -1, upper: 1, seed: 3)

  @Test func hessianVectorProductMatchesDifferencesOfTheGradient() {
    let v = Tensor<Double>.randomUniform([15], lower: -1, upper: 1, seed: 4)
    let hv = hessianVectorProduct(at: Self.theta, direction: v, of: Self.mlpLoss)
    let numeric = centralDifference(at: Self.theta, along: v) { gradient(at: $0, of: Self.mlpLoss) }
    #expect(hv.isAlmostEqual(to: numeric, absoluteTolerance: 1e-8, relativeTolerance: 1e-6))
  }

  @Test func jvpMatchesADirectionalDifference() {
    let u = Tensor<Double>.randomUniform([15], lower: -1, upper: 1, seed: 5)
    let f = { (theta: Tensor<Double>) in
      softmax(tanh(theta.reshaped(to: [3, 5])) * 2, alongAxis: 1)
    }
    let (value, differential) = jvp(at: Self.theta, tangent: u, of: f)
    #expect(value == f(Self.theta))
    let numeric = centralDifference(at: Self.theta, along: u, of: f)
    #expect(
      differential.isAlmostEqual(to: numeric, absoluteTolerance: 1e-9, relativeTolerance: 1e-6))
  }

  @Test func jacobianOfAnElementwiseProductAndOfAMatrixProduct() {
    let square = jacobian(at: x) { $0 * $0 }
    #expect(square.shape == [4, 4])
    for i in 0..<4 {
      for j in 0..<4 { #expect(square[i, j] == (i == j ? 2 * x[i] : 0)) }
    }
    let a = Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    let product = jacobian(at: Tensor<Double>([0.5, -1, 2])) { matmul(a, $0) }
    #expect(product.shape == [2, 3])
    #expect(product == a)
  }

  @Test func hessianOfAnMLPIsSymmetricAndMatchesDifferences() {
    let hessian = jacobian(at: Self.theta) { gradient(at: $0, of: Self.mlpLoss) }
    #expect(hessian.shape == [15, 15])
    for j in 0..<15 {
      var e = Tensor<Double>.zeros([15])
      e[j] = 1
      let column = centralDifference(at: Self.theta, along: e) {
        gradient(at: $0, of: Self.mlpLoss)
      }
      for i in 0..<15 {
        #expect(Swift.abs(hessian[i, j] - column[i]) <= 1e-7)
        #expect(Swift.abs(hessian[i, j] - hessian[j, i]) <= 1e-12)
      }
    }
  }

  @Test func aKeptTapeAnswersEveryCall() {
    let (value, pullback) = valueWithPullback(at: x, keepingTape: true) { exp($0) * $0 }
    let first = pullback(Tensor.ones(value.shape))
    let second = pullback(Tensor.ones(value.shape))
    #expect(first == second)
    #expect(first.isAlmostEqual(to: exp(x) * (x + 1)))
  }

  @Test func gradientPenaltyOnParameters() {
    // f(w) = Σ(w·x)², penalty ‖∇ₓf‖² = Σ(2(w·x)w)², checked against
    // differences in w.
    let weight = Parameter(Tensor<Double>([0.3, -0.8, 0.5, 1.2]))
    let input = Tensor<Double>([1, 2, -1, 0.5])
    func penalty() -> Tensor<Double> {
      let gx = gradient(at: input) { x in square((weight.value * x).sum()) }
      return (gx * gx).sum()
    }
    let (value, gradients) = valueWithGradient(for: [weight], of: penalty)
    #expect(value.scalar > 0)
    let saved = weight.value
    for i in 0..<4 {
      var e = Tensor<Double>.zeros([4])
      e[i] = 1
      weight.value = saved + 1e-6 * e
      let plus = withoutRecording { penalty() }.scalar
      weight.value = saved - 1e-6 * e
      let minus = withoutRecording { penalty() }.scalar
      weight.value = saved
      #expect(Swift.abs(gradients[0][i] - (plus - minus) / 2e-6) <= 1e-6)
    }
  }

  /// 3x as a custom operation whose pullback declares it is not
  /// differentiable.
  static func tripled(_ x: Tensor<Double>) -> Tensor<Double> {
    record("tripled", inputs: [x], output: x.withoutDerivative * 3, pullbackIsDifferentiable: false)
    {
      upstream, _ in [upstream.withoutDerivative * 3]
    }
  }

  @Test func anUndifferentiablePullbackWorksToFirstOrder() {
    #expect(gradient(at: x) { Self.tripled($0 * $0).sum() } == 6 * x)
    // Nested, but the outer gradient does not flow through the inner one.
    let outer = gradient(at: x) { x in
      _ = gradient(at: x) { Self.tripled($0).sum() }
      return (x * x).sum()
    }
    #expect(outer == 2 * x)
  }

  @Test func differentiatingThroughAnUndifferentiablePullbackTrapsWithItsName() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      let x = Tensor<Double>([1, 2])
      _ = gradient(at: x) { x in gradient(at: x) { HigherOrderTests.tripled($0 * $0).sum() }.sum() }
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("the pullback of 'tripled' is not differentiable"))
  }
}

@Suite struct SecondOrderCheckTests {
  /// softplus whose pullback uses a detached σ(x): right to first order,
  /// silently wrong to second.
  static func detachedSoftplus(_ x: Tensor<Double>) -> Tensor<Double> {
    let value = x.withoutDerivative
    return record("softplus", inputs: [x], output: log(1 + exp(value))) { upstream, _ in
      [upstream * sigmoid(value)]
    }
  }

  /// The same, with its pullback on the recorded input: right to both orders.
  static func softplus(_ x: Tensor<Double>) -> Tensor<Double> {
    record("softplus", inputs: [x], output: log(1 + exp(x.withoutDerivative))) { upstream, _ in
      [upstream * sigmoid(x)]
    }
  }

  let point = Tensor<Double>.randomUniform([2, 3], lower: -2, upper: 2, seed: 8)

  @Test func aDetachedPullbackPassesOrderOneAndFailsOrderTwo() {
    #expect(checkGradients(at: point, of: Self.detachedSoftplus).passed)
    let second = checkGradients(at: point, order: 2, of: Self.detachedSoftplus)
    #expect(!second.passed)
    // The analytic second derivative is 0 where the numeric one is σ′(x).
    #expect(second.maxRelativeError > 0.5)
  }

  @Test func aRecordedPullbackPassesBothOrders() {
    #expect(checkGradients(at: point, of: Self.softplus).passed)
    for mode in [GradientCheckMode.full, .fast] {
      let second = checkGradients(at: point, mode: mode, order: 2, of: Self.softplus)
      #expect(second.passed)
      #expect(second.maxRelativeError < 1e-8)
    }
  }
}
