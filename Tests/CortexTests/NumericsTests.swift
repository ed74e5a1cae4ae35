import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Extreme inputs give finite values and finite gradients, in Float and in
/// Double. Each case runs under anomaly detection, which throws on the
/// first operation whose output or pullback gradient is not finite.
@Suite struct NumericsTests {
  /// The value and gradient of `f` at `x`, checked for finiteness.
  func expectFinite<Scalar: TensorScalar>(
    _ x: Tensor<Scalar>, sourceLocation: SourceLocation = #_sourceLocation,
    _ f: @escaping (Tensor<Scalar>) -> Tensor<Scalar>
  ) throws -> (value: Tensor<Scalar>, gradient: Tensor<Scalar>) {
    let (value, gradient) = try withAnomalyDetection {
      valueWithGradient(at: x) { (f($0) * Tensor(linearRampLike: $0, f)).sum() }
    }
    #expect(value.scalars.allSatisfy { $0.isFinite }, "\(value)", sourceLocation: sourceLocation)
    #expect(
      gradient.scalars.allSatisfy { $0.isFinite }, "\(gradient)", sourceLocation: sourceLocation)
    return (value, gradient)
  }

  static let hugeLogits: [Double] = [1e4, -1e4, 0, 1e4 - 1, -1e4 + 3, 5]

  func logits<Scalar: TensorScalar>(_: Scalar.Type) -> Tensor<Scalar> {
    Tensor(shape: [2, 3], scalars: Self.hugeLogits.map { Scalar($0) })
  }

  @Test func softmaxOfHugeLogits() throws {
    _ = try expectFinite(logits(Double.self)) { softmax($0) }
    let y = softmax(logits(Double.self))
    expectClose(y.sum(alongAxes: 1), Tensor([1, 1]))
    #expect(y.scalars[0] == 1 && y.scalars[1] == 0)
    _ = try expectFinite(logits(Float.self)) { softmax($0) }
  }

  @Test func logSoftmaxOfHugeLogits() throws {
    _ = try expectFinite(logits(Double.self)) { logSoftmax($0) }
    _ = try expectFinite(logits(Float.self)) { logSoftmax($0) }
    let y = logSoftmax(logits(Double.self))
    // The smallest entry is about −2·10⁴: finite, where log(softmax) is −∞.
    expectClose(y.scalars[1], -2e4, tolerance: 1e-9)
  }

  @Test func logSumExpOfHugeLogits() throws {
    _ = try expectFinite(logits(Double.self)) { $0.logSumExp(alongAxes: 1) }
    _ = try expectFinite(logits(Float.self)) { $0.logSumExp(alongAxes: [0, 1]) }
    let y = logits(Double.self).logSumExp(alongAxes: 1)
    expectClose(y, Tensor([1e4, 1e4 - 1]), tolerance: 1e-9)
  }

  @Test func softmaxCrossEntropyOfHugeLogits() throws {
    _ = try expectFinite(logits(Double.self)) { softmaxCrossEntropy(logits: $0, labels: [1, 0]) }
    _ = try expectFinite(logits(Float.self)) { softmaxCrossEntropy(logits: $0, labels: [1, 2]) }
  }

  @Test func saturatedTanhAndSigmoid() throws {
    let x = Tensor<Double>([1e3, -1e3, 750, -750, 0])
    let (_, tanhGradient) = try expectFinite(x) { tanh($0) }
    #expect(tanh(x).scalars[0...1] == [1, -1])
    #expect(tanhGradient.scalars[0...3].allSatisfy { $0 == 0 })
    let (_, sigmoidGradient) = try expectFinite(x) { sigmoid($0) }
    #expect(sigmoid(x).scalars[0...1] == [1, 0])
    #expect(sigmoidGradient.scalars[0...3].allSatisfy { $0 == 0 })
    let xf = Tensor<Float>([1e3, -1e3, 89, -89, 0])
    _ = try expectFinite(xf) { tanh($0) }
    _ = try expectFinite(xf) { sigmoid($0) }
  }

  @Test func batchNormOfAConstantChannel() throws {
    // Zero variance: x̂ = 0 · 1/√ε, and the gradient is finite.
    func check<Scalar: TensorScalar>(_: Scalar.Type) throws {
      let x = Tensor<Scalar>(
        shape: [4, 2, 1, 2], scalars: [Scalar](repeating: 3, count: 16))
      let (_, gradient) = try expectFinite(x) { x in
        var statistics = BatchNormStatistics<Scalar>(channels: 2)
        return batchNorm(
          x, scale: Tensor([2, 0.5]), offset: Tensor([0.25, -1]), statistics: &statistics,
          training: true)
      }
      #expect(gradient.shape == x.shape)
      var statistics = BatchNormStatistics<Scalar>(channels: 2)
      let y = batchNorm(
        x, scale: Tensor([2, 0.5]), offset: Tensor([0.25, -1]), statistics: &statistics,
        training: true)
      let constant = y.scalars.allSatisfy { $0 == 0.25 || $0 == -1 }
      #expect(constant)
      #expect(statistics.variance.scalars.allSatisfy { $0.isFinite })
    }
    try check(Double.self)
    try check(Float.self)
  }

  @Test func crossEntropyAtProbabilityZero() throws {
    let p = Tensor<Double>(shape: [2, 3], scalars: [0, 0.5, 0.5, 1, 0, 0])
    let (_, gradient) = try expectFinite(p) { crossEntropy(probabilities: $0, labels: [0, 1]) }
    #expect(gradient.scalars[0] < 0 && gradient.scalars[4] < 0)
    let loss = crossEntropy(probabilities: p, labels: [0, 1])
    expectClose(loss.scalar, -Foundation.log(1e-12), tolerance: 1e-9)
    let pf = Tensor<Float>(shape: [2, 3], scalars: [0, 0.5, 0.5, 1, 0, 0])
    _ = try expectFinite(pf) { crossEntropy(probabilities: $0, labels: [0, 1], epsilon: 1e-7) }
  }
}

extension Tensor {
  /// Weights 1, 2, 3, ... shaped like `f(x)`, so that the checked scalar
  /// depends on every output element differently.
  init(linearRampLike x: Tensor, _ f: (Tensor) -> Tensor) {
    let shape = withoutRecording { f(x.withoutDerivative).shape }
    let count = shape.reduce(1, *)
    self.init(shape: shape, scalars: (0..<count).map { Scalar($0 + 1) })
  }
}
