/// Sums over buffers, in an order that does not depend on the register
/// width: eight interleaved partial sums on every instruction set, so that
/// every set gives the same bits.

extension KernelSet {
  /// The sum of `count` scalars, in eight interleaved partial sums (two
  /// blocks of eight per step), then the rest one by one.
  @inlinable
  static func vectorSum<S: BinaryFloatingPoint & SIMDScalar>(_ x: UnsafePointer<S>, count: Int)
    -> S
  {
    var (a, b) = (SIMD8<S>(), SIMD8<S>())
    var i = 0
    while i + 16 <= count {
      a += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<S>.self)
      b += UnsafeRawPointer(x + i + 8).loadUnaligned(as: SIMD8<S>.self)
      i += 16
    }
    var sum = (a + b).sum()
    while i < count {
      sum += x[i]
      i += 1
    }
    return sum
  }

  /// Sums the middle axis of a buffer viewed as `[outer, axis, inner]`:
  /// `out[o, i] = Σₖ x[o, k, i]`. Along a contiguous axis (`inner == 1`)
  /// through ``vectorSum(_:count:)``; otherwise each output adds its
  /// inputs in order of `k`, `V` registers of outputs at a time. The
  /// outputs are shared out among the pool's threads (by `o`, or by blocks
  /// of `i` when there are fewer `o` than threads); each output's own
  /// order of additions stays the same, and so do the bits.
  @inlinable
  static func sum<V: SIMD>(
    _: V.Type, _ x: UnsafePointer<V.Scalar>, outer: Int, axis: Int, inner: Int,
    _ out: UnsafeMutablePointer<V.Scalar>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    if inner == 1 {
      forEachChunk(of: outer, costPerItem: axis) { _, range in
        for o in range { out[o] = vectorSum(x + o * axis, count: axis) }
      }
      return
    }
    if outer >= WorkerPool.threadCount {
      forEachChunk(of: outer, costPerItem: axis * inner) { _, range in
        for o in range {
          sumColumns(
            V.self, x + o * axis * inner, axis: axis, inner: inner, columns: 0..<inner,
            out + o * inner)
        }
      }
      return
    }
    // Blocks of 16 columns keep the registers whole.
    let blocks = (inner + 15) / 16
    for o in 0..<outer {
      forEachChunk(of: blocks, costPerItem: axis * 16) { _, range in
        let columns = range.lowerBound * 16..<Swift.min(range.upperBound * 16, inner)
        sumColumns(
          V.self, x + o * axis * inner, axis: axis, inner: inner, columns: columns,
          out + o * inner)
      }
    }
  }

  /// `out[i] = Σₖ x[k, i]` for `i` in `columns`, of a `[axis, inner]`
  /// buffer: the rows added in order of `k`.
  @inlinable @inline(__always)
  static func sumColumns<V: SIMD>(
    _: V.Type, _ x: UnsafePointer<V.Scalar>, axis: Int, inner: Int, columns: Range<Int>,
    _ out: UnsafeMutablePointer<V.Scalar>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    let target = out + columns.lowerBound
    target.update(repeating: 0, count: columns.count)
    for k in 0..<axis {
      addRow(V.self, x + k * inner + columns.lowerBound, into: target, count: columns.count)
    }
  }
}
