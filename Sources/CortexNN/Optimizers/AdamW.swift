import CortexCore
import Foundation

/// AdamW (Loshchilov & Hutter): Adam with the weight decay decoupled from
/// the gradient, as PyTorch's `torch.optim.AdamW`:
/// `p ← p − η·λ·p`, then `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
/// `p ← p − η · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)`, `t` counting the
/// parameter's own updates.
///
/// Unlike ``Adam``'s `weightDecay` (an L2 term added to the gradient, which
/// the second moment then rescales), the decay here shrinks every weight
/// by the same fraction `η·λ` per step.
public final class AdamW<Scalar: TensorScalar>: Optimizer {
  public var learningRate: Double
  public let beta1: Double
  public let beta2: Double
  public let epsilon: Double
  public let weightDecay: Double
  public var state: [[Tensor<Scalar>]] = []
  public var updateCounts: [Int] = []
  public var stepCount = 0
  public let stateNames = ["m", "v"]

  /// The defaults are PyTorch's (`weightDecay` 0.01).
  public init(
    learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
    weightDecay: Double = 1e-2
  ) {
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.weightDecay = weightDecay
  }

  public func update(_ parameters: [Parameter<Scalar>], gradients: [Tensor<Scalar>]) {
    adamStep(
      parameters, gradients, beta1: beta1, beta2: beta2, epsilon: epsilon, gradientDecay: 0,
      decoupledDecay: weightDecay)
  }
}
