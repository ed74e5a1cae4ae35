/// GELU and its gradient for single-precision tensors, computed in
/// `Double` lanes with polynomials as short as a `Float` result allows.
///
/// Both rest on the normal tail `Φ(−u) = e^(−u²/2)·R(u)/2` for `u = |x|`,
/// where `R(u) = erfc(u/√2)·e^(u²/2)` falls smoothly from 1 at `u = 0` to
/// about `√(2/π)/u`, and on the symmetry `GELU′(x) + GELU′(−x) = 1`:
///
/// - `GELU(x) = x·Φ(−u)` for `x < 0` and `x − x·Φ(−u)` for `x ≥ 0`;
/// - `GELU′(−u) = e^(−u²/2)·Q(u)` with `Q(u) = R(u)/2 − u/√(2π)`, and
///   `GELU′(u) = 1 − e^(−u²/2)·Q(u)`. `Q` has one root, `u₀ = 0.75179…`
///   (where GELU′ crosses zero), so it is computed as `(u₀ − u)·H(u)`:
///   near the root, where the two terms of `Φ(x) + x·φ(x)` cancel, the
///   result keeps its relative accuracy.
///
/// `R` (through `R·(u + 4)/8`, which levels off where `R` decays like
/// `1/u`) and `H` are polynomials of degrees 10 and 9 in
/// `t = (u − 4)/(u + 4)`, weighted least-squares fits over `u` in [0, 15]
/// with relative errors of 1.3e-9 and 5.8e-10; `e^(−u²/2)` is Cody and
/// Waite's reduction with a Taylor polynomial of degree 7 (5.2e-9). A
/// widened float's square is exact in `Double`, and no step underflows, so
/// the result, rounded to `Float` once, is within 1 ulp of the C library's
/// formula computed in `Double` and rounded. From `u = 15` on the tail is 0
/// (`Φ(−15)` is 4e-51). Special values follow that formula: GELU(−∞) is
/// NaN (`−∞ · 0`), as is GELU′(±∞) (`∞ · 0`).
///
/// One formula serves every input, where WideMath's `erf` computes a
/// central and a tail branch for each, and the polynomials are half as
/// long as a `Double` result would need: GELU's passes cost about a third
/// of what they cost through `erf`.
extension KernelSet {
  /// `e^(−u²/2)` for `0 ≤ u < 15`, relative error below 1e-8.
  @usableFromInline @_transparent
  static func gaussian(_ u: Double) -> Double {
    let (n, r) = reducedExponent(u * u * -0.5)
    return exponentialSeries(1 / 5040, r) * powerOfTwo(n)
  }

  /// `t = (u − 4)/(u + 4)`, the variable of the tail's polynomials.
  @usableFromInline @_transparent
  static func tailVariable(_ u: Double) -> Double {
    (u - 4) / (u + 4)
  }

  /// `R(u) = erfc(u/√2)·e^(u²/2)` at `t`, as `R̃(t)·(1 − t)` with
  /// `R̃(u) = R(u)·(u + 4)/8` (`1 − t` is `8/(u + 4)`).
  @usableFromInline @_transparent
  static func normalTailRatio(_ t: Double) -> Double {
    var p = -1.1265402979666883e-05
    p = multiplyAdd(p, t, -5.482119277142646e-05)
    p = multiplyAdd(p, t, 4.296507157344146e-05)
    p = multiplyAdd(p, t, 0.0004088717465360473)
    p = multiplyAdd(p, t, -0.0008730550866707463)
    p = multiplyAdd(p, t, -0.0018856534312118396)
    p = multiplyAdd(p, t, 0.015099588314049256)
    p = multiplyAdd(p, t, -0.04663039348118683)
    p = multiplyAdd(p, t, 0.09678432623411878)
    p = multiplyAdd(p, t, -0.15197416233924882)
    return multiplyAdd(p, t, 0.18882128282395153) * (1 - t)
  }

  /// `H(u) = Q(u)/(u₀ − u)` at `t`.
  @usableFromInline @_transparent
  static func derivativeTailQuotient(_ t: Double) -> Double {
    var p = -1.6106875999923748e-05
    p = multiplyAdd(p, t, -1.3085086584232325e-05)
    p = multiplyAdd(p, t, 0.0001855449677591603)
    p = multiplyAdd(p, t, -0.00015657674048701054)
    p = multiplyAdd(p, t, -0.001788394283852697)
    p = multiplyAdd(p, t, 0.009505312771437825)
    p = multiplyAdd(p, t, -0.02808333169341742)
    p = multiplyAdd(p, t, 0.06046291283329562)
    p = multiplyAdd(p, t, -0.10336589954598167)
    return multiplyAdd(p, t, 0.46221124430818417)
  }

  /// GELU `x·Φ(x)`.
  @usableFromInline @_transparent
  static func geluLane(_ x: Float) -> Float {
    let v = Double(x)
    let u = Swift.abs(v)
    let inTail = u < 15
    let w = inTail ? u : 0
    let tail = gaussian(w) * normalTailRatio(tailVariable(w)) * 0.5
    let below = v * (inTail ? tail : 0)
    let above = inTail ? multiplyAdd(-v, tail, v) : v
    return Float(v < 0 ? below : above)
  }

  /// `g·GELU′(x)`.
  @usableFromInline @_transparent
  static func geluGradientLane(_ g: Float, _ x: Float) -> Float {
    let v = Double(x)
    let u = Swift.abs(v)
    let inTail = u < 15
    let w = inTail ? u : 0
    let distance = 0.751_791_524_693_564_5 - w
    let mirrored = gaussian(w) * (distance * derivativeTailQuotient(tailVariable(w)))
    let tail = inTail ? mirrored : 0
    // v − v is NaN at ±∞ and NaN, as the formula's `x·φ(x)` is.
    let derivative = (v < 0 ? tail : 1 - tail) + (v - v)
    return Float(Double(g) * derivative)
  }

  /// `out[i]` = GELU of `x[i]`.
  @inlinable @inline(never)
  static func geluLanes(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { out[i] = geluLane(x[i]) }
  }

  /// `out[i]` = the upstream gradient `g[i]` through GELU at `x[i]`.
  @inlinable @inline(never)
  static func geluGradientLanes(
    _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
    count: Int
  ) {
    for i in 0..<count { out[i] = geluGradientLane(g[i], x[i]) }
  }
}
