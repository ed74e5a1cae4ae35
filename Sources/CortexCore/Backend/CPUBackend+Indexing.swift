/// The CPU backend's indexing primitives: gather and scatter-add along an
/// axis, selecting and adding slices, cumulative sums.

/// The number of elements before, along and after `axis` of `shape`.
func extents(_ shape: [Int], at axis: Int) -> (outer: Int, size: Int, inner: Int) {
  (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
}

extension CPUBackend {
  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func gather<S: TensorScalar>(_ x: Tensor<S>, along axis: Int, indices: IndexTensor)
    -> Tensor<S>
  {
    let (_, size, inner) = extents(x.shape, at: axis)
    let output = Tensor<S>.uninitialized(indices.shape)
    ComputeSettings.kernels.run(
      .gather(
        x: x.storage.pointer, size: size, inner: inner, indices: indices.scalars,
        picks: indices.shape[axis], out: output.storage.pointer))
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func scatterAdd<S: TensorScalar>(
    _ x: Tensor<S>, along axis: Int, indices: IndexTensor, into shape: [Int]
  ) -> Tensor<S> {
    let (_, size, inner) = extents(shape, at: axis)
    let output = Tensor<S>(shape: shape, repeating: 0, on: .cpu)
    ComputeSettings.kernels.run(
      .scatterAdd(
        x: x.storage.pointer, size: size, inner: inner, indices: indices.scalars,
        picks: indices.shape[axis], out: output.storage.pointer))
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func selectSlices<S: TensorScalar>(_ x: Tensor<S>, _ indices: [Int], along axis: Int)
    -> Tensor<S>
  {
    let (outer, size, inner) = extents(x.shape, at: axis)
    var shape = x.shape
    shape[axis] = indices.count
    let output = Tensor<S>.uninitialized(shape)
    ComputeSettings.kernels.run(
      .selectSlices(
        x: x.storage.pointer, outer: outer, size: size, inner: inner, indices: indices,
        out: output.storage.pointer))
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func writeSlices<S: TensorScalar>(
    _ slices: Tensor<S>, into base: Tensor<S>, at indices: [Int], along axis: Int,
    accumulate: Bool
  ) -> Tensor<S> {
    let (outer, size, inner) = extents(base.shape, at: axis)
    let output = Tensor<S>(shape: base.shape, storage: base.storage.copy())
    ComputeSettings.kernels.run(
      .writeSlices(
        slices: slices.storage.pointer, base: output.storage.pointer, outer: outer, size: size,
        inner: inner, indices: indices, accumulate: accumulate))
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func cumulativeSum<S: TensorScalar>(_ x: Tensor<S>, along axis: Int, reverse: Bool)
    -> Tensor<S>
  {
    let (outer, size, inner) = extents(x.shape, at: axis)
    let output = Tensor<S>.uninitialized(x.shape)
    ComputeSettings.kernels.run(
      .cumulativeSum(
        x: x.storage.pointer, outer: outer, size: size, inner: inner, reverse: reverse,
        out: output.storage.pointer))
    return output
  }
}
