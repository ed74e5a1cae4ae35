/// Searches along rows: each row's largest or smallest element, the
/// positions of its `k` best, and the first element that is not finite.

extension KernelSet {
  /// The largest (or smallest) element of each of `groups` rows of `size`
  /// scalars (`size > 0`) into `out`, and its flat index into `winners`.
  /// Only a strictly better element replaces the best so far, so the first
  /// wins a tie.
  @inlinable
  static func extremum<S: Comparable>(
    _ x: UnsafePointer<S>, groups: Int, size: Int, largest: Bool, _ out: UnsafeMutablePointer<S>,
    winners: UnsafeMutablePointer<Int32>
  ) {
    for group in 0..<groups {
      let row = x + group * size
      var best = 0
      if largest {
        for k in 1..<Swift.max(size, 1) where row[k] > row[best] { best = k }
      } else {
        for k in 1..<Swift.max(size, 1) where row[k] < row[best] { best = k }
      }
      winners[group] = Int32(group * size + best)
      out[group] = row[best]
    }
  }

  /// The positions along the middle axis of `x`, viewed as
  /// `[outer, size, inner]`, of the `k` largest (or smallest) elements of
  /// each line along it, best first, the earlier position first on a tie:
  /// `positions` is `[outer, k, inner]`.
  @inlinable
  static func topKPositions<S: Comparable>(
    _ x: UnsafePointer<S>, outer: Int, size: Int, inner: Int, k: Int, largest: Bool,
    _ positions: UnsafeMutablePointer<Int>
  ) {
    for o in 0..<outer {
      for i in 0..<inner {
        let value = { (j: Int) in x[(o * size + j) * inner + i] }
        let order = (0..<size).sorted { a, b in
          let (va, vb) = (value(a), value(b))
          if va == vb { return a < b }
          return largest ? va > vb : va < vb
        }
        for r in 0..<k { positions[(o * k + r) * inner + i] = order[r] }
      }
    }
  }

  /// The flat index of the first of `count` scalars that is a NaN or an
  /// infinity, or `count` when all are finite.
  @inlinable
  static func firstNonFinite<S: FloatingPoint>(_ x: UnsafePointer<S>, count: Int) -> Int {
    for i in 0..<count where !x[i].isFinite { return i }
    return count
  }
}
