/// The optimizer updates a backend applies in place.

/// The update rule of one optimizer step, with its hyperparameters already
/// in the parameter's precision. Each case says which state tensors it
/// keeps, in order; every state tensor has the parameter's shape.
package enum ParameterUpdate<Scalar: TensorScalar>: Sendable {
  /// Stochastic gradient descent: `s ← g + λp`; with a momentum μ,
  /// `v ← μv + s`, then `s ← s + μv` (Nesterov) or `s ← v`; finally
  /// `p ← p − η·s`. State: `[velocity]` (untouched without momentum).
  case sgd(learningRate: Scalar, momentum: Scalar?, nesterov: Bool, weightDecay: Scalar)
  /// Adam with bias correction: `g ← g + λp`, `p ← shrink·p`,
  /// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
  /// `p ← p − stepSize·m / (√v / rootCorrection + ε)`, where `stepSize` is
  /// `η / (1−β₁ᵗ)` and `rootCorrection` is `√(1−β₂ᵗ)`. State: `[m, v]`.
  case adam(
    beta1: Scalar, beta2: Scalar, epsilon: Scalar, gradientDecay: Scalar, shrink: Scalar,
    stepSize: Scalar, rootCorrection: Scalar)
  /// RMSProp: `v ← αv + (1−α)g²`, `p ← p − η·g / (√v + ε)`. State: `[v]`.
  case rmsProp(learningRate: Scalar, alpha: Scalar, epsilon: Scalar)
  /// Adadelta: `v ← ρv + (1−ρ)g²`, `Δ ← √(u+ε) / √(v+ε) · g`,
  /// `u ← ρu + (1−ρ)Δ²`, `p ← p − η·Δ`. State: `[v, u]`.
  case adadelta(learningRate: Scalar, rho: Scalar, epsilon: Scalar)

  /// The number of state tensors the rule keeps.
  var stateCount: Int {
    switch self {
    case .sgd, .rmsProp: return 1
    case .adam, .adadelta: return 2
    }
  }
}
