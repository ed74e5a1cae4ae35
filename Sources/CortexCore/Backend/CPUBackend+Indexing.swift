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
    let picks = indices.shape[axis]
    let output = Tensor<S>.uninitialized(indices.shape)
    let (source, target) = (x.storage.pointer, output.storage.pointer)
    for (flat, index) in indices.scalars.enumerated() {
      let (o, rest) = flat.quotientAndRemainder(dividingBy: picks * inner)
      target[flat] = source[(o * size + index) * inner + rest % inner]
    }
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func scatterAdd<S: TensorScalar>(
    _ x: Tensor<S>, along axis: Int, indices: IndexTensor, into shape: [Int]
  ) -> Tensor<S> {
    let (_, size, inner) = extents(shape, at: axis)
    let picks = indices.shape[axis]
    let output = Tensor<S>(shape: shape, repeating: 0, on: .cpu)
    let (source, target) = (x.storage.pointer, output.storage.pointer)
    for (flat, index) in indices.scalars.enumerated() {
      let (o, rest) = flat.quotientAndRemainder(dividingBy: picks * inner)
      target[(o * size + index) * inner + rest % inner] += source[flat]
    }
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
    for o in 0..<outer {
      for (k, index) in indices.enumerated() {
        (output.storage.pointer + (o * indices.count + k) * inner).update(
          from: x.storage.pointer + (o * size + index) * inner, count: inner)
      }
    }
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
    for o in 0..<outer {
      for (k, index) in indices.enumerated() {
        let target = output.storage.pointer + (o * size + index) * inner
        let source = slices.storage.pointer + (o * indices.count + k) * inner
        if accumulate {
          for i in 0..<inner { target[i] += source[i] }
        } else {
          target.update(from: source, count: inner)
        }
      }
    }
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func cumulativeSum<S: TensorScalar>(_ x: Tensor<S>, along axis: Int, reverse: Bool)
    -> Tensor<S>
  {
    let (outer, size, inner) = extents(x.shape, at: axis)
    let output = Tensor<S>.uninitialized(x.shape)
    let (source, target) = (x.storage.pointer, output.storage.pointer)
    for o in 0..<outer {
      for i in 0..<inner {
        var total: S = 0
        for step in 0..<size {
          let k = reverse ? size - 1 - step : step
          let offset = (o * size + k) * inner + i
          total += source[offset]
          target[offset] = total
        }
      }
    }
    return output
  }
}
