/// GELU and its gradient in single-precision lanes, on the sets that fuse
/// multiply-adds (the baseline set keeps the `Double` forms of WideMath).
///
/// Both rest on the normal tail `Φ(−u) = e^(−u²/2)·R(u)/2` for `u = |x|`,
/// where `R(u) = erfc(u/√2)·e^(u²/2)` falls smoothly from 1 at `u = 0` to
/// about `√(2/π)/u`, and on the symmetry `GELU′(x) + GELU′(−x) = 1`:
///
/// - `GELU(x) = x·Φ(−u)` for `x < 0` and `x − x·Φ(−u)` (one fused
///   multiply-add) for `x ≥ 0`;
/// - `GELU′(−u) = e^(−u²/2)·Q(u)` with `Q(u) = R(u)/2 − u/√(2π)`, and
///   `GELU′(u) = 1 − e^(−u²/2)·Q(u)`. `Q` has one root, `u₀ = 0.75179…`
///   (where GELU′ crosses zero), so it is computed as `(u₀ − u)·H(u)`
///   with `u₀` in two parts: near the root, where the two terms of
///   `Φ(x) + x·φ(x)` cancel, the result keeps its relative accuracy.
///
/// `R` (through `R·(u + 4)/8`) and `H` are polynomials of degrees 10 and 9
/// in `t = (u − 4)/(u + 4)`, weighted least-squares fits over `u` in
/// [0, 15] with relative errors of 1.3e-9 and 5.8e-10. `e^(−u²/2)` is computed from `u²` split exactly into
/// a rounded part and its remainder (a fused multiply-add), so the large
/// exponents of the tail carry no rounding error: `e^(−h)` by Cody and
/// Waite's reduction, a Taylor polynomial of degree 7, and `2ⁿ` as two
/// powers of two, so a subnormal result is rounded once. From `u = 15` on
/// the tail is 0 (`Φ(−15)` is 4e-51).
///
/// Over the tests' sweep of every 1999th float, GELU is within 5 ulp of the
/// C library's formula computed in `Double` and rounded once, and the
/// gradient `g·GELU′(x)` within 4 ulp. That is looser than the 1 ulp of the
/// `Double` forms: each of the dozen roundings in single precision (of
/// `t` above all, whose error the tail's steep polynomial magnifies) adds
/// to it. The lanes are eight single-precision values where WideMath's are
/// four doubles, and the polynomials are half as long, which makes GELU's
/// forward and backward passes about three times as fast.
/// Special values follow that formula: GELU(−∞) is NaN (`−∞ · 0`), as is
/// GELU′(±∞) (`∞ · 0`).
extension KernelSet {
  /// `a · b + c` in single precision, fused on sets that fuse.
  @usableFromInline @_transparent
  static func multiplyAdd(_ a: Float, _ b: Float, _ c: Float) -> Float {
    fusesMultiplyAdd ? c.addingProduct(a, b) : c + a * b
  }

  /// `e^(−u²/2)` for `0 ≤ u < 15`, as a normal `mantissa` times a power of
  /// two `scale`: a caller applies `scale` last, so that a result that is
  /// subnormal is rounded once, not a subnormal factor carried through.
  @usableFromInline @_transparent
  static func gaussian(_ u: Float) -> (mantissa: Float, scale: Float) {
    let square = u * u
    // u² = square + remainder exactly.
    let remainder = multiplyAdd(u, u, -square)
    let h = square * -0.5
    // n = round(h / ln 2), by adding and subtracting 1.5·2²³.
    let shifter: Float = 12_582_912
    let shifted = multiplyAdd(h, 1.442_695_04, shifter)
    let n = shifted - shifter
    let whole = Int32(bitPattern: shifted.bitPattern) &- Int32(bitPattern: shifter.bitPattern)
    // ln 2 in two parts, the first with 9 significant bits: n times it is
    // exact.
    var r = multiplyAdd(n, -0.693_359_375, h)
    r = multiplyAdd(n, 2.121_944_400_546_905_8e-4, r)
    r = multiplyAdd(remainder, -0.5, r)
    var p: Float = 1 / 5040
    p = multiplyAdd(p, r, 1 / 720)
    p = multiplyAdd(p, r, 1 / 120)
    p = multiplyAdd(p, r, 1 / 24)
    p = multiplyAdd(p, r, 1 / 6)
    p = multiplyAdd(p, r, 1 / 2)
    p = multiplyAdd(p, r, 1)
    p = multiplyAdd(p, r, 1)
    // 2ⁿ as 2^(n − k)·2^k with k = n/2 rounded down, both normal.
    let half = whole &>> 1
    let rest = whole &- half
    let scaleA = Float(bitPattern: UInt32(bitPattern: (half &+ 127) &<< 23))
    let scaleB = Float(bitPattern: UInt32(bitPattern: (rest &+ 127) &<< 23))
    return (p * scaleA, scaleB)
  }

  /// `t = (u − 4)/(u + 4)`, the variable of the tail's polynomials.
  @usableFromInline @_transparent
  static func tailVariable(_ u: Float) -> Float {
    (u - 4) / (u + 4)
  }

  /// `R(u) = erfc(u/√2)·e^(u²/2)` at `t`, as `R̃(t)·(1 − t)`, where
  /// `R̃(u) = R(u)·(u + 4)/8` (`1 − t` is `8/(u + 4)`) levels off where `R`
  /// decays like `1/u`, so its polynomial's terms cancel less.
  @usableFromInline @_transparent
  static func normalTailRatio(_ t: Float) -> Float {
    var p: Float = -1.1265618923061993e-05
    p = multiplyAdd(p, t, -5.4821550293127075e-05)
    p = multiplyAdd(p, t, 4.2965137254213914e-05)
    p = multiplyAdd(p, t, 0.0004088720597792417)
    p = multiplyAdd(p, t, -0.0008730550762265921)
    p = multiplyAdd(p, t, -0.0018856534734368324)
    p = multiplyAdd(p, t, 0.015099587850272655)
    p = multiplyAdd(p, t, -0.04663039371371269)
    p = multiplyAdd(p, t, 0.0967843234539032)
    p = multiplyAdd(p, t, -0.151974156498909)
    return multiplyAdd(p, t, 0.18882128596305847) * (1 - t)
  }

  /// `H(u) = Q(u)/(u₀ − u)` at `t`.
  @usableFromInline @_transparent
  static func derivativeTailQuotient(_ t: Float) -> Float {
    var p: Float = -1.610_698_745_935_224e-05
    p = multiplyAdd(p, t, -1.308_532_046_095_933_8e-05)
    p = multiplyAdd(p, t, 1.855_449_081_631_377_3e-04)
    p = multiplyAdd(p, t, -1.565_765_996_929_258e-04)
    p = multiplyAdd(p, t, -1.788_394_176_401_198e-03)
    p = multiplyAdd(p, t, 9.505_312_889_814_377e-03)
    p = multiplyAdd(p, t, -2.808_333_188_295_364_4e-02)
    p = multiplyAdd(p, t, 6.046_291_440_725_326_5e-02)
    p = multiplyAdd(p, t, -1.033_658_981_323_242_2e-01)
    return multiplyAdd(p, t, 4.622_112_512_588_501e-01)
  }

  /// GELU `x·Φ(x)`.
  @usableFromInline @_transparent
  static func geluLane(_ x: Float) -> Float {
    let u = Swift.abs(x)
    let inTail = u < 15
    let v = inTail ? u : 0
    let (mantissa, scale) = gaussian(v)
    let ratio = normalTailRatio(tailVariable(v)) * 0.5
    let below = x * ratio * mantissa * (inTail ? scale : 0)
    let above = inTail ? multiplyAdd(-x, ratio * mantissa * scale, x) : x
    return x < 0 ? below : above
  }

  /// `g·GELU′(x)`.
  @usableFromInline @_transparent
  static func geluGradientLane(_ g: Float, _ x: Float) -> Float {
    let u = Swift.abs(x)
    let inTail = u < 15
    let v = inTail ? u : 0
    let distance = (0.751_791_536_808_013_9 - v) - 1.211_444_945_855_772e-08
    let (mantissa, scale) = gaussian(v)
    let mirrored = distance * derivativeTailQuotient(tailVariable(v)) * mantissa
    let tail = inTail ? scale : 0
    // x − x is NaN at ±∞ and NaN, as the formula's `x·φ(x)` is.
    let nan = x - x
    let below = g * mirrored * tail + nan
    let above = g * (multiplyAdd(-mirrored, tail, 1) + nan)
    return x < 0 ? below : above
  }

  /// `out[i]` = GELU of `x[i]`, in single-precision lanes.
  @inlinable @inline(never)
  static func geluLanes(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { out[i] = geluLane(x[i]) }
  }

  /// `out[i]` = the upstream gradient `g[i]` through GELU at `x[i]`, in
  /// single-precision lanes.
  @inlinable @inline(never)
  static func geluGradientLanes(
    _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
    count: Int
  ) {
    for i in 0..<count { out[i] = geluGradientLane(g[i], x[i]) }
  }
}
