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
    var maxima = SIMD8<Float>(repeating: -.infinity)
    var j = 0
    while j < length {
      let v = lanes(x + j, count: length - j, fill: -.infinity)
      maxima = maxima.replacing(with: v, where: .!(v .<= maxima))
      j += 8
    }
    var largest = maxima[0]
    for lane in 1..<8 where !(maxima[lane] <= largest) { largest = maxima[lane] }
    let m = SIMD8<Float>(repeating: largest)
    var sums = SIMD8<Float>()
    j = 0
    while j < length {
      let e = exp8(lanes(x + j, count: length - j, fill: -.infinity) - m)
      if !logarithm { store(e, out + j, count: length - j) }
      sums += e
      j += 8
    }
    let total = total(sums)
    j = 0
    if logarithm {
      let shift = SIMD8<Float>(repeating: largest + Float.log(total))
      while j < length {
        store(lanes(x + j, count: length - j) - shift, out + j, count: length - j)
        j += 8
      }
    } else {
      let divisor = SIMD8<Float>(repeating: total)
      while j < length {
        let e = lanes(UnsafePointer(out + j), count: length - j)
        store(e / divisor, out + j, count: length - j)
        j += 8
      }
    }
  }

  @inlinable
  static func softmaxRowGradientFloat(
    _ y: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
    length: Int, logarithm: Bool
  ) {
    var sums = SIMD8<Float>()
    var j = 0
    while j < length {
      let upstream = lanes(g + j, count: length - j)
      sums += logarithm ? upstream : upstream * lanes(y + j, count: length - j)
      j += 8
    }
    let total = SIMD8<Float>(repeating: total(sums))
    j = 0
    while j < length {
      let (values, upstream) = (
        lanes(y + j, count: length - j), lanes(g + j, count: length - j)
      )
      let gradient = logarithm ? upstream - exp8(values) * total : values * (upstream - total)
      store(gradient, out + j, count: length - j)
      j += 8
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
