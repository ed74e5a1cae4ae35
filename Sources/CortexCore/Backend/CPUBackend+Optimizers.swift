import CortexKernels

/// The CPU backend's optimizer updates, in place on the parameter and its
/// state.

extension CPUBackend {
  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func apply<S: TensorScalar>(
    _ update: ParameterUpdate<S>, to parameter: inout Tensor<S>, gradient: Tensor<S>,
    state: inout [Tensor<S>]
  ) {
    parameter.makeUnique()
    for k in state.indices { state[k].makeUnique() }
    ComputeSettings.kernels.run(
      .update(
        update, parameter: parameter.storage.pointer, gradient: gradient.storage.pointer,
        state: state.map { $0.storage.pointer }, count: parameter.scalarCount))
  }
}
