/// Elementary functions over whole buffers, eight lanes at a time on every
/// instruction set.
///
/// The C library evaluates `tanhf` one element at a time through `expm1f`
/// (about 20 ns each here); a rational approximation in SIMD registers
/// costs under a nanosecond and stays within 4e-7 of the exact value.
/// `expf` likewise becomes a range reduction and a polynomial, within 1 ulp
/// of the C library's. Double precision keeps the C library, which is exact
/// to the last bit that the gradient checks rely on.

/// Registers of single-precision lanes whose comparisons stay vector
/// instructions in code generic over the register's width: the standard
/// library's generic comparisons come out a lane at a time.
@usableFromInline
protocol FloatLanes: SIMD where Scalar == Float {
  /// `a ≤ b` in each lane (false where either is NaN).
  static func lanes(_ a: Self, atMost b: Self) -> SIMDMask<MaskStorage>
  /// `a < b` in each lane (false where either is NaN).
  static func lanes(_ a: Self, below b: Self) -> SIMDMask<MaskStorage>
  /// `a ≠ b` in each lane (true where either is NaN).
  static func lanes(_ a: Self, differentFrom b: Self) -> SIMDMask<MaskStorage>
}

extension SIMD8: FloatLanes where Scalar == Float {
  @usableFromInline @inline(__always)
  static func lanes(_ a: Self, atMost b: Self) -> SIMDMask<MaskStorage> { a .<= b }
  @usableFromInline @inline(__always)
  static func lanes(_ a: Self, below b: Self) -> SIMDMask<MaskStorage> { a .< b }
  @usableFromInline @inline(__always)
  static func lanes(_ a: Self, differentFrom b: Self) -> SIMDMask<MaskStorage> { a .!= b }
}

extension SIMD16: FloatLanes where Scalar == Float {
  @usableFromInline @inline(__always)
  static func lanes(_ a: Self, atMost b: Self) -> SIMDMask<MaskStorage> { a .<= b }
  @usableFromInline @inline(__always)
  static func lanes(_ a: Self, below b: Self) -> SIMDMask<MaskStorage> { a .< b }
  @usableFromInline @inline(__always)
  static func lanes(_ a: Self, differentFrom b: Self) -> SIMDMask<MaskStorage> { a .!= b }
}

extension KernelSet {
  /// `tanh` in single precision: `x·P(x²)/Q(x²)` (degrees 13 over 6, the
  /// coefficients of Eigen's `generic_fast_tanh_float`) on `x` clamped to
  /// ±7.905, where tanh rounds to ±1; `x` itself where `|x| < 4e-4` or `x`
  /// is NaN. The largest absolute error is 3.95e-7 (tanhf's is 6e-8). Every
  /// element goes through the same vector code, the tail included, so the
  /// result does not depend on the element's position.
  @inlinable
  static func tanhFloat(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int) {
    mapLanes(x, out, count: count, tanh8)
  }

  /// `out = f(x)` eight lanes at a time; the last, partial register is
  /// padded with zeros, so every element goes through the same code.
  @inlinable @inline(__always)
  static func mapLanes(
    _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int,
    _ f: (SIMD8<Float>) -> SIMD8<Float>
  ) {
    var i = 0
    while i < count {
      store(f(lanes(x + i, count: count - i)), out + i, count: count - i)
      i += 8
    }
  }

  /// Eight lanes of `p`; the lanes past `count` hold `fill`.
  @inlinable @inline(__always)
  static func lanes<S: KernelScalar & SIMDScalar>(
    _ p: UnsafePointer<S>, count: Int, fill: S = 0
  ) -> SIMD8<S> {
    if count >= 8 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD8<S>.self) }
    var v = SIMD8<S>(repeating: fill)
    for j in 0..<count { v[j] = p[j] }
    return v
  }

  /// Stores the first `count` (at most eight) lanes of `v` at `p`.
  @inlinable @inline(__always)
  static func store<S: KernelScalar & SIMDScalar>(
    _ v: SIMD8<S>, _ p: UnsafeMutablePointer<S>, count: Int
  ) {
    if count >= 8 {
      UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<S>.self)
      return
    }
    for j in 0..<count { p[j] = v[j] }
  }

  /// Eight lanes added in a fixed order.
  @inlinable @inline(__always)
  static func total<S: KernelScalar & SIMDScalar>(_ v: SIMD8<S>) -> S {
    ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]))
  }

  /// `eˣ` in single precision, within 1 ulp of `expf` over the tests' sweep
  /// of the whole range: `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`
  /// (Cody and Waite: `n·ln 2` in two parts, the first exact), `eʳ` by its
  /// Taylor polynomial of degree 7 (truncation below 1e-8 relative), and
  /// `2ⁿ` applied as two exact powers of two, so that a subnormal result is
  /// rounded once. Above 88.72 the result is +∞, below −103.98 it is 0, and
  /// NaN stays NaN. The multiply-adds are fused on the sets that fuse, so
  /// AVX2 and AVX-512 give the same bits; the baseline set rounds each
  /// product and may differ in the last bit.
  @inlinable
  static func expFloat(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int) {
    mapLanes(x, out, count: count, exponential)
  }

  /// The `exp` of ``expFloat(_:_:count:)`` on a register of any number of
  /// lanes, each lane's result the same. Transparent, so that it is
  /// inlined into the row loops of softmax (as `@inline(__always)` it
  /// stayed a call, with its constants loaded again for every register).
  @usableFromInline @_transparent
  static func exponential<V: FloatLanes>(_ v: V) -> V {
    let (upper, lower) = (V(repeating: 88.722_839_355_468_75), V(repeating: -103.972_084))
    let x = v.replacing(with: 89, where: V.lanes(V(repeating: 89), below: v))
      .replacing(with: -104, where: .!V.lanes(V(repeating: -104), atMost: v))
    let (p, whole) = reducedExponential(x)
    // 2ⁿ as 2^(n − h) · 2^h with h = n / 2 rounded down, both normal.
    let (one, bias, exponentShift) = (
      V.MaskStorage(repeating: 1), V.MaskStorage(repeating: 127), V.MaskStorage(repeating: 23)
    )
    let half = whole &>> one
    let rest = whole &- half
    let scaleA = unsafeBitCast((half &+ bias) &<< exponentShift, to: V.self)
    let scaleB = unsafeBitCast((rest &+ bias) &<< exponentShift, to: V.self)
    let result = p * scaleA * scaleB
    return
      result
      .replacing(with: Float.infinity, where: V.lanes(upper, below: v))
      .replacing(with: 0, where: V.lanes(v, below: lower))
      .replacing(with: v, where: V.lanes(v, differentFrom: v))
  }

  /// `eˣ` for `x ≤ 0` or NaN, the arguments of softmax rows: the same bits
  /// as ``exponential(_:)`` there, with less work. Nothing overflows, so
  /// there is no upper clamp; arguments below −104 are raised to −104,
  /// whose exponential rounds to 0 as theirs does (below −103.972 the
  /// result is under half the least subnormal); NaN passes through the
  /// arithmetic and stays NaN; and with `n` from −150 to 0, `2ⁿ` is
  /// applied as `2ⁿ⁺⁶⁴` (the product exact) and then `2⁻⁶⁴` (rounding
  /// once), where ``exponential(_:)`` splits it in two halves to the same
  /// effect.
  @usableFromInline @_transparent
  static func exponentialOfNonpositive<V: FloatLanes>(_ v: V) -> V {
    let x = v.replacing(with: -104, where: V.lanes(v, below: V(repeating: -104)))
    let (p, whole) = reducedExponential(x)
    let scale = unsafeBitCast(
      (whole &+ V.MaskStorage(repeating: 127 + 64)) &<< V.MaskStorage(repeating: 23), to: V.self)
    return p * scale * V(repeating: 0x1p-64)
  }

  /// The two exponentials' common part: `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`
  /// (Cody and Waite: `n·ln 2` in two parts, the first exact), and `eʳ`
  /// by its Taylor polynomial of degree 7. Returns `eʳ` and `n`.
  @usableFromInline @_transparent
  static func reducedExponential<V: FloatLanes>(_ x: V) -> (V, V.MaskStorage) {
    // n = round(x / ln 2), by adding and subtracting 1.5·2²³: the sum's
    // low bits hold n as an integer.
    let shifter = V(repeating: 12_582_912)
    var shifted = shifter
    multiplyAdd(&shifted, x, V(repeating: 1.442_695_040_888_963_4))
    let n = shifted - shifter
    let whole =
      unsafeBitCast(shifted, to: V.MaskStorage.self)
      &- unsafeBitCast(shifter, to: V.MaskStorage.self)
    var r = x
    multiplyAdd(&r, n, V(repeating: -0.693_359_375))
    multiplyAdd(&r, n, V(repeating: 2.121_944_400_546_905_8e-4))
    var p = V(repeating: 1 / 5040)
    p = polynomialStep(p, r, 1 / 720)
    p = polynomialStep(p, r, 1 / 120)
    p = polynomialStep(p, r, 1 / 24)
    p = polynomialStep(p, r, 1 / 6)
    p = polynomialStep(p, r, 1 / 2)
    p = polynomialStep(p, r, 1)
    p = polynomialStep(p, r, 1)
    return (p, whole)
  }

  /// `acc · x + c`, fused on sets that fuse.
  @inlinable @inline(__always)
  static func polynomialStep<V: SIMD>(_ acc: V, _ x: V, _ c: Float) -> V where V.Scalar == Float {
    var result = V(repeating: c)
    multiplyAdd(&result, acc, x)
    return result
  }

  @inlinable @inline(__always)
  static func tanh8(_ v: SIMD8<Float>) -> SIMD8<Float> {
    let limit: Float = 7.905_311_107_635_498_05
    // (`clamped` is a generic call per vector; comparisons inline.)
    let x = v.replacing(with: limit, where: v .> limit).replacing(with: -limit, where: v .< -limit)
    let x2 = x * x
    var p = SIMD8<Float>(repeating: -2.760_768_477_423_55e-16)
    p = polynomialStep(p, x2, 2.000_187_904_824_77e-13)
    p = polynomialStep(p, x2, -8.604_671_522_137_35e-11)
    p = polynomialStep(p, x2, 5.122_297_090_371_14e-08)
    p = polynomialStep(p, x2, 1.485_722_357_179_79e-05)
    p = polynomialStep(p, x2, 6.372_619_288_754_36e-04)
    p = polynomialStep(p, x2, 4.893_524_558_917_86e-03)
    p *= x
    var q = SIMD8<Float>(repeating: 1.198_258_394_667_02e-06)
    q = polynomialStep(q, x2, 1.185_347_056_866_54e-04)
    q = polynomialStep(q, x2, 2.268_434_632_439_00e-03)
    q = polynomialStep(q, x2, 4.893_525_185_543_85e-03)
    // Tiny inputs are their own tanh; NaN (unordered with itself) stays NaN,
    // where the clamp would have made it ±7.905.
    let passesThrough = (v .< 4e-4) .& (v .> -4e-4) .| (v .!= v)
    return (p / q).replacing(with: v, where: passesThrough)
  }
}

extension KernelSet {
  /// `out[i] = x[i] ≥ 0 ? x[i] : 0`: the rectifier, with the tie at 0
  /// going to `x` and NaN to 0, as the max gate decides them. (A plain
  /// loop: the generic `replacing(with:where:)` on registers compiles to
  /// lane-by-lane code and ran several times slower.)
  @inlinable
  static func rectify<S: BinaryFloatingPoint>(
    _ x: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, count: Int
  ) {
    for i in 0..<count { out[i] = x[i] >= 0 ? x[i] : 0 }
  }

  /// `out[i] = x[i] ≥ 0 ? upstream[i] : 0`: the upstream gradient where
  /// the rectifier passed its input through.
  @inlinable
  static func rectifierGradient<S: BinaryFloatingPoint>(
    _ upstream: UnsafePointer<S>, _ x: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>,
    count: Int
  ) {
    for i in 0..<count { out[i] = x[i] >= 0 ? upstream[i] : 0 }
  }
}
