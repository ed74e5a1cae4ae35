import CortexKernels

/// The CPU backend's pooling and maxout, plane by plane.

extension CPUBackend {
  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func maxPool<S: TensorScalar>(_ x: Tensor<S>, planes: Int, _ g: WindowGeometry) -> (
    Tensor<S>, MaxGateWinners, MaxGateRoute
  ) {
    let output = Tensor<S>.uninitialized([x.shape[0], x.shape[1], g.output.height, g.output.width])
    let winners = MaxGateWinners(count: output.scalarCount)
    let (input, pooled) = (x.storage.pointer, output.storage.pointer)
    if g.tiles2x2 {
      ComputeSettings.kernels.run(
        .maxPool2x2(
          input: input, output: pooled, winners: winners.pointer, planes: planes, geometry: g))
      return (output, winners, .pooling2x2(planes: planes, g))
    }
    ComputeSettings.kernels.run(
      .maxPool(input: input, output: pooled, winners: winners.pointer, planes: planes, geometry: g))
    return (output, winners, .general)
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func averagePool<S: TensorScalar>(_ x: Tensor<S>, planes: Int, _ g: WindowGeometry)
    -> Tensor<S>
  {
    let output = Tensor<S>.uninitialized([x.shape[0], x.shape[1], g.output.height, g.output.width])
    ComputeSettings.kernels.run(
      .averagePool(
        input: x.storage.pointer, output: output.storage.pointer, planes: planes, geometry: g))
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func averagePoolGradient<S: TensorScalar>(
    _ upstream: Tensor<S>, inputShape: [Int], planes: Int, _ g: WindowGeometry
  ) -> Tensor<S> {
    let gradient = Tensor<S>.uninitialized(inputShape)
    ComputeSettings.kernels.run(
      .averagePoolGradient(
        upstream: upstream.storage.pointer, inputGradient: gradient.storage.pointer,
        planes: planes, geometry: g))
    return gradient
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func maxout<S: TensorScalar>(_ z: Tensor<S>, pieces: Int, shape: [Int]) -> (
    Tensor<S>, MaxGateWinners
  ) {
    let output = Tensor<S>.uninitialized(shape)
    let winners = MaxGateWinners(count: output.scalarCount)
    ComputeSettings.kernels.run(
      .maxout(
        input: z.storage.pointer, output: output.storage.pointer, winners: winners.pointer,
        outer: shape[0], units: shape[1], pieces: pieces, inner: shape[2...].reduce(1, *)))
    return (output, winners)
  }
}
