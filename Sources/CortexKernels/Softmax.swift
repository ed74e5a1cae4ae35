/// Softmax and log-softmax along the last axis, forward and backward, one
/// pass over each row: the row's maximum, the exponentials and their sum,
/// then the scaling, where the composed form writes a tensor at each step.
/// Rows run in contiguous chunks across the pool's threads. In single
/// precision the exponentials are the vector `exp` of VectorMath; sums
/// run over eight lanes added in a fixed order, so every set that fuses
/// multiply-adds gives the same bits.

extension KernelSet {
  /// Each row of `x` (`rows` rows of `length`) mapped to its softmax, or
  /// to its log-softmax when `logarithm`: `yⱼ = e^(xⱼ − m) / s` or
  /// `xⱼ − (m + ln s)`, with `m` the row's maximum and `s = Σ e^(xₖ − m)`.
  @inlinable
  static func softmaxRows<S: KernelScalar>(
    _ x: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, rows: Int, length: Int,
    logarithm: Bool
  ) {
    forEachChunk(of: rows, costPerItem: 8 * length) { _, range in
      for row in range {
        let (source, target) = (x + row * length, out + row * length)
        if S.self == Float.self {
          softmaxRowFloat(
            UnsafeRawPointer(source).assumingMemoryBound(to: Float.self),
            UnsafeMutableRawPointer(target).assumingMemoryBound(to: Float.self), length: length,
            logarithm: logarithm)
        } else {
          softmaxRow(source, target, length: length, logarithm: logarithm)
        }
      }
    }
  }

  /// The gradient through ``softmaxRows(_:_:rows:length:logarithm:)``
  /// given its output `y` and the upstream gradient `g`:
  /// `yⱼ·(gⱼ − Σₖ gₖyₖ)` for the softmax, `gⱼ − e^(yⱼ)·Σₖ gₖ` for the
  /// log-softmax.
  @inlinable
  static func softmaxRowsGradient<S: KernelScalar>(
    _ y: UnsafePointer<S>, _ g: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, rows: Int,
    length: Int, logarithm: Bool
  ) {
    forEachChunk(of: rows, costPerItem: 4 * length) { _, range in
      for row in range {
        let offset = row * length
        if S.self == Float.self {
          softmaxRowGradientFloat(
            UnsafeRawPointer(y + offset).assumingMemoryBound(to: Float.self),
            UnsafeRawPointer(g + offset).assumingMemoryBound(to: Float.self),
            UnsafeMutableRawPointer(out + offset).assumingMemoryBound(to: Float.self),
            length: length, logarithm: logarithm)
        } else {
          softmaxRowGradient(
            y + offset, g + offset, out + offset, length: length, logarithm: logarithm)
        }
      }
    }
  }

  @inlinable
  static func softmaxRowFloat(
    _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, length: Int, logarithm: Bool
  ) {
    guard length >= 8 else {
      softmaxShortRowFloat(x, out, length: length, logarithm: logarithm)
      return
    }
    // Whole registers, then the row's last eight lanes, of which `fresh`
    // are the ones the whole registers did not cover. (`out` may be `x`.)
    let (whole, last) = (length / 8 * 8, length - 8)
    let fresh = freshLanes(length)
    var maxima = SIMD8<Float>(repeating: -.infinity)
    for j in stride(from: 0, to: whole, by: 8) {
      let v = lanes(x + j, count: 8)
      maxima = maxima.replacing(with: v, where: .!(v .<= maxima))
    }
    let lastValues = lanes(x + last, count: 8)
    maxima = maxima.replacing(with: lastValues, where: .!(lastValues .<= maxima))
    var largest = maxima[0]
    for lane in 1..<8 where !(maxima[lane] <= largest) { largest = maxima[lane] }
    let m = SIMD8<Float>(repeating: largest)
    var sums = SIMD8<Float>()
    for j in stride(from: 0, to: whole, by: 8) {
      let e = exp8(lanes(x + j, count: 8) - m)
      if !logarithm { store(e, out + j, count: 8) }
      sums += e
    }
    if whole < length {
      let e = exp8(lastValues - m)
      if !logarithm { store(keeping(out + last, e, where: fresh), out + last, count: 8) }
      sums += e.replacing(with: 0, where: .!fresh)
    }
    let total = total(sums)
    if logarithm {
      let shift = SIMD8<Float>(repeating: largest + Float.log(total))
      for j in stride(from: 0, to: whole, by: 8) {
        store(lanes(x + j, count: 8) - shift, out + j, count: 8)
      }
      if whole < length {
        store(keeping(out + last, lastValues - shift, where: fresh), out + last, count: 8)
      }
    } else {
      let divisor = SIMD8<Float>(repeating: total)
      for j in stride(from: 0, to: whole, by: 8) {
        store(lanes(UnsafePointer(out + j), count: 8) / divisor, out + j, count: 8)
      }
      if whole < length {
        let e = lanes(UnsafePointer(out + last), count: 8)
        store(e.replacing(with: e / divisor, where: fresh), out + last, count: 8)
      }
    }
  }

  /// Which of a row's last eight lanes (from `length − 8`, for `length`
  /// of at least 8) lie past its last whole register: none when `length`
  /// is a multiple of 8.
  @inlinable @inline(__always)
  static func freshLanes(_ length: Int) -> SIMDMask<SIMD8<Int32>> {
    SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) .>= SIMD8(repeating: Int32(8 - length % 8))
  }

  /// `v` in the `fresh` lanes, and what `p` holds in the others.
  @inlinable @inline(__always)
  static func keeping(
    _ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>, where fresh: SIMDMask<SIMD8<Int32>>
  ) -> SIMD8<Float> {
    lanes(UnsafePointer(p), count: 8).replacing(with: v, where: fresh)
  }

  /// A row of fewer than eight, in one partial register.
  @inlinable
  static func softmaxShortRowFloat(
    _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, length: Int, logarithm: Bool
  ) {
    let values = lanes(x, count: length, fill: -.infinity)
    var largest = values[0]
    for lane in 1..<8 where !(values[lane] <= largest) { largest = values[lane] }
    let e = exp8(values - SIMD8(repeating: largest))
    let total = total(e)
    let result =
      logarithm
      ? values - SIMD8(repeating: largest + Float.log(total))
      : e / SIMD8(repeating: total)
    store(result, out, count: length)
  }

  @inlinable
  static func softmaxRowGradientFloat(
    _ y: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
    length: Int, logarithm: Bool
  ) {
    @inline(__always) func terms(_ j: Int, count: Int) -> SIMD8<Float> {
      let upstream = lanes(g + j, count: count)
      return logarithm ? upstream : upstream * lanes(y + j, count: count)
    }
    @inline(__always) func gradient(_ j: Int, count: Int, _ total: SIMD8<Float>) -> SIMD8<Float> {
      let (values, upstream) = (lanes(y + j, count: count), lanes(g + j, count: count))
      return logarithm ? upstream - exp8(values) * total : values * (upstream - total)
    }
    guard length >= 8 else {
      let total = SIMD8<Float>(repeating: total(terms(0, count: length)))
      store(gradient(0, count: length, total), out, count: length)
      return
    }
    // As in the forward pass: whole registers, then the row's last eight
    // lanes, of which only the `fresh` ones count in the sum and are
    // stored. The last lanes are computed before anything is written, so
    // `out` may be `g` or `y`.
    let (whole, last) = (length / 8 * 8, length - 8)
    let fresh = freshLanes(length)
    var sums = SIMD8<Float>()
    for j in stride(from: 0, to: whole, by: 8) { sums += terms(j, count: 8) }
    if whole < length { sums += terms(last, count: 8).replacing(with: 0, where: .!fresh) }
    let total = SIMD8<Float>(repeating: total(sums))
    let lastGradient = gradient(last, count: 8, total)
    for j in stride(from: 0, to: whole, by: 8) {
      store(gradient(j, count: 8, total), out + j, count: 8)
    }
    if whole < length {
      store(keeping(out + last, lastGradient, where: fresh), out + last, count: 8)
    }
  }

  /// One row in any precision, through the C library's `exp` and `log`.
  @inlinable
  static func softmaxRow<S: KernelScalar>(
    _ x: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, length: Int, logarithm: Bool
  ) {
    var largest = -S.infinity
    for j in 0..<length where !(x[j] <= largest) { largest = x[j] }
    var total: S = 0
    for j in 0..<length {
      let e = S.exp(x[j] - largest)
      if !logarithm { out[j] = e }
      total += e
    }
    if logarithm {
      let shift = largest + S.log(total)
      for j in 0..<length { out[j] = x[j] - shift }
    } else {
      for j in 0..<length { out[j] /= total }
    }
  }

  @inlinable
  static func softmaxRowGradient<S: KernelScalar>(
    _ y: UnsafePointer<S>, _ g: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, length: Int,
    logarithm: Bool
  ) {
    var total: S = 0
    for j in 0..<length { total += logarithm ? g[j] : g[j] * y[j] }
    for j in 0..<length {
      out[j] = logarithm ? g[j] - S.exp(y[j]) * total : y[j] * (g[j] - total)
    }
  }
}
