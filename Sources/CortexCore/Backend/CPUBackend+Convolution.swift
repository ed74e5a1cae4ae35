import CortexKernels

/// The CPU backend's convolutions: the forward pass and the gradients of a
/// whole batch, and the column matrices (im2col) and their adjoint
/// (col2im) of the recorded form.

extension CPUBackend {
  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func convolution<S: TensorScalar>(
    _ input: Tensor<S>, filters: Tensor<S>, bias: Tensor<S>?, _ g: ConvolutionGeometry
  ) -> Tensor<S> {
    let output = Tensor<S>.uninitialized([
      g.batch, g.filters, g.plane.output.height, g.plane.output.width,
    ])
    ComputeSettings.kernels.run(
      .batchConvolution(
        input: input.storage.pointer, filters: filters.storage.pointer,
        bias: bias?.storage.pointer, output: output.storage.pointer, geometry: g))
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func convolutionGradients<S: TensorScalar>(
    _ upstream: Tensor<S>, input: Tensor<S>, filters: Tensor<S>, needs: [Bool],
    _ g: ConvolutionGeometry
  ) -> [Tensor<S>?] {
    let shapes = [input.shape, filters.shape, [g.filters]].prefix(needs.count)
    let gradients = zip(shapes, needs).map { shape, needed in
      needed ? Tensor<S>.uninitialized(shape) : nil
    }
    ComputeSettings.kernels.run(
      .batchConvolutionGradients(
        upstream: upstream.storage.pointer, input: input.storage.pointer,
        filters: filters.storage.pointer, inputGradient: gradients[0]?.storage.pointer,
        filterGradient: gradients[1]?.storage.pointer,
        biasGradient: gradients.count > 2 ? gradients[2]?.storage.pointer : nil, geometry: g))
    return gradients
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func patches<S: TensorScalar>(_ input: Tensor<S>, _ g: ConvolutionGeometry) -> Tensor<S> {
    let columns = g.plane.outputCount * g.patchSize
    let output = Tensor<S>.uninitialized([g.batch, g.patchSize, g.plane.outputCount])
    let kernels = ComputeSettings.kernels
    for n in 0..<g.batch {
      kernels.run(
        .im2col(
          image: input.storage.pointer + n * g.inputImageCount, channels: g.channels,
          geometry: g.plane, columns: output.storage.pointer + n * columns,
          rowStride: g.plane.outputCount))
    }
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func foldedPatches<S: TensorScalar>(_ columns: Tensor<S>, _ g: ConvolutionGeometry)
    -> Tensor<S>
  {
    let count = g.plane.outputCount * g.patchSize
    let output = Tensor<S>(
      shape: [g.batch, g.channels, g.plane.input.height, g.plane.input.width], repeating: 0,
      on: .cpu)
    let kernels = ComputeSettings.kernels
    for n in 0..<g.batch {
      kernels.run(
        .col2im(
          columns: columns.storage.pointer + n * count, channels: g.channels, geometry: g.plane,
          image: output.storage.pointer + n * g.inputImageCount))
    }
    return output
  }
}
