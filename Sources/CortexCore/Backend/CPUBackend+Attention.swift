import CortexKernels

/// The CPU backend's fused attention, forward and backward.

extension CPUBackend {
  func attention<S: TensorScalar>(
    query: Tensor<S>, key: Tensor<S>, value: Tensor<S>, scale: S, causal: Bool
  ) -> (output: Tensor<S>, weights: Tensor<S>)? {
    let shape = attentionShape(query, key, value)
    let output = Tensor<S>.uninitialized([shape.groups, shape.queries, shape.valueDepth])
    let weights = Tensor<S>.uninitialized([shape.groups, shape.queries, shape.keys])
    ComputeSettings.kernels.run(
      .attention(
        query: query.storage.pointer, key: key.storage.pointer, value: value.storage.pointer,
        output: output.storage.pointer, weights: weights.storage.pointer, shape: shape,
        scale: scale, causal: causal))
    return (output, weights)
  }

  func attentionGradients<S: TensorScalar>(
    _ upstream: Tensor<S>, query: Tensor<S>, key: Tensor<S>, value: Tensor<S>,
    weights: Tensor<S>, scale: S, causal: Bool
  ) -> [Tensor<S>]? {
    let gradients = [query.shape, key.shape, value.shape].map { Tensor<S>.uninitialized($0) }
    ComputeSettings.kernels.run(
      .attentionGradients(
        upstream: upstream.storage.pointer, query: query.storage.pointer,
        key: key.storage.pointer, value: value.storage.pointer, weights: weights.storage.pointer,
        queryGradient: gradients[0].storage.pointer, keyGradient: gradients[1].storage.pointer,
        valueGradient: gradients[2].storage.pointer,
        shape: attentionShape(query, key, value), scale: scale, causal: causal))
    return gradients
  }

  private func attentionShape<S>(_ query: Tensor<S>, _ key: Tensor<S>, _ value: Tensor<S>)
    -> AttentionShape
  {
    AttentionShape(
      groups: query.shape[0], queries: query.shape[1], keys: key.shape[1], depth: query.shape[2],
      valueDepth: value.shape[2])
  }
}
