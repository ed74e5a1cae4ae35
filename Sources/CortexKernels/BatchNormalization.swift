/// Batch normalization's passes over a buffer of shape `[N, C, ...]`,
/// channel `c` being axis 1: the per-channel moments, the normalization, and the
/// two passes of its gradient. Each channel's sums run over the planes in
/// order of the batch, each plane's from a sum of its own.

extension KernelSet {
  /// Calls `body(channel, offset)` for each plane of a buffer of `shape`
  /// `[N, C, ...]`, with the plane's first flat index, in memory order.
  @inlinable @inline(__always)
  static func forEachPlane(of shape: [Int], _ body: (Int, Int) -> Void) {
    let (batch, channels, spatial) = (shape[0], shape[1], shape[2...].reduce(1, *))
    for n in 0..<batch {
      for c in 0..<channels { body(c, (n * channels + c) * spatial) }
    }
  }

  /// The mean and biased variance of each channel of `x`, over the batch
  /// and every position. The variance sums squared deviations from the
  /// mean in a second pass, which keeps it accurate and ≥ 0.
  @inlinable
  static func channelMoments<S: BinaryFloatingPoint>(
    _ x: UnsafePointer<S>, shape: [Int],
    mean: UnsafeMutablePointer<S>, variance: UnsafeMutablePointer<S>
  ) {
    let (channels, spatial) = (shape[1], shape[2...].reduce(1, *))
    let count = S(shape[0] * spatial)
    mean.update(repeating: 0, count: channels)
    forEachPlane(of: shape) { c, start in
      let source = x + start
      var total: S = 0
      for s in 0..<spatial { total += source[s] }
      mean[c] += total
    }
    for c in 0..<channels { mean[c] /= count }
    variance.update(repeating: 0, count: channels)
    forEachPlane(of: shape) { c, start in
      let source = x + start
      let center = mean[c]
      var total: S = 0
      for s in 0..<spatial {
        let deviation = source[s] - center
        total += deviation * deviation
      }
      variance[c] += total
    }
    for c in 0..<channels { variance[c] /= count }
  }

  /// `out = factor[c] · (x − center[c]) + shift[c]` for each channel `c`.
  @inlinable
  static func normalizeChannels<S: BinaryFloatingPoint>(
    _ x: UnsafePointer<S>, shape: [Int], center: [S], factor: [S],
    shift: [S], _ out: UnsafeMutablePointer<S>
  ) {
    let spatial = shape[2...].reduce(1, *)
    forEachPlane(of: shape) { c, start in
      let (source, destination) = (x + start, out + start)
      let (center, factor, shift) = (center[c], factor[c], shift[c])
      for s in 0..<spatial { destination[s] = factor * (source[s] - center) + shift }
    }
  }

  /// Per channel of the upstream gradient `g`: `sum = Σ g` and
  /// `sumNormalized = Σ g · (x − center) · inverseDeviation`.
  @inlinable
  static func channelGradientSums<S: BinaryFloatingPoint>(
    _ g: UnsafePointer<S>, _ x: UnsafePointer<S>, shape: [Int],
    center: [S], inverseDeviation: [S], sum: UnsafeMutablePointer<S>,
    sumNormalized: UnsafeMutablePointer<S>
  ) {
    let (channels, spatial) = (shape[1], shape[2...].reduce(1, *))
    sum.update(repeating: 0, count: channels)
    sumNormalized.update(repeating: 0, count: channels)
    forEachPlane(of: shape) { c, start in
      let (source, upstream) = (x + start, g + start)
      let (center, inverse) = (center[c], inverseDeviation[c])
      var (total, totalNormalized): (S, S) = (0, 0)
      for s in 0..<spatial {
        total += upstream[s]
        totalNormalized += upstream[s] * (source[s] - center) * inverse
      }
      sum[c] += total
      sumNormalized[c] += totalNormalized
    }
  }

  /// The input gradient in training mode:
  /// `out = factor · (g − meanG − x̂ · meanGNormalized)` per channel, with
  /// `x̂ = (x − center) · inverseDeviation`.
  @inlinable
  static func batchNormInputGradient<S: BinaryFloatingPoint>(
    _ g: UnsafePointer<S>, _ x: UnsafePointer<S>, shape: [Int],
    center: [S], inverseDeviation: [S], factor: [S], meanG: [S], meanGNormalized: [S],
    _ out: UnsafeMutablePointer<S>
  ) {
    let spatial = shape[2...].reduce(1, *)
    forEachPlane(of: shape) { c, start in
      let (source, upstream, destination) = (x + start, g + start, out + start)
      let (center, inverse, factor) = (center[c], inverseDeviation[c], factor[c])
      let (meanG, meanGNormalized) = (meanG[c], meanGNormalized[c])
      for s in 0..<spatial {
        let normalized = (source[s] - center) * inverse
        destination[s] = factor * (upstream[s] - meanG - normalized * meanGNormalized)
      }
    }
  }
}
