/// Reductions: sums and means distribute the upstream gradient over the
/// elements they reduced (the add gate); max and min route it to the
/// element that won (the max gate, first occurrence on ties).

extension Tensor {
  func normalizedAxes(_ axes: [Int], _ name: String) -> [Int] {
    let result = axes.map { axis -> Int in
      let normalized = axis < 0 ? axis + rank : axis
      precondition(
        normalized >= 0 && normalized < rank,
        "\(name): axis \(axis) is out of range for a tensor of shape \(shape)")
      return normalized
    }
    return Array(Set(result)).sorted()
  }

  func normalizedAxis(_ axis: Int, _ name: String, extra: Int = 0) -> Int {
    let normalized = axis < 0 ? axis + rank + extra : axis
    precondition(
      normalized >= 0 && normalized < rank + extra,
      "\(name): axis \(axis) is out of range for a tensor of shape \(shape)")
    return normalized
  }

  /// The shape after reducing `axes`: 1 there when `keepDims`, otherwise
  /// those dimensions removed.
  func reducedShape(_ axes: [Int], keepDims: Bool) -> [Int] {
    keepDims
      ? shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
      : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
  }

  /// Sum of all elements: a 0-d tensor.
  public func sum() -> Tensor { sum(alongAxes: Array(0..<rank)) }

  /// Sums along the given axes (negative axes count from the end).
  public func sum(alongAxes axes: Int...) -> Tensor { sum(alongAxes: axes) }

  /// Sums along the given axes; keeps them as size 1 when `keepDims`.
  /// Pullback: the upstream gradient broadcast back over the summed axes.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func sum(alongAxes axes: [Int], keepDims: Bool = false) -> Tensor {
    let axes = normalizedAxes(axes, "sum")
    let value = backend("sum").sum(self, alongAxes: axes)
    let kept = value.shape
    let result = value.reshapedStorage(reducedShape(axes, keepDims: keepDims))
    let inputShape = shape
    return record("sum", self, output: result) { g in
      g.reshaped(to: kept).broadcasted(to: inputShape)
    }
  }

  /// Mean of all elements: a 0-d tensor.
  public func mean() -> Tensor { mean(alongAxes: Array(0..<rank)) }

  /// Means along the given axes.
  public func mean(alongAxes axes: Int...) -> Tensor { mean(alongAxes: axes) }

  /// Means along the given axes; keeps them as size 1 when `keepDims`.
  public func mean(alongAxes axes: [Int], keepDims: Bool = false) -> Tensor {
    let axes = normalizedAxes(axes, "mean")
    let count = axes.map { shape[$0] }.reduce(1, *)
    return sum(alongAxes: axes, keepDims: keepDims) / Scalar(count)
  }

  /// Largest element: a 0-d tensor. Gradient goes to the first largest.
  public func max() -> Tensor { max(alongAxes: Array(0..<rank)) }
  /// Smallest element: a 0-d tensor. Gradient goes to the first smallest.
  public func min() -> Tensor { min(alongAxes: Array(0..<rank)) }
  public func max(alongAxes axes: Int...) -> Tensor { max(alongAxes: axes) }
  public func min(alongAxes axes: Int...) -> Tensor { min(alongAxes: axes) }

  /// Maxima along the given axes. The max gate: the upstream gradient goes
  /// to the element that attained the maximum, the first one in row-major
  /// order on a tie.
  public func max(alongAxes axes: [Int], keepDims: Bool = false) -> Tensor {
    extremum("max", alongAxes: axes, keepDims: keepDims, largest: true)
  }

  /// Minima along the given axes, routing the gradient like ``max(alongAxes:keepDims:)``.
  public func min(alongAxes axes: [Int], keepDims: Bool = false) -> Tensor {
    extremum("min", alongAxes: axes, keepDims: keepDims, largest: false)
  }

  /// Moves the reduced axes last and views the tensor as `[groups, size]`.
  private func groupedForReduction(_ axes: [Int]) -> (values: Tensor, permutation: [Int], size: Int)
  {
    let rest = (0..<rank).filter { !axes.contains($0) }
    let permutation = rest + axes
    let size = axes.map { shape[$0] }.reduce(1, *)
    let moved =
      permutation == Array(0..<rank) ? self.withoutDerivative : permutedStorage(permutation)
    return (moved, permutation, size)
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  private func extremum(
    _ name: String, alongAxes axes: [Int], keepDims: Bool, largest: Bool
  ) -> Tensor {
    let axes = normalizedAxes(axes, name)
    precondition(
      axes.allSatisfy { shape[$0] > 0 }, "\(name): cannot reduce an empty axis of shape \(shape)")
    let (moved, permutation, size) = groupedForReduction(axes)
    let groups = size == 0 ? 0 : scalarCount / size
    requireWinnerIndices(name, self)
    let (result, winners) = backend(name).extremum(
      moved, groups: groups, size: size, largest: largest)
    // The gate reads the grouped values; they are recorded (as a permutation
    // of `self`) only when `self` is being differentiated.
    let source =
      !isBeingDifferentiated ? moved : permutation == Array(0..<rank) ? self : permuted(permutation)
    return recordMaxGate(
      name, source.reshaped(to: [groups * size]), output: result, winners: winners
    )
    .reshaped(to: reducedShape(axes, keepDims: keepDims))
  }

  /// Flat indices (row-major, in `[0, size)`) of the largest element along
  /// `axis`, one per position of the remaining axes, in row-major order.
  /// The first index wins a tie.
  public func argmax(alongAxis axis: Int) -> [Int] {
    requireUnbatched("argmax")
    return extremumPositions(alongAxis: axis, largest: true, "argmax")
  }

  /// The position along `axis` of each largest (or smallest) element, the
  /// first on a tie, one per position of the remaining axes, in row-major
  /// order; `name` is the operation's, for its checks.
  func extremumPositions(alongAxis axis: Int, largest: Bool, _ name: String) -> [Int] {
    let axis = normalizedAxis(axis, name)
    let (moved, _, size) = groupedForReduction([axis])
    precondition(size > 0, "\(name): axis \(axis) of shape \(shape) is empty")
    requireWinnerIndices(name, self)
    return backend(name).extremumPositions(
      moved, groups: scalarCount / size, size: size, largest: largest)
  }

  /// The flat index of the largest element (the first on a tie).
  public func argmax() -> Int {
    requireUnbatched("argmax")
    return reshapedStorage([scalarCount]).argmax(alongAxis: 0)[0]
  }
}

func inversePermutation(_ permutation: [Int]) -> [Int] {
  var inverse = [Int](repeating: 0, count: permutation.count)
  for (i, p) in permutation.enumerated() { inverse[p] = i }
  return inverse
}
