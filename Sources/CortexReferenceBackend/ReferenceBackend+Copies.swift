import CortexCore

/// The reference backend's copies and indexing: permutations, broadcasts,
/// block copies, gathers and scatters along an axis, slices, cumulative
/// sums. Each output element is found from its multi-index.

extension ReferenceBackend {
  // MARK: Copies

  /// A permuted contiguous copy: axis `i` of the result is axis
  /// `permutation[i]` of `x`.
  package func permute<S: TensorScalar>(_ x: Tensor<S>, _ permutation: [Int]) -> Tensor<S> {
    let values = x.scalars
    let shape = permutation.map { x.shape[$0] }
    var out = [S](repeating: 0, count: values.count)
    for flat in out.indices {
      let index = multiIndex(flat, in: shape)
      var source = [Int](repeating: 0, count: shape.count)
      for (axis, sourceAxis) in permutation.enumerated() { source[sourceAxis] = index[axis] }
      out[flat] = values[flatIndex(source, in: x.shape)]
    }
    return tensor(shape, out)
  }

  /// `x` repeated along its broadcast axes to `shape` (NumPy's rules).
  package func broadcast<S: TensorScalar>(_ x: Tensor<S>, to shape: [Int]) -> Tensor<S> {
    let values = x.scalars
    let count = shape.reduce(1, *)
    return tensor(
      shape,
      (0..<count).map { values[broadcastFlatIndex(multiIndex($0, in: shape), from: x.shape)] })
  }

  /// A tensor of `shape`, zero except for the rectangular blocks copied
  /// in, in order (a later block overwrites an earlier one): each block
  /// copies `region` elements from `sourceOrigin` in its source to
  /// `destinationOrigin`. The reference backend zero-fills whether or not
  /// `zeroFilled` asks for it.
  package func assemble<S: TensorScalar>(_ shape: [Int], zeroFilled: Bool, blocks: [BlockCopy<S>])
    -> Tensor<S>
  {
    var out = [S](repeating: 0, count: shape.reduce(1, *))
    for block in blocks {
      let source = block.source.scalars
      for flat in 0..<block.region.reduce(1, *) {
        let offset = multiIndex(flat, in: block.region)
        let from = zip(block.sourceOrigin, offset).map(+)
        let to = zip(block.destinationOrigin, offset).map(+)
        out[flatIndex(to, in: shape)] = source[flatIndex(from, in: block.source.shape)]
      }
    }
    return tensor(shape, out)
  }

  // MARK: Indexing

  /// `out[o, j, i] = x[o, indices[o, j, i], i]` with `x` viewed as
  /// `[outer, size, inner]` around the indexed axis (PyTorch's `gather`).
  /// Returns: the shape of `indices`.
  package func gather<S: TensorScalar>(_ x: Tensor<S>, along axis: Int, indices: IndexTensor)
    -> Tensor<S>
  {
    let values = x.scalars
    let (_, size, inner) = extents(x.shape, at: axis)
    let picks = indices.shape[axis]
    let out = indices.scalars.enumerated().map { flat, index in
      let (o, rest) = flat.quotientAndRemainder(dividingBy: picks * inner)
      return values[(o * size + index) * inner + rest % inner]
    }
    return tensor(indices.shape, out)
  }

  /// The transpose of ``gather(_:along:indices:)``: zeros of `shape` with
  /// each element of `x` added at its index (PyTorch's `scatter_add`).
  package func scatterAdd<S: TensorScalar>(
    _ x: Tensor<S>, along axis: Int, indices: IndexTensor, into shape: [Int]
  ) -> Tensor<S> {
    let values = x.scalars
    let (_, size, inner) = extents(shape, at: axis)
    let picks = indices.shape[axis]
    var out = [S](repeating: 0, count: shape.reduce(1, *))
    for (flat, index) in indices.scalars.enumerated() {
      let (o, rest) = flat.quotientAndRemainder(dividingBy: picks * inner)
      out[(o * size + index) * inner + rest % inner] += values[flat]
    }
    return tensor(shape, out)
  }

  /// The slices at `indices` along `axis`, in order (PyTorch's
  /// `index_select`). Returns: the shape of `x` with `indices.count`
  /// along `axis`.
  package func selectSlices<S: TensorScalar>(_ x: Tensor<S>, _ indices: [Int], along axis: Int)
    -> Tensor<S>
  {
    let values = x.scalars
    let (outer, size, inner) = extents(x.shape, at: axis)
    var shape = x.shape
    shape[axis] = indices.count
    var out: [S] = []
    for o in 0..<outer {
      for index in indices {
        for i in 0..<inner { out.append(values[(o * size + index) * inner + i]) }
      }
    }
    return tensor(shape, out)
  }

  /// `base` with each slice of `slices` along `axis` added at its index
  /// when `accumulate` (PyTorch's `index_add`), or written over it
  /// otherwise (`index_copy`; the indices are then distinct). Returns: the
  /// shape of `base`.
  package func writeSlices<S: TensorScalar>(
    _ slices: Tensor<S>, into base: Tensor<S>, at indices: [Int], along axis: Int,
    accumulate: Bool
  ) -> Tensor<S> {
    let source = slices.scalars
    var out = base.scalars
    let (outer, size, inner) = extents(base.shape, at: axis)
    for o in 0..<outer {
      for (k, index) in indices.enumerated() {
        for i in 0..<inner {
          let value = source[(o * indices.count + k) * inner + i]
          let target = (o * size + index) * inner + i
          out[target] = accumulate ? out[target] + value : value
        }
      }
    }
    return tensor(base.shape, out)
  }

  /// Running sums along `axis`, from the end when `reverse`. Returns: the
  /// shape of `x`.
  package func cumulativeSum<S: TensorScalar>(_ x: Tensor<S>, along axis: Int, reverse: Bool)
    -> Tensor<S>
  {
    let values = x.scalars
    let (outer, size, inner) = extents(x.shape, at: axis)
    var out = [S](repeating: 0, count: values.count)
    for o in 0..<outer {
      for i in 0..<inner {
        var total: S = 0
        for step in 0..<size {
          let offset = (o * size + (reverse ? size - 1 - step : step)) * inner + i
          total += values[offset]
          out[offset] = total
        }
      }
    }
    return tensor(x.shape, out)
  }
}
