/// Optimizer updates: each rule applied in place to a parameter, its
/// gradient and its state, as one primitive of the parameter's backend.

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

extension Parameter {
  /// Applies one step of `update` in place to this parameter and its
  /// `state`, on the parameter's backend.
  ///
  /// - Parameters:
  ///   - update: the rule and its hyperparameters.
  ///   - gradient: the parameter's shape.
  ///   - state: as many tensors as the rule keeps, each the parameter's
  ///     shape; updated in place.
  package func apply(
    _ update: ParameterUpdate<Scalar>, gradient: Tensor<Scalar>, state: inout [Tensor<Scalar>]
  ) {
    precondition(
      gradient.shape == shape,
      "update: gradient of shape \(gradient.shape) for a parameter of shape \(shape)")
    precondition(
      state.count == update.stateCount && state.allSatisfy { $0.shape == shape },
      "update: the rule keeps \(update.stateCount) state tensors of shape \(shape), found shapes \(state.map(\.shape))"
    )
    if ActiveTape.current is Tape<Scalar> {
      preconditionFailure(
        "update: an optimizer step on a parameter of shape \(shape) ran while a gradient is being recorded, so the new value would leave the tape; step outside the gradient computation, or compute the updated weights as tensors and run the model on them with model(x, parameters: weights)"
      )
    }
    commonBackend("update", [stored, gradient] + state)
      .apply(update, to: &stored, gradient: gradient, state: &state)
  }
}
