import CortexKernels

/// Optimizer steps: a ``ParameterUpdate`` applied in place to a
/// parameter, its gradient and its state, as one primitive of the
/// parameter's backend.

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
