import CortexKernels

/// The CPU backend's fused softmax cross-entropy.

extension CPUBackend {
  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func softmaxCrossEntropy<S: TensorScalar>(_ logits: Tensor<S>, labels: [Int]) -> (
    loss: S, probabilities: Tensor<S>
  )? {
    let probabilities = Tensor<S>.uninitialized(logits.shape)
    var loss: S = 0
    withUnsafeMutablePointer(to: &loss) { loss in
      ComputeSettings.kernels.run(
        .softmaxCrossEntropy(
          logits: logits.storage.pointer, labels: labels, classes: logits.shape[1],
          probabilities: probabilities.storage.pointer, loss: loss))
    }
    return (loss, probabilities)
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func softmaxCrossEntropyGradient<S: TensorScalar>(
    _ probabilities: Tensor<S>, labels: [Int], scale: S
  ) -> Tensor<S>? {
    let gradient = Tensor<S>.uninitialized(probabilities.shape)
    ComputeSettings.kernels.run(
      .softmaxCrossEntropyGradient(
        probabilities: probabilities.storage.pointer, labels: labels,
        classes: probabilities.shape[1], scale: scale, gradient: gradient.storage.pointer))
    return gradient
  }
}
