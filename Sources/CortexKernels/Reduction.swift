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
  /// inputs in order of `k`, `V` registers of outputs at a time.
  @inlinable
  static func sum<V: SIMD>(
    _: V.Type, _ x: UnsafePointer<V.Scalar>, outer: Int, axis: Int, inner: Int,
    _ out: UnsafeMutablePointer<V.Scalar>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    if inner == 1 {
      for o in 0..<outer { out[o] = vectorSum(x + o * axis, count: axis) }
      return
    }
    for o in 0..<outer {
      let po = out + o * inner
      po.update(repeating: 0, count: inner)
      for k in 0..<axis {
        addRow(V.self, x + (o * axis + k) * inner, into: po, count: inner)
      }
    }
  }
}
