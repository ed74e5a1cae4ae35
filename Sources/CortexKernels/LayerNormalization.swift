/// Layer normalization over rows, forward and backward, one pass over each
/// row for each of its sums: the composed form writes a tensor at every
/// step. Rows run in contiguous chunks across the pool's threads; the sums
/// run over eight lanes added in a fixed order, and no multiply-add is
/// fused, so every set gives the same bits.

extension KernelSet {
  /// Eight lanes of `p` (the lanes past `count` are 0).
  @inlinable @inline(__always)
  static func lanes<S: KernelScalar & SIMDScalar>(_ p: UnsafePointer<S>, count: Int) -> SIMD8<S> {
    if count >= 8 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD8<S>.self) }
    var v = SIMD8<S>()
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

  /// Normalizes each of `rows` rows of `length`: `x̂ = (x − μ)·r` with the
  /// row's mean `μ` and `r = 1/√(σ² + ε)` (biased variance, two passes),
  /// then `out = x̂·γ + β`. Keeps `x̂` in `normalized` and `r` in
  /// `inverseDeviation` (one per row) for the backward pass.
  @inlinable
  static func layerNormRows<S: KernelScalar & SIMDScalar>(
    _ x: UnsafePointer<S>, weight: UnsafePointer<S>, bias: UnsafePointer<S>,
    _ out: UnsafeMutablePointer<S>, normalized: UnsafeMutablePointer<S>,
    inverseDeviation: UnsafeMutablePointer<S>, rows: Int, length: Int, epsilon: S
  ) {
    forEachChunk(of: rows, costPerItem: 6 * length) { _, range in
      for row in range {
        let offset = row * length
        let (source, xHat, target) = (x + offset, normalized + offset, out + offset)
        var sums = SIMD8<S>()
        var j = 0
        while j < length {
          sums += lanes(source + j, count: length - j)
          j += 8
        }
        let mean = total(sums) / S(length)
        sums = SIMD8()
        j = 0
        while j < length {
          let count = length - j
          var centered = lanes(source + j, count: count) - mean
          if count < 8 { for lane in count..<8 { centered[lane] = 0 } }
          sums += centered * centered
          j += 8
        }
        let inverse = 1 / (total(sums) / S(length) + epsilon).squareRoot()
        inverseDeviation[row] = inverse
        j = 0
        while j < length {
          let count = length - j
          let value = (lanes(source + j, count: count) - mean) * inverse
          store(value, xHat + j, count: count)
          store(
            value * lanes(weight + j, count: count) + lanes(bias + j, count: count), target + j,
            count: count)
          j += 8
        }
      }
    }
  }

  /// The input gradient of ``layerNormRows(_:weight:bias:_:normalized:inverseDeviation:rows:length:epsilon:)``
  /// from the upstream gradient `g`: with `a = g·γ`,
  /// `∂x = r·(a − mean(a) − x̂·mean(a·x̂))` along each row.
  @inlinable
  static func layerNormRowsGradient<S: KernelScalar & SIMDScalar>(
    _ g: UnsafePointer<S>, normalized: UnsafePointer<S>, inverseDeviation: UnsafePointer<S>,
    weight: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, rows: Int, length: Int
  ) {
    forEachChunk(of: rows, costPerItem: 6 * length) { _, range in
      for row in range {
        let offset = row * length
        let (upstream, xHat, target) = (g + offset, normalized + offset, out + offset)
        var sums = SIMD8<S>()
        var products = SIMD8<S>()
        var j = 0
        while j < length {
          let count = length - j
          let a = lanes(upstream + j, count: count) * lanes(weight + j, count: count)
          sums += a
          products += a * lanes(xHat + j, count: count)
          j += 8
        }
        let meanA = total(sums) / S(length)
        let meanProduct = total(products) / S(length)
        let inverse = inverseDeviation[row]
        j = 0
        while j < length {
          let count = length - j
          let a = lanes(upstream + j, count: count) * lanes(weight + j, count: count)
          let gradient = (a - meanA - lanes(xHat + j, count: count) * meanProduct) * inverse
          store(gradient, target + j, count: count)
          j += 8
        }
      }
    }
  }
}
