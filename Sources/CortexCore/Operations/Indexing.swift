/// Indexing: integer index tensors and Boolean masks, gathering and its
/// transpose scatter-add, strided slicing, splitting, cumulative sums,
/// arg-extrema and top-k.
///
/// Indices and masks are not differentiable, so they are not ``Tensor``s:
/// they are ``ShapedArray``s, which keep their shape visible the same way.
/// Each pullback here is another recorded operation of this file: gather's
/// pullback is scatter-add and scatter-add's is gather; selecting slices
/// and adding slices back are each other's pullbacks; a cumulative sum's
/// pullback is the reversed cumulative sum.

// MARK: - Gather and scatter-add

/// Picks, along `axis`, the element each index names: for `axis = 1` of a
/// rank-3 input, `out[i][j][k] = x[i][indices[i][j][k]][k]` (PyTorch's
/// `torch.gather`, NumPy's `take_along_axis`).
///
/// Pullback: ``scatterAdd(_:alongAxis:indices:into:)`` of the upstream
/// gradient; an index that repeats adds its gradients.
///
/// - Parameters:
///   - x: any shape of rank ≥ 1.
///   - axis: the axis the indices point along (negative counts from the end).
///   - indices: the rank of `x`, the same size as `x` on every other axis,
///     any size along `axis`; each index in `0..<x.shape[axis]`.
/// - Returns: the shape of `indices`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func gather<Scalar>(_ x: Tensor<Scalar>, alongAxis axis: Int, indices: IndexTensor)
  -> Tensor<Scalar>
{
  let axis = x.normalizedAxis(axis, "gather")
  validate(indices, against: x.shape, axis: axis, "gather")
  let output = indexingBackend("gather", x, indices).gather(x, along: axis, indices: indices)
  let inputShape = x.shape
  return record("gather", x, output: output) { g in
    scatterAdd(g, alongAxis: axis, indices: indices, into: inputShape)
  }
}

/// The transpose of ``gather(_:alongAxis:indices:)``: a tensor of zeros of
/// `shape` to which each element of `x` is added at the place its index
/// names along `axis` (PyTorch's `scatter_add`).
///
/// Pullback: ``gather(_:alongAxis:indices:)`` of the upstream gradient.
///
/// - Parameters:
///   - x: the shape of `indices`.
///   - axis: the axis the indices point along.
///   - indices: as for ``gather(_:alongAxis:indices:)``, against `shape`.
///   - shape: the shape of the result.
/// - Returns: `shape`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func scatterAdd<Scalar>(
  _ x: Tensor<Scalar>, alongAxis axis: Int, indices: IndexTensor, into shape: [Int]
) -> Tensor<Scalar> {
  precondition(
    x.shape == indices.shape,
    "scatterAdd: values of shape \(x.shape) do not match indices of shape \(indices.shape)")
  let axis = Tensor<Scalar>.zeros(shape).normalizedAxis(axis, "scatterAdd")
  validate(indices, against: shape, axis: axis, "scatterAdd")
  let output = indexingBackend("scatterAdd", x, indices).scatterAdd(
    x, along: axis, indices: indices, into: shape)
  return record("scatterAdd", x, output: output) { g in
    gather(g, alongAxis: axis, indices: indices)
  }
}

/// The backend of `x`, or the batching backend of indices found inside a
/// `vmap`, which apply to every example even where `x` is shared.
private func indexingBackend<Scalar>(_ name: String, _ x: Tensor<Scalar>, _ indices: IndexTensor)
  -> any Backend
{
  guard let axis = indices.batch.last, axis.level > x.batchLevel else { return x.backend(name) }
  return BatchingBackend(level: axis.level)
}

/// Traps unless `indices` fits `shape` for a gather or scatter along `axis`.
private func validate(_ indices: IndexTensor, against shape: [Int], axis: Int, _ name: String) {
  precondition(
    indices.rank == shape.count
      && indices.shape.indices.allSatisfy { $0 == axis || indices.shape[$0] == shape[$0] },
    "\(name): indices of shape \(indices.shape) must match \(shape) on every axis but \(axis)")
  let size = shape[axis]
  if let bad = indices.scalars.first(where: { $0 < 0 || $0 >= size }) {
    preconditionFailure("\(name): index \(bad) is out of range 0..<\(size) on axis \(axis)")
  }
}

// MARK: - Selecting slices

extension Tensor {
  /// The slices at `indices` along `axis`, in that order; an index may
  /// repeat (PyTorch's `index_select`). An embedding lookup is
  /// `table.selecting(ids, alongAxis: 0)`.
  ///
  /// Pullback: the upstream slices added back at their indices
  /// (``adding(_:atIndices:alongAxis:)``), summed where an index repeats.
  ///
  /// - Parameters:
  ///   - indices: each in `0..<shape[axis]`.
  ///   - axis: the axis to select along (negative counts from the end).
  /// - Returns: the shape of `self` with `indices.count` along `axis`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func selecting(_ indices: [Int], alongAxis axis: Int) -> Tensor {
    let axis = normalizedAxis(axis, "selecting")
    let size = shape[axis]
    if let bad = indices.first(where: { $0 < 0 || $0 >= size }) {
      preconditionFailure(
        "selecting: index \(bad) is out of range 0..<\(size) on axis \(axis) of shape \(shape)")
    }
    let output = backend("selecting").selectSlices(self, indices, along: axis)
    let inputShape = shape
    return record("selecting", self, output: output) { g in
      Tensor.zeros(inputShape).adding(g, atIndices: indices, alongAxis: axis)
    }
  }

  /// `self` with each slice of `slices` along `axis` added at the
  /// corresponding index (PyTorch's `index_add`); an index that repeats
  /// adds every slice it names.
  ///
  /// Pullback: `self` gets the upstream gradient; `slices` gets the
  /// upstream slices at `indices` (``selecting(_:alongAxis:)``).
  ///
  /// - Parameters:
  ///   - slices: the shape of `self` with `indices.count` along `axis`.
  ///   - indices: each in `0..<shape[axis]`.
  ///   - axis: the axis (negative counts from the end).
  /// - Returns: the shape of `self`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func adding(_ slices: Tensor, atIndices indices: [Int], alongAxis axis: Int) -> Tensor {
    let axis = validatedAxis(of: slices, at: indices, alongAxis: axis, "adding(atIndices:)")
    let output = commonBackend("adding(atIndices:)", self, slices).writeSlices(
      slices, into: self, at: indices, along: axis, accumulate: true)
    return record(
      "adding(atIndices:)", self, slices, output: output,
      pullbackX: { $0 },
      pullbackY: { $0.selecting(indices, alongAxis: axis) })
  }

  /// `self` with the slices at `indices` along `axis` replaced by those of
  /// `slices`, in order (PyTorch's `index_copy`). This is the recorded
  /// write that element and slice assignments become while a tensor is
  /// being differentiated.
  ///
  /// Pullback: `self` gets the upstream gradient with the replaced slices
  /// set to 0 (what was overwritten no longer reaches the output);
  /// `slices` gets the upstream slices at `indices`
  /// (``selecting(_:alongAxis:)``). Both are recorded, so gradients of any
  /// order flow through a write.
  ///
  /// - Parameters:
  ///   - slices: the shape of `self` with `indices.count` along `axis`.
  ///   - indices: distinct, each in `0..<shape[axis]`.
  ///   - axis: the axis (negative counts from the end).
  /// - Returns: the shape of `self`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func replacing(_ slices: Tensor, atIndices indices: [Int], alongAxis axis: Int) -> Tensor {
    let axis = validatedAxis(of: slices, at: indices, alongAxis: axis, "replacing(atIndices:)")
    precondition(
      Set(indices).count == indices.count,
      "replacing(atIndices:): the indices \(indices) repeat; each slice can be written once")
    let output = commonBackend("replacing(atIndices:)", self, slices).writeSlices(
      slices, into: self, at: indices, along: axis, accumulate: false)
    let sliceShape = slices.shape
    return record(
      "replacing(atIndices:)", self, slices, output: output,
      pullbackX: { $0.replacing(.zeros(sliceShape), atIndices: indices, alongAxis: axis) },
      pullbackY: { $0.selecting(indices, alongAxis: axis) })
  }

  /// The normalized `axis`, after trapping unless `slices` has the shape of
  /// `self` with `indices.count` along it and every index is in range.
  private func validatedAxis(
    of slices: Tensor, at indices: [Int], alongAxis axis: Int, _ name: String
  ) -> Int {
    let axis = normalizedAxis(axis, name)
    var expected = shape
    expected[axis] = indices.count
    precondition(
      slices.shape == expected,
      "\(name): slices of shape \(slices.shape) for \(indices.count) indices into \(shape) along axis \(axis); expected \(expected)"
    )
    let size = shape[axis]
    if let bad = indices.first(where: { $0 < 0 || $0 >= size }) {
      preconditionFailure("\(name): index \(bad) is out of range 0..<\(size) on axis \(axis)")
    }
    return axis
  }

  /// The slices along `axis` in `range`, read or written:
  /// `x[alongAxis: 1, 2..<4] = v` writes `v` over columns 2 and 3.
  ///
  /// A read is ``sliced(alongAxis:range:)``; a write is
  /// ``replacing(_:atIndices:alongAxis:)``, recorded while the tensor is
  /// being differentiated, so gradients flow to both the target's other
  /// elements and the written values. The written value broadcasts to the
  /// slice's shape.
  public subscript(alongAxis axis: Int, range: Range<Int>) -> Tensor {
    get { sliced(alongAxis: axis, range: range) }
    set { self = replacingSlices(alongAxis: axis, Array(range), with: newValue) }
  }

  /// The slices along `axis` at the positions `stride` visits, read or
  /// written (`x[alongAxis: 0, stride(from: 0, to: 8, by: 2)] = v`); see
  /// the `Range` form.
  public subscript(alongAxis axis: Int, positions: StrideTo<Int>) -> Tensor {
    get { sliced(alongAxis: axis, positions) }
    set { self = replacingSlices(alongAxis: axis, Array(positions), with: newValue) }
  }

  /// The slices along `axis` at the positions `stride` visits, its end
  /// included, read or written; see the `Range` form.
  public subscript(alongAxis axis: Int, positions: StrideThrough<Int>) -> Tensor {
    get { sliced(alongAxis: axis, positions) }
    set { self = replacingSlices(alongAxis: axis, Array(positions), with: newValue) }
  }

  /// `self` with the slices at `positions` replaced by `value`, broadcast
  /// to their shape.
  private func replacingSlices(alongAxis axis: Int, _ positions: [Int], with value: Tensor)
    -> Tensor
  {
    var target = shape
    target[normalizedAxis(axis, "slice write")] = positions.count
    let slices = value.shape == target ? value : value.broadcasted(to: target)
    return replacing(slices, atIndices: positions, alongAxis: axis)
  }

  /// The elements along `axis` at the positions `stride` visits, which
  /// may step backwards: `x.sliced(alongAxis: 1, stride(from: 0, to: 7, by: 2))`
  /// takes columns 0, 2, 4, 6, and
  /// `x.sliced(alongAxis: 0, stride(from: n - 1, through: 0, by: -1))`
  /// reverses the rows (NumPy's `x[::-1]`).
  ///
  /// Pullback: the gradient added back at the visited positions, through
  /// ``selecting(_:alongAxis:)``.
  ///
  /// - Returns: the shape of `self` with the number of visited positions
  ///   along `axis`.
  public func sliced(alongAxis axis: Int, _ positions: StrideTo<Int>) -> Tensor {
    selecting(Array(positions), alongAxis: axis)
  }

  /// The elements along `axis` at the positions `stride` visits, its end
  /// included; see the `StrideTo` form above.
  public func sliced(alongAxis axis: Int, _ positions: StrideThrough<Int>) -> Tensor {
    selecting(Array(positions), alongAxis: axis)
  }

  /// Splits along `axis` into consecutive pieces of the given sizes
  /// (PyTorch's `split` with a list). Each piece is a recorded slice.
  ///
  /// - Parameters:
  ///   - sizes: non-negative sizes summing to `shape[axis]`.
  ///   - axis: the axis to split (negative counts from the end).
  /// - Returns: one tensor per size.
  public func split(sizes: [Int], alongAxis axis: Int) -> [Tensor] {
    let axis = normalizedAxis(axis, "split")
    precondition(
      sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == shape[axis],
      "split: sizes \(sizes) do not add up to \(shape[axis]) along axis \(axis) of shape \(shape)")
    var start = 0
    return sizes.map { size in
      defer { start += size }
      return sliced(alongAxis: axis, range: start..<(start + size))
    }
  }

  /// Splits along `axis` into `count` pieces of equal size, the last one
  /// smaller when `count` does not divide the size (PyTorch's `chunk`,
  /// which may then return fewer pieces).
  ///
  /// - Parameters:
  ///   - count: the number of pieces, positive.
  ///   - axis: the axis to split.
  public func chunked(into count: Int, alongAxis axis: Int) -> [Tensor] {
    precondition(count > 0, "chunked: count must be positive, found \(count)")
    let axis = normalizedAxis(axis, "chunked")
    let size = shape[axis]
    let piece = Swift.max(1, (size + count - 1) / count)
    let sizes = stride(from: 0, to: size, by: piece).map { Swift.min(piece, size - $0) }
    return split(sizes: sizes.isEmpty ? [0] : sizes, alongAxis: axis)
  }
}

// MARK: - Cumulative sums

extension Tensor {
  /// Running sums along `axis`: `yᵢ = Σ_{j ≤ i} xⱼ`, or `Σ_{j ≥ i} xⱼ` when
  /// `reverse`.
  ///
  /// Pullback: the running sum of the upstream gradient in the other
  /// direction.
  ///
  /// - Parameters:
  ///   - axis: the axis to sum along (negative counts from the end).
  ///   - reverse: whether to sum from the end.
  /// - Returns: the shape of `self`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func cumulativeSum(alongAxis axis: Int, reverse: Bool = false) -> Tensor {
    let axis = normalizedAxis(axis, "cumulativeSum")
    let output = backend("cumulativeSum").cumulativeSum(self, along: axis, reverse: reverse)
    return record("cumulativeSum", self, output: output) { g in
      g.cumulativeSum(alongAxis: axis, reverse: !reverse)
    }
  }
}

// MARK: - Arg-extrema and top-k

extension Tensor {
  /// The position along `axis` of each largest element (the first on a
  /// tie), with the shape kept visible.
  ///
  /// - Parameters:
  ///   - axis: the axis to search (negative counts from the end); not empty.
  ///   - keepDims: whether the searched axis stays with size 1.
  /// - Returns: the shape of `self` without `axis` (or with 1 there).
  public func argmax(alongAxis axis: Int, keepDims: Bool) -> IndexTensor {
    let axis = normalizedAxis(axis, "argmax")
    return IndexTensor(
      shape: reducedShape([axis], keepDims: keepDims),
      scalars: extremumPositions(alongAxis: axis, largest: true, "argmax"), batch: batch)
  }

  /// The position along `axis` of each smallest element (the first on a
  /// tie); see ``argmax(alongAxis:keepDims:)``.
  public func argmin(alongAxis axis: Int, keepDims: Bool) -> IndexTensor {
    let axis = normalizedAxis(axis, "argmin")
    return IndexTensor(
      shape: reducedShape([axis], keepDims: keepDims),
      scalars: extremumPositions(alongAxis: axis, largest: false, "argmin"), batch: batch)
  }

  /// The `k` largest (or smallest) elements along `axis`, in order, and
  /// their positions (PyTorch's `topk`). Ties keep the earlier position
  /// first.
  ///
  /// The values are ``gather(_:alongAxis:indices:)`` of `self` at the
  /// positions, so their gradient flows back to the elements chosen.
  ///
  /// - Parameters:
  ///   - k: in `0...shape[axis]`.
  ///   - axis: the axis to search (default the last).
  ///   - largest: `true` for the largest elements, `false` for the smallest.
  /// - Returns: values and indices, each the shape of `self` with `k`
  ///   along `axis`.
  public func topK(_ k: Int, alongAxis axis: Int = -1, largest: Bool = true) -> (
    values: Tensor, indices: IndexTensor
  ) {
    let axis = normalizedAxis(axis, "topK")
    precondition(
      k >= 0 && k <= shape[axis],
      "topK: k = \(k) is out of range 0...\(shape[axis]) for axis \(axis) of \(shape)")
    let indices = backend("topK").topKPositions(self, k: k, along: axis, largest: largest)
    return (gather(self, alongAxis: axis, indices: indices), indices)
  }
}
