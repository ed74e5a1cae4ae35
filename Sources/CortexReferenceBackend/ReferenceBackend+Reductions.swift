import CortexCore

/// The reference backend's reductions and the max gate's routing: sums,
/// extrema with their winners, top-k positions, the scan for non-finite
/// values, and the scatter and gather at winners.

extension ReferenceBackend {
  /// Sums along `axes` (sorted, distinct), keeping them with size 1.
  package func sum<S: TensorScalar>(_ x: Tensor<S>, alongAxes axes: [Int]) -> Tensor<S> {
    var shape = x.shape
    for axis in axes { shape[axis] = 1 }
    var out = [S](repeating: 0, count: shape.reduce(1, *))
    for (flat, value) in x.scalars.enumerated() {
      var index = multiIndex(flat, in: x.shape)
      for axis in axes { index[axis] = 0 }
      out[flatIndex(index, in: shape)] += value
    }
    return tensor(shape, out)
  }

  /// The largest (or smallest) element of each row of `x`, viewed as
  /// `[groups, size]` with `size > 0`, and its flat index in `x` (the first
  /// on a tie). Returns: `[groups]` and `groups` winners.
  package func extremum<S: TensorScalar>(_ x: Tensor<S>, groups: Int, size: Int, largest: Bool)
    -> (Tensor<S>, MaxGateWinners)
  {
    let values = x.scalars
    let positions = extremumPositions(x, groups: groups, size: size, largest: largest)
    let winners = positions.indices.map { $0 * size + positions[$0] }
    return (tensor([groups], winners.map { values[$0] }), MaxGateWinners(winners))
  }

  /// For each row of `x`, viewed as `[groups, size]` with `size > 0`, the
  /// position in `0..<size` of its largest (or smallest) element, the first
  /// on a tie, read back to the host. Returns: `groups` positions.
  package func extremumPositions<S: TensorScalar>(
    _ x: Tensor<S>, groups: Int, size: Int, largest: Bool
  ) -> [Int] {
    let values = x.scalars
    return (0..<groups).map { group in
      var best = 0
      for k in 1..<Swift.max(size, 1) {
        let (candidate, current) = (values[group * size + k], values[group * size + best])
        if largest ? candidate > current : candidate < current { best = k }
      }
      return best
    }
  }

  /// The positions along `axis` of the `k` largest (or smallest) elements
  /// of each line of `x` along it, best first, the earlier position first
  /// on a tie; `k` is at most `x.shape[axis]`. Returns: the shape of `x`
  /// with `k` along `axis`.
  package func topKPositions<S: TensorScalar>(
    _ x: Tensor<S>, k: Int, along axis: Int, largest: Bool
  ) -> IndexTensor {
    let (outer, size, inner) = extents(x.shape, at: axis)
    let values = x.scalars
    var shape = x.shape
    shape[axis] = k
    var positions = [Int](repeating: 0, count: shape.reduce(1, *))
    for o in 0..<outer {
      for i in 0..<inner {
        // Selection: the r-th pick is the best position not yet taken,
        // the earliest among equals.
        var taken = [Bool](repeating: false, count: size)
        for r in 0..<k {
          var best = -1
          for j in 0..<size where !taken[j] {
            if best < 0 {
              best = j
              continue
            }
            let (candidate, current) = (
              values[(o * size + j) * inner + i], values[(o * size + best) * inner + i]
            )
            if largest ? candidate > current : candidate < current { best = j }
          }
          taken[best] = true
          positions[(o * k + r) * inner + i] = best
        }
      }
    }
    return IndexTensor(shape: shape, scalars: positions)
  }

  /// The first element of `x` (row-major) that is a NaN or an infinity,
  /// with its flat index, or `nil` when every element is finite.
  package func firstNonFinite<S: TensorScalar>(_ x: Tensor<S>) -> (index: Int, value: S)? {
    for (index, value) in x.scalars.enumerated() where !value.isFinite { return (index, value) }
    return nil
  }

  /// A tensor of `inputShape`, zero except that each element of
  /// `upstream` is added at its winner (the max gate's backward). Every
  /// route gives this same sum; the reference backend's own pooling always
  /// returns ``MaxGateRoute/general``.
  package func scatter<S: TensorScalar>(
    _ upstream: Tensor<S>, toWinners winners: MaxGateWinners, route: MaxGateRoute,
    inputShape: [Int]
  ) -> Tensor<S> {
    var out = [S](repeating: 0, count: inputShape.reduce(1, *))
    for (value, winner) in zip(upstream.scalars, winners.indices) { out[winner] += value }
    return tensor(inputShape, out)
  }

  /// `x` at each winner, in the winners' order. Returns: `shape`.
  package func gather<S: TensorScalar>(
    _ x: Tensor<S>, atWinners winners: MaxGateWinners, shape: [Int]
  ) -> Tensor<S> {
    let values = x.scalars
    return tensor(shape, winners.indices.map { values[$0] })
  }
}
