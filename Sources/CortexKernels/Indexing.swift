/// Indexing along one axis of a buffer viewed as `[outer, size, inner]`:
/// gathering and scatter-adding at indices, selecting and writing whole
/// slices, running sums, and gathering at the max gate's winners.

extension KernelSet {
  /// `out[o, j, i] = x[o, indices[o, j, i], i]` for `indices` of shape
  /// `[outer, picks, inner]` (PyTorch's `gather`).
  @inlinable
  static func gather<S>(
    _ x: UnsafePointer<S>, size: Int, inner: Int, indices: [Int], picks: Int,
    _ out: UnsafeMutablePointer<S>
  ) {
    for (flat, index) in indices.enumerated() {
      let (o, rest) = flat.quotientAndRemainder(dividingBy: picks * inner)
      out[flat] = x[(o * size + index) * inner + rest % inner]
    }
  }

  /// The transpose of ``gather(_:size:inner:indices:picks:_:)``: each
  /// element of `x` added onto `out` at its index (PyTorch's
  /// `scatter_add`).
  @inlinable
  static func scatterAdd<S: AdditiveArithmetic>(
    _ x: UnsafePointer<S>, size: Int, inner: Int, indices: [Int], picks: Int,
    into out: UnsafeMutablePointer<S>
  ) {
    for (flat, index) in indices.enumerated() {
      let (o, rest) = flat.quotientAndRemainder(dividingBy: picks * inner)
      out[(o * size + index) * inner + rest % inner] += x[flat]
    }
  }

  /// The slices of `x` at `indices` along the middle axis, in order
  /// (PyTorch's `index_select`): `out` is `[outer, indices.count, inner]`.
  @inlinable
  static func selectSlices<S>(
    _ x: UnsafePointer<S>, outer: Int, size: Int, inner: Int, indices: [Int],
    _ out: UnsafeMutablePointer<S>
  ) {
    for o in 0..<outer {
      for (k, index) in indices.enumerated() {
        (out + (o * indices.count + k) * inner).update(
          from: x + (o * size + index) * inner, count: inner)
      }
    }
  }

  /// Each slice of `slices` (`[outer, indices.count, inner]`) added onto
  /// `base` at its index along the middle axis when `accumulate`
  /// (`index_add`), or written over it otherwise (`index_copy`).
  @inlinable
  static func writeSlices<S: AdditiveArithmetic>(
    _ slices: UnsafePointer<S>, into base: UnsafeMutablePointer<S>, outer: Int, size: Int,
    inner: Int, indices: [Int], accumulate: Bool
  ) {
    for o in 0..<outer {
      for (k, index) in indices.enumerated() {
        let target = base + (o * size + index) * inner
        let source = slices + (o * indices.count + k) * inner
        if accumulate {
          for i in 0..<inner { target[i] += source[i] }
        } else {
          target.update(from: source, count: inner)
        }
      }
    }
  }

  /// Running sums along the middle axis, from its end when `reverse`.
  @inlinable
  static func cumulativeSum<S: AdditiveArithmetic>(
    _ x: UnsafePointer<S>, outer: Int, size: Int, inner: Int, reverse: Bool,
    _ out: UnsafeMutablePointer<S>
  ) {
    for o in 0..<outer {
      for i in 0..<inner {
        var total = S.zero
        for step in 0..<size {
          let k = reverse ? size - 1 - step : step
          let offset = (o * size + k) * inner + i
          total += x[offset]
          out[offset] = total
        }
      }
    }
  }

  /// `x` at each of `count` winners (flat indices), in the winners' order.
  @inlinable
  static func gather<S>(
    _ x: UnsafePointer<S>, atWinners winners: UnsafePointer<Int32>, count: Int,
    _ out: UnsafeMutablePointer<S>
  ) {
    for i in 0..<count { out[i] = x[Int(winners[i])] }
  }
}
