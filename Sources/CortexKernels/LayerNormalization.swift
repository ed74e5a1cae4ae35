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
        let mean = rowSum(length) { j, count in lanes(source + j, count: count) } / S(length)
        let means = SIMD8<S>(repeating: mean)
        let variance = rowSum(length) { j, count in
          var centered = lanes(source + j, count: count) - means
          if count < 8 { for lane in count..<8 { centered[lane] = 0 } }
          return centered * centered
        }
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
    let (sumA, sumProduct) = rowSums(length) { j, count in
      let a = lanes(upstream + j, count: count) * lanes(weight + j, count: count)
      return (a, a * lanes(xHat + j, count: count))
    }
    let meanA = sumA / S(length)
    let meanProduct = sumProduct / S(length)
    // Plain loops, which the compiler vectorizes.
    for j in 0..<length {
      let a = upstream[j] * weight[j]
      target[j] = (a - meanA - xHat[j] * meanProduct) * inverse
    }
    guard let sums else { return }
    // In registers: as a plain loop the compiler could not rule out that
    // `sums` overlaps the rows, and kept it scalar.
    var j = 0
    while j < length {
      let count = Swift.min(length - j, 8)
      let (weightSums, biasSums) = (sums + j, sums + length + j)
      let g = lanes(upstream + j, count: count)
      store(
        lanes(UnsafePointer(weightSums), count: count) + g * lanes(xHat + j, count: count),
        weightSums,
        count: count)
      store(lanes(UnsafePointer(biasSums), count: count) + g, biasSums, count: count)
      j += 8
    }
  }

  /// `Σ element(j)` over a row of `length`, eight lanes at a time, in four
  /// interleaved partial sums (so the additions do not wait on each
  /// other), added in a fixed order; `element(j, count)` gives the lanes
  /// at `j`, those past `count` zero.
  @inlinable @inline(__always)
  static func rowSum<S: KernelScalar & SIMDScalar>(
    _ length: Int, _ element: (_ j: Int, _ count: Int) -> SIMD8<S>
  ) -> S {
    var (s0, s1, s2, s3) = (SIMD8<S>(), SIMD8<S>(), SIMD8<S>(), SIMD8<S>())
    var j = 0
    while j + 32 <= length {
      s0 += element(j, 8)
      s1 += element(j + 8, 8)
      s2 += element(j + 16, 8)
      s3 += element(j + 24, 8)
      j += 32
    }
    while j < length {
      s0 += element(j, Swift.min(length - j, 8))
      j += 8
    }
    return total((s0 + s1) + (s2 + s3))
  }

  /// Two sums like ``rowSum(_:_:)`` in one pass.
  @inlinable @inline(__always)
  static func rowSums<S: KernelScalar & SIMDScalar>(
    _ length: Int, _ element: (_ j: Int, _ count: Int) -> (SIMD8<S>, SIMD8<S>)
  ) -> (S, S) {
    var (a0, a1, b0, b1) = (SIMD8<S>(), SIMD8<S>(), SIMD8<S>(), SIMD8<S>())
    var j = 0
    while j + 16 <= length {
      let (a, b) = element(j, 8)
      let (c, d) = element(j + 8, 8)
      (a0, b0, a1, b1) = (a0 + a, b0 + b, a1 + c, b1 + d)
      j += 16
    }
    while j < length {
      let (a, b) = element(j, Swift.min(length - j, 8))
      (a0, b0) = (a0 + a, b0 + b)
      j += 8
    }
    return (total(a0 + a1), total(b0 + b1))
  }
}
