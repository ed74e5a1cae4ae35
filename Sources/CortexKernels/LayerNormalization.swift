/// Layer normalization over rows, forward and backward, one pass over each
/// row for each of its sums: the composed form writes a tensor at every
/// step. Rows run in contiguous chunks across the pool's threads; the sums
/// run in interleaved partial sums of eight lanes, added in a fixed order,
/// and no multiply-add is fused, so every set gives the same bits.

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
        let mean = rowSum(source, length: length) / S(length)
        let variance = rowSumOfSquares(source, around: mean, length: length)
        let inverse = 1 / (variance / S(length) + epsilon).squareRoot()
        inverseDeviation[row] = inverse
        // Plain loops, which the compiler vectorizes: the same operations
        // on SIMD8 values of a generic scalar came out lane by lane.
        for j in 0..<length {
          let value = (source[j] - mean) * inverse
          xHat[j] = value
          target[j] = value * weight[j] + bias[j]
        }
      }
    }
  }

  /// The input gradient of ``layerNormRows(_:weight:bias:_:normalized:inverseDeviation:rows:length:epsilon:)``
  /// from the upstream gradient `g`: with `a = g·γ`,
  /// `∂x = r·(a − mean(a) − x̂·mean(a·x̂))` along each row; and, when
  /// `weightGradient` is given, the weight and bias gradients
  /// `∂γ = Σ g·x̂` and `∂β = Σ g` over the rows, from the same pass.
  ///
  /// The rows run in blocks of ``layerNormBlockRows``, a fixed size: each
  /// block sums its rows in order, and the blocks' sums are added in order
  /// at the end, so the sums do not depend on the number of threads.
  @inlinable
  static func layerNormRowsGradient<S: KernelScalar & SIMDScalar>(
    _ g: UnsafePointer<S>, normalized: UnsafePointer<S>, inverseDeviation: UnsafePointer<S>,
    weight: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>,
    weightGradient: UnsafeMutablePointer<S>?, biasGradient: UnsafeMutablePointer<S>?, rows: Int,
    length: Int
  ) {
    // At least one block, so that no rows give gradients of 0.
    let blocks = Swift.max(1, (rows + layerNormBlockRows - 1) / layerNormBlockRows)
    // Per block, the weight gradient's sums and then the bias gradient's.
    // The calling thread's buffer, kept from call to call: the blocks'
    // threads write into it side by side.
    let partial =
      weightGradient == nil
      ? nil : PackingScratch.forCurrentThread.partialsBuffer(S.self, count: blocks * 2 * length)
    forEachChunk(of: blocks, costPerItem: 8 * length * layerNormBlockRows) { _, range in
      for block in range {
        let sums = partial.map { $0 + block * 2 * length }
        sums?.update(repeating: 0, count: 2 * length)
        let first = block * layerNormBlockRows
        for row in first..<Swift.min(first + layerNormBlockRows, rows) {
          let offset = row * length
          layerNormRowGradient(
            g + offset, normalized: normalized + offset, inverse: inverseDeviation[row],
            weight: weight, out + offset, length: length, sums: sums)
        }
      }
    }
    guard let partial, let weightGradient, let biasGradient else { return }
    for block in 1..<blocks {
      let sums = partial + block * 2 * length
      for j in 0..<2 * length { partial[j] += sums[j] }
    }
    weightGradient.update(from: partial, count: length)
    biasGradient.update(from: partial + length, count: length)
  }

  /// The rows of one block of the layer-norm gradients.
  @inlinable
  static var layerNormBlockRows: Int { 32 }

  /// One row of ``layerNormRowsGradient(_:normalized:inverseDeviation:weight:_:weightGradient:biasGradient:rows:length:)``,
  /// adding `g·x̂` and `g` onto `sums` (`[2, length]`) when given.
  @inlinable @inline(__always)
  static func layerNormRowGradient<S: KernelScalar & SIMDScalar>(
    _ upstream: UnsafePointer<S>, normalized xHat: UnsafePointer<S>, inverse: S,
    weight: UnsafePointer<S>, _ target: UnsafeMutablePointer<S>, length: Int,
    sums: UnsafeMutablePointer<S>?
  ) {
    let (sumA, sumProduct) = gradientRowSums(
      upstream, weight: weight, normalized: xHat, length: length)
    let meanA = sumA / S(length)
    let meanProduct = sumProduct / S(length)
    guard let sums else {
      // A plain loop, which the compiler vectorizes.
      for j in 0..<length {
        let a = upstream[j] * weight[j]
        target[j] = (a - meanA - xHat[j] * meanProduct) * inverse
      }
      return
    }
    // In registers, with the sums: as a plain loop the compiler could not
    // rule out that `sums` overlaps the rows, and kept it scalar. The
    // operations are the plain loop's, so the tail's lanes agree.
    let (weightSums, biasSums) = (sums, sums + length)
    let (meanAs, meanProducts, inverses) = (
      SIMD8(repeating: meanA), SIMD8(repeating: meanProduct), SIMD8(repeating: inverse)
    )
    var j = 0
    while j &+ 8 <= length {
      let (g, x) = (lanes(upstream + j, count: 8), lanes(xHat + j, count: 8))
      let a = g * lanes(weight + j, count: 8)
      store((a - meanAs - x * meanProducts) * inverses, target + j, count: 8)
      store(lanes(UnsafePointer(weightSums + j), count: 8) + g * x, weightSums + j, count: 8)
      store(lanes(UnsafePointer(biasSums + j), count: 8) + g, biasSums + j, count: 8)
      j &+= 8
    }
    while j < length {
      let (g, x) = (upstream[j], xHat[j])
      let a = g * weight[j]
      target[j] = (a - meanA - x * meanProduct) * inverse
      weightSums[j] += g * x
      biasSums[j] += g
      j &+= 1
    }
  }

  /// `Σ p[j]` over a row of `length`, eight lanes at a time, in four
  /// interleaved partial sums (so the additions do not wait on each
  /// other), added in a fixed order.
  @inlinable @inline(__always)
  static func rowSum<S: KernelScalar & SIMDScalar>(_ p: UnsafePointer<S>, length: Int) -> S {
    var (s0, s1, s2, s3) = (SIMD8<S>(), SIMD8<S>(), SIMD8<S>(), SIMD8<S>())
    var j = 0
    while j &+ 32 <= length {
      s0 += lanes(p + j, count: 8)
      s1 += lanes(p + (j &+ 8), count: 8)
      s2 += lanes(p + (j &+ 16), count: 8)
      s3 += lanes(p + (j &+ 24), count: 8)
      j &+= 32
    }
    while j < length {
      s0 += lanes(p + j, count: Swift.min(length &- j, 8))
      j &+= 8
    }
    return total((s0 + s1) + (s2 + s3))
  }

  /// `Σ (p[j] − mean)²` over a row of `length`, summed as ``rowSum(_:length:)``.
  @inlinable @inline(__always)
  static func rowSumOfSquares<S: KernelScalar & SIMDScalar>(
    _ p: UnsafePointer<S>, around mean: S, length: Int
  ) -> S {
    let means = SIMD8<S>(repeating: mean)
    @inline(__always) func square(_ j: Int) -> SIMD8<S> {
      let centered = lanes(p + j, count: 8) - means
      return centered * centered
    }
    var (s0, s1, s2, s3) = (SIMD8<S>(), SIMD8<S>(), SIMD8<S>(), SIMD8<S>())
    var j = 0
    while j &+ 32 <= length {
      s0 += square(j)
      s1 += square(j &+ 8)
      s2 += square(j &+ 16)
      s3 += square(j &+ 24)
      j &+= 32
    }
    while j &+ 8 <= length {
      s0 += square(j)
      j &+= 8
    }
    if j < length {
      // The missing lanes zeroed after centring, so that an infinite mean
      // leaves them 0 rather than NaN.
      let count = length &- j
      var centered = lanes(p + j, count: count) - means
      for lane in count..<8 { centered[lane] = 0 }
      s0 += centered * centered
    }
    return total((s0 + s1) + (s2 + s3))
  }

  /// `Σ a` and `Σ a·x̂` with `a = g·γ`, over a row of `length`, in two
  /// interleaved partial sums each, added in a fixed order.
  @inlinable @inline(__always)
  static func gradientRowSums<S: KernelScalar & SIMDScalar>(
    _ g: UnsafePointer<S>, weight: UnsafePointer<S>, normalized xHat: UnsafePointer<S>,
    length: Int
  ) -> (S, S) {
    @inline(__always) func terms(_ j: Int, _ count: Int) -> (SIMD8<S>, SIMD8<S>) {
      let a = lanes(g + j, count: count) * lanes(weight + j, count: count)
      return (a, a * lanes(xHat + j, count: count))
    }
    var (a0, a1, b0, b1) = (SIMD8<S>(), SIMD8<S>(), SIMD8<S>(), SIMD8<S>())
    var j = 0
    while j &+ 16 <= length {
      let (a, b) = terms(j, 8)
      let (c, d) = terms(j &+ 8, 8)
      (a0, b0, a1, b1) = (a0 + a, b0 + b, a1 + c, b1 + d)
      j &+= 16
    }
    while j < length {
      let (a, b) = terms(j, Swift.min(length &- j, 8))
      (a0, b0) = (a0 + a, b0 + b)
      j &+= 8
    }
    return (total(a0 + a1), total(b0 + b1))
  }
}
