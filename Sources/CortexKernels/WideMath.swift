/// Single-precision elementary functions computed in `Double`: `log`,
/// `erf`, the sigmoid, SiLU, softplus, and GELU's tanh form with its
/// derivative (exact GELU has a file of its own, `GELU.swift`).
///
/// Each float is widened (exactly), the function is evaluated in `Double`
/// by range reduction and polynomials whose relative error is below 1e-10
/// (`x²` of a float is exact in `Double`, and nothing underflows before
/// the final rounding), and the result is rounded to `Float` once. It is
/// then within 1 ulp of the C library's function computed in `Double` and
/// rounded, the reference the scalar path uses: over the tests' sweep of
/// every 1999th float, `erf` and GELU's tanh form are 1 ulp off at worst, the
/// others never. Special values follow that reference formula: the
/// functions are written in the same algebraic form, so ±0, ±∞ and NaN come
/// out as the formula gives them.
///
/// The functions are straight-line code on one `Double`, with selects in
/// place of branches, in loops that the compiler vectorizes for the set's
/// registers (eight lanes with AVX-512, four with AVX2; written with
/// `SIMD4<Double>`, the same code came out partly scalar). The functions
/// are `@_transparent`, inlined before the loops are specialized (as
/// `@inline(__always)` they stayed calls, one per element), and each loop
/// is a function of its own. Each element
/// goes through the same operations whatever its position, and the
/// multiply-adds are fused on the sets that fuse, so AVX2 and AVX-512 give
/// the same bits; the baseline set rounds each product, an error of about
/// 1e-16 that changes a rounded float only in rare near-ties (within the
/// same 1-ulp bound).

extension KernelSet {
  /// `a · b + c`, fused on sets that fuse.
  @usableFromInline @_transparent
  static func multiplyAdd(_ a: Double, _ b: Double, _ c: Double) -> Double {
    fusesMultiplyAdd ? c.addingProduct(a, b) : c + a * b
  }

  /// `x = n·ln 2 + r` with `n = round(x / ln 2)` and `|r| ≤ ln 2 / 2`
  /// (Cody and Waite), for `|x| ≤ 708`: `n` as an integer, and `r`.
  @usableFromInline @_transparent
  static func reducedExponent(_ x: Double) -> (n: Int64, r: Double) {
    // n = round(x / ln 2), by adding and subtracting 1.5·2⁵².
    let shifter = 6_755_399_441_055_744.0
    let shifted = multiplyAdd(x, 1.442_695_040_888_963_4, shifter)
    let n = shifted - shifter
    let whole = Int64(bitPattern: shifted.bitPattern) &- Int64(bitPattern: shifter.bitPattern)
    // ln 2 in two parts, the first with 32 significant bits: n times it is
    // exact.
    let r = multiplyAdd(n, -6.931_471_803_691_238_164_90e-01, x)
    return (whole, multiplyAdd(n, -1.908_214_929_270_587_700_02e-10, r))
  }

  /// The last seven steps of `eʳ`'s Taylor polynomial by Horner's rule:
  /// `p` holds the coefficients from `1/7!` up, already evaluated.
  @usableFromInline @_transparent
  static func exponentialSeries(_ p: Double, _ r: Double) -> Double {
    var p = multiplyAdd(p, r, 1 / 720)
    p = multiplyAdd(p, r, 1 / 120)
    p = multiplyAdd(p, r, 1 / 24)
    p = multiplyAdd(p, r, 1 / 6)
    p = multiplyAdd(p, r, 1 / 2)
    p = multiplyAdd(p, r, 1)
    return multiplyAdd(p, r, 1)
  }

  /// `2ⁿ` for a normal power, built in the exponent bits.
  @usableFromInline @_transparent
  static func powerOfTwo(_ n: Int64) -> Double {
    Double(bitPattern: UInt64(bitPattern: (n &+ 1023) &<< 52))
  }

  /// `eʸ`, relative error below 1e-14: `y = n·ln 2 + r` with
  /// `|r| ≤ ln 2 / 2` (Cody and Waite), `eʳ` by its Taylor polynomial of
  /// degree 11, `2ⁿ` built in the exponent bits. Below −708 the result is
  /// 0, above 708 it is +∞ (where `Float` results have long rounded to 0
  /// or overflowed), and NaN stays NaN.
  @usableFromInline @_transparent
  static func wideExp(_ y: Double) -> Double {
    let x = y > 708 ? 708 : (y >= -708 ? y : -708)
    let (whole, r) = reducedExponent(x)
    var p = 1.0 / 39_916_800
    p = multiplyAdd(p, r, 1 / 3_628_800)
    p = multiplyAdd(p, r, 1 / 362_880)
    p = multiplyAdd(p, r, 1 / 40_320)
    let result = exponentialSeries(multiplyAdd(p, r, 1 / 5_040), r) * powerOfTwo(whole)
    let saturated = y > 708 ? .infinity : (y < -708 ? 0 : result)
    return y != y ? y : saturated
  }

  /// `ln x` for positive, finite, normal `x`, relative error below 1e-12:
  /// `x = 2ᵉ·m` with `m` in [√½, √2), and `ln m = 2 atanh s` with
  /// `s = (m − 1)/(m + 1)`, `|s| ≤ 0.172`, by its series to `s¹³`.
  @usableFromInline @_transparent
  static func wideLog(_ x: Double) -> Double {
    let bits = x.bitPattern
    let reduced = Double(bitPattern: bits & 0x000F_FFFF_FFFF_FFFF | 0x3FF0_0000_0000_0000)
    let high = reduced > 1.414_213_562_373_095_1
    let m = high ? reduced * 0.5 : reduced
    // The biased exponent placed in the low bits of 2⁵²'s significand.
    let biased = Double(bitPattern: bits >> 52 | 0x4330_0000_0000_0000) - 4_503_599_627_370_496
    let e = biased - (high ? 1022 : 1023)
    let s = (m - 1) / (m + 1)
    let z = s * s
    var p = 1.0 / 13
    p = multiplyAdd(p, z, 1 / 11)
    p = multiplyAdd(p, z, 1 / 9)
    p = multiplyAdd(p, z, 1 / 7)
    p = multiplyAdd(p, z, 1 / 5)
    p = multiplyAdd(p, z, 1 / 3)
    p = multiplyAdd(p, z, 1)
    return multiplyAdd(e, 0.693_147_180_559_945_3, (2 * s) * p)
  }

  /// `ln x` with the C library's special values: −∞ at ±0, NaN below 0,
  /// +∞ at +∞, NaN for NaN. Widened floats are never subnormal.
  @usableFromInline @_transparent
  static func logWide(_ x: Double) -> Double {
    let valid = x > 0 && x < .infinity
    let logarithm = wideLog(valid ? x : 1)
    return valid ? logarithm : (x == 0 ? -.infinity : (x >= 0 ? x : .nan))
  }

  /// `erf(a) / a` for `a² = z ≤ 0.5625` (Chebyshev fit, relative error
  /// 2.6e-11).
  @usableFromInline @_transparent
  static func erfOverArgument(_ z: Double) -> Double {
    var p = 9.470_461_781_593_866_6e-5
    p = multiplyAdd(p, z, -8.356_927_920_014_205_7e-4)
    p = multiplyAdd(p, z, 5.216_789_489_921_039_7e-3)
    p = multiplyAdd(p, z, -2.686_477_180_205_233_9e-2)
    p = multiplyAdd(p, z, 1.128_377_864_291_798_6e-1)
    p = multiplyAdd(p, z, -3.761_263_844_667_973_9e-1)
    return multiplyAdd(p, z, 1.128_379_167_069_327_1)
  }

  /// `erfc a` for `a ≥ 0.75`, given `e = e^(−a²)`: `e · R(t)` with
  /// `R = erfc·e^(a²)` fitted (Chebyshev, relative error 7.4e-12) in
  /// `t = (a − 3)/(a + 3)` over `a` up to 10.5, and held there beyond
  /// (where `e` alone is below 1e-47).
  @usableFromInline @_transparent
  static func erfcOfLarge(_ a: Double, expOfMinusSquare e: Double) -> Double {
    let clamped = a <= 10.5 ? a : 10.5
    let t = (clamped - 3) / (clamped + 3)
    var p = -7.242_037_704_021_607_3e-6
    p = multiplyAdd(p, t, -1.087_211_284_242_876_7e-5)
    p = multiplyAdd(p, t, 6.399_415_164_390_216_8e-5)
    p = multiplyAdd(p, t, 4.449_328_417_149_892_6e-5)
    p = multiplyAdd(p, t, -5.971_075_900_605_460_4e-4)
    p = multiplyAdd(p, t, 7.078_892_514_220_703_3e-4)
    p = multiplyAdd(p, t, 4.269_148_663_817_100_2e-3)
    p = multiplyAdd(p, t, -2.439_251_246_334_530_9e-2)
    p = multiplyAdd(p, t, 7.166_583_610_886_977_6e-2)
    p = multiplyAdd(p, t, -1.501_159_359_782_306_6e-1)
    p = multiplyAdd(p, t, 2.456_038_017_440_734e-1)
    p = multiplyAdd(p, t, -3.262_335_600_490_145_1e-1)
    p = multiplyAdd(p, t, 1.790_011_511_812_473_7e-1)
    return e * p
  }

  /// The error function: `x·P(x²)` below 0.75, `±(1 − erfc|x|)` above.
  @usableFromInline @_transparent
  static func erfWide(_ x: Double) -> Double {
    let a = Swift.abs(x)
    let square = a * a
    let small = x * erfOverArgument(square)
    let large = 1 - erfcOfLarge(a, expOfMinusSquare: wideExp(-square))
    return a < 0.75 ? small : (x < 0 ? -large : large)
  }

  /// `σ(2u)` and `u′` for the tanh form of GELU, `u = √(2/π)(x + 0.044715x³)`:
  /// `(1 + tanh u)/2 = σ(2u)`, which stays accurate where `tanh u` rounds
  /// to −1.
  @usableFromInline @_transparent
  static func geluTanhParts(_ x: Double) -> (sigmoid: Double, slope: Double) {
    let c = 0.797_884_560_802_865_4
    let square = x * x
    let inner = multiplyAdd(square, 0.044_715, 1)
    let s = 1 / (1 + wideExp(-2 * c * x * inner))
    return (s, multiplyAdd(square, 3 * 0.044_715 * c, c))
  }

  /// GELU's tanh form, `x·σ(2u)`.
  @usableFromInline @_transparent
  static func geluTanhWide(_ x: Double) -> Double {
    x * geluTanhParts(x).sigmoid
  }

  /// The derivative of GELU's tanh form, `s + 2x·s(1 − s)·u′` with
  /// `s = σ(2u)`.
  @usableFromInline @_transparent
  static func geluTanhDerivativeWide(_ x: Double) -> Double {
    let (s, slope) = geluTanhParts(x)
    return s + 2 * x * s * (1 - s) * slope
  }

  /// An upstream gradient `g` through GELU's tanh form at `x`.
  @usableFromInline @_transparent
  static func geluTanhGradientWide(_ g: Double, _ x: Double) -> Double {
    g * geluTanhDerivativeWide(x)
  }

  /// The sigmoid `1/(1 + e⁻ˣ)`.
  @usableFromInline @_transparent
  static func sigmoidWide(_ x: Double) -> Double {
    1 / (1 + wideExp(-x))
  }

  /// SiLU `x/(1 + e⁻ˣ)`.
  @usableFromInline @_transparent
  static func siluWide(_ x: Double) -> Double {
    x / (1 + wideExp(-x))
  }

  /// Softplus `max(x, 0) + ln(1 + e^(−|x|))`, with `ln(1 + y)` as
  /// `ln u − ((u − 1) − y)/u` for `u = 1 + y`, which corrects the rounding
  /// of `u`.
  @usableFromInline @_transparent
  static func softplusWide(_ x: Double) -> Double {
    let y = wideExp(-Swift.abs(x))
    let u = 1 + y
    let logarithm = wideLog(u == u ? u : 1) - ((u - 1) - y) / u
    return (x < 0 ? 0 : x) + logarithm
  }
}

extension KernelSet {
  // The loops over buffers, one function each: in one larger function the
  // compiler stops inlining before it vectorizes.

  /// `out[i]` = `ln x` of `x[i]`.
  @inlinable @inline(never)
  static func logFloats(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { out[i] = Float(logWide(Double(x[i]))) }
  }

  /// `out[i]` = the sigmoid of `x[i]`.
  @inlinable @inline(never)
  static func sigmoidFloats(
    _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int
  ) {
    for i in 0..<count { out[i] = Float(sigmoidWide(Double(x[i]))) }
  }

  /// `out[i]` = `erf x` of `x[i]`.
  @inlinable @inline(never)
  static func erfFloats(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { out[i] = Float(erfWide(Double(x[i]))) }
  }

  /// `out[i]` = softplus of `x[i]`.
  @inlinable @inline(never)
  static func softplusFloats(
    _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int
  ) {
    for i in 0..<count { out[i] = Float(softplusWide(Double(x[i]))) }
  }

  /// `out[i]` = SiLU of `x[i]`.
  @inlinable @inline(never)
  static func siluFloats(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int)
  {
    for i in 0..<count { out[i] = Float(siluWide(Double(x[i]))) }
  }

  /// `out[i]` = GELU's tanh form of `x[i]`.
  @inlinable @inline(never)
  static func geluTanhFloats(
    _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int
  ) {
    for i in 0..<count { out[i] = Float(geluTanhWide(Double(x[i]))) }
  }

  /// `out[i]` = the upstream gradient `g[i]` through GELU's tanh form at `x[i]`.
  @inlinable @inline(never)
  static func geluTanhGradientFloats(
    _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
    count: Int
  ) {
    for i in 0..<count { out[i] = Float(geluTanhGradientWide(Double(g[i]), Double(x[i]))) }
  }
}
