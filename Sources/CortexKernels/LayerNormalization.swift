/// Layer normalization over rows, forward and backward, one pass over each
/// row for each of its sums: the composed form writes a tensor at every
/// step. Rows run in contiguous chunks across the pool's threads; the sums
/// run over eight lanes added in a fixed order, and no multiply-add is
/// fused, so every set gives the same bits.

extension KernelSet {
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
