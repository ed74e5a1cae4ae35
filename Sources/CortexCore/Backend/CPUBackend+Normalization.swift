import CortexKernels

/// The CPU backend's softmax along the last axis, layer normalization and
/// batch normalization, each a pass or two over rows or channels.

extension CPUBackend {
  // MARK: Softmax along the last axis

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func softmaxLastAxis<S: TensorScalar>(_ x: Tensor<S>, logarithm: Bool) -> Tensor<S> {
    let output = Tensor<S>.uninitialized(x.shape)
    let length = x.shape.last ?? 1
    ComputeSettings.kernels.run(
      .softmaxRows(
        x: x.storage.pointer, out: output.storage.pointer,
        rows: length == 0 ? 0 : x.scalarCount / length, length: length, logarithm: logarithm))
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func softmaxLastAxisGradient<S: TensorScalar>(
    _ y: Tensor<S>, upstream: Tensor<S>, logarithm: Bool
  ) -> Tensor<S> {
    let output = Tensor<S>.uninitialized(y.shape)
    let length = y.shape.last ?? 1
    ComputeSettings.kernels.run(
      .softmaxRowsGradient(
        y: y.storage.pointer, upstream: upstream.storage.pointer, out: output.storage.pointer,
        rows: length == 0 ? 0 : y.scalarCount / length, length: length, logarithm: logarithm))
    return output
  }

  // MARK: Layer normalization

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func layerNormRows<S: TensorScalar>(
    _ x: Tensor<S>, weight: Tensor<S>, bias: Tensor<S>, epsilon: S
  ) -> (output: Tensor<S>, normalized: Tensor<S>, inverseDeviation: Tensor<S>) {
    let length = weight.scalarCount
    let output = Tensor<S>.uninitialized(x.shape)
    let normalized = Tensor<S>.uninitialized(x.shape)
    let inverseDeviation = Tensor<S>.uninitialized(Array(x.shape.dropLast(weight.rank)))
    ComputeSettings.kernels.run(
      .layerNormRows(
        x: x.storage.pointer, weight: weight.storage.pointer, bias: bias.storage.pointer,
        out: output.storage.pointer, normalized: normalized.storage.pointer,
        inverseDeviation: inverseDeviation.storage.pointer, rows: x.scalarCount / length,
        length: length, epsilon: epsilon))
    return (output, normalized, inverseDeviation)
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func layerNormRowsGradient<S: TensorScalar>(
    _ upstream: Tensor<S>, normalized: Tensor<S>, inverseDeviation: Tensor<S>, weight: Tensor<S>
  ) -> Tensor<S> {
    let output = Tensor<S>.uninitialized(upstream.shape)
    runLayerNormGradient(
      upstream, normalized, inverseDeviation, weight, into: output, weightGradient: nil,
      biasGradient: nil)
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func layerNormGradients<S: TensorScalar>(
    _ upstream: Tensor<S>, normalized: Tensor<S>, inverseDeviation: Tensor<S>, weight: Tensor<S>
  ) -> (input: Tensor<S>, weight: Tensor<S>, bias: Tensor<S>)? {
    let output = Tensor<S>.uninitialized(upstream.shape)
    let (weightGradient, biasGradient) = (
      Tensor<S>.uninitialized(weight.shape), Tensor<S>.uninitialized(weight.shape)
    )
    runLayerNormGradient(
      upstream, normalized, inverseDeviation, weight, into: output,
      weightGradient: weightGradient, biasGradient: biasGradient)
    return (output, weightGradient, biasGradient)
  }

  /// The layer-norm gradient kernel: the input gradient into `output`, and
  /// the weight and bias gradients when their tensors are given.
  private func runLayerNormGradient<S: TensorScalar>(
    _ upstream: Tensor<S>, _ normalized: Tensor<S>, _ inverseDeviation: Tensor<S>,
    _ weight: Tensor<S>, into output: Tensor<S>, weightGradient: Tensor<S>?,
    biasGradient: Tensor<S>?
  ) {
    let length = weight.scalarCount
    ComputeSettings.kernels.run(
      .layerNormRowsGradient(
        upstream: upstream.storage.pointer, normalized: normalized.storage.pointer,
        inverseDeviation: inverseDeviation.storage.pointer, weight: weight.storage.pointer,
        out: output.storage.pointer, weightGradient: weightGradient?.storage.pointer,
        biasGradient: biasGradient?.storage.pointer, rows: upstream.scalarCount / length,
        length: length))
  }

  // MARK: Batch normalization

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func channelMoments<S: TensorScalar>(_ x: Tensor<S>) -> (mean: [S], variance: [S])? {
    twoPerChannel(of: x) { mean, variance in
      ComputeSettings.kernels.run(
        .channelMoments(x: x.storage.pointer, shape: x.shape, mean: mean, variance: variance))
    }
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func normalizeChannels<S: TensorScalar>(
    _ x: Tensor<S>, center: [S], factor: [S], shift: [S]
  ) -> Tensor<S>? {
    let output = Tensor<S>.uninitialized(x.shape)
    ComputeSettings.kernels.run(
      .normalizeChannels(
        x: x.storage.pointer, shape: x.shape, center: center, factor: factor, shift: shift,
        out: output.storage.pointer))
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func channelGradientSums<S: TensorScalar>(
    _ g: Tensor<S>, _ x: Tensor<S>, center: [S], inverseDeviation: [S]
  ) -> (sum: [S], sumNormalized: [S])? {
    twoPerChannel(of: x) { sum, sumNormalized in
      ComputeSettings.kernels.run(
        .channelGradientSums(
          upstream: g.storage.pointer, x: x.storage.pointer, shape: x.shape, center: center,
          inverseDeviation: inverseDeviation, sum: sum, sumNormalized: sumNormalized))
    }
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func batchNormInputGradient<S: TensorScalar>(
    _ g: Tensor<S>, _ x: Tensor<S>, center: [S], inverseDeviation: [S], factor: [S],
    meanG: [S], meanGNormalized: [S]
  ) -> Tensor<S>? {
    let gradient = Tensor<S>.uninitialized(x.shape)
    ComputeSettings.kernels.run(
      .batchNormInputGradient(
        upstream: g.storage.pointer, x: x.storage.pointer, shape: x.shape, center: center,
        inverseDeviation: inverseDeviation, factor: factor, meanG: meanG,
        meanGNormalized: meanGNormalized, out: gradient.storage.pointer))
    return gradient
  }

  /// Two arrays of one value per channel (axis 1) of `x`, which `kernel`
  /// writes.
  private func twoPerChannel<S: TensorScalar>(
    of x: Tensor<S>, _ kernel: (UnsafeMutablePointer<S>, UnsafeMutablePointer<S>) -> Void
  ) -> ([S], [S]) {
    var first = [S](repeating: 0, count: x.shape[1])
    var second = first
    first.withUnsafeMutableBufferPointer { first in
      second.withUnsafeMutableBufferPointer { second in
        kernel(first.baseAddress!, second.baseAddress!)
      }
    }
    return (first, second)
  }
}
