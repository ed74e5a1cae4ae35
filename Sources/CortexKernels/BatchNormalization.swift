/// Batch normalization's passes over a buffer of shape `[N, C, ...]`,
/// channel `c` being axis 1: the per-channel moments, the normalization, and the
/// two passes of its gradient. Each channel's sums run over the planes in
/// order of the batch, each plane's in eight lanes added in a fixed order
/// (no multiply-add fused), so every set gives the same bits; the channels
/// are shared out among the pool's threads.

extension KernelSet {
  /// Calls `body(channel, offset)` for each plane of a buffer of `shape`
  /// `[N, C, ...]`, with the plane's first flat index, the planes split
  /// over the worker pool (for elementwise passes, whose results do not
  /// depend on the order).
  @inlinable @inline(__always)
  static func forEachPlane(of shape: [Int], _ body: (Int, Int) -> Void) {
    let (batch, channels, spatial) = (shape[0], shape[1], shape[2...].reduce(1, *))
    forEachChunk(of: batch * channels, costPerItem: 2 * spatial) { _, planes in
      for plane in planes { body(plane % channels, plane * spatial) }
    }
  }

  /// The mean and biased variance of each channel of `x`, over the batch
  /// and every position. The variance sums squared deviations from the
  /// mean in a second pass, which keeps it accurate and ≥ 0.
  @inlinable
  static func channelMoments<S: KernelScalar & SIMDScalar>(
    _ x: UnsafePointer<S>, shape: [Int],
    mean: UnsafeMutablePointer<S>, variance: UnsafeMutablePointer<S>
  ) {
    let count = S(shape[0] * shape[2...].reduce(1, *))
    forEachChannel(of: shape) { c, planes in
      var total: S = 0
      for start in planes { total += planeSum(x + start, count: planes.spatial) { $0 } }
      let center = total / count
      var squares: S = 0
      let centers = SIMD8<S>(repeating: center)
      for start in planes {
        squares += planeSum(x + start, count: planes.spatial) {
          let deviation = $0 - centers
          return deviation * deviation
        }
      }
      (mean[c], variance[c]) = (center, squares / count)
    }
  }

  /// Calls `body(channel, planes)` for every channel of a buffer of
  /// `shape` `[N, C, ...]`, the channels split over the worker pool:
  /// `planes` gives the first flat index of each of the channel's planes,
  /// in order of the batch, so each channel's sums do not depend on the
  /// number of threads.
  @inlinable @inline(__always)
  static func forEachChannel(of shape: [Int], _ body: (Int, ChannelPlanes) -> Void) {
    let (batch, channels, spatial) = (shape[0], shape[1], shape[2...].reduce(1, *))
    forEachChunk(of: channels, costPerItem: 2 * batch * spatial) { _, range in
      for c in range {
        body(c, ChannelPlanes(channel: c, channels: channels, batch: batch, spatial: spatial))
      }
    }
  }

  /// `Σ term(v)` over a plane of `count` scalars, eight lanes at a time
  /// (`term` maps a register of them), the lanes added in a fixed order,
  /// then the scalars past the last whole register one by one.
  @inlinable @inline(__always)
  static func planeSum<S: KernelScalar & SIMDScalar>(
    _ p: UnsafePointer<S>, count: Int, _ term: (SIMD8<S>) -> SIMD8<S>
  ) -> S {
    var lanes = SIMD8<S>()
    var s = 0
    while s &+ 8 <= count {
      lanes += term(UnsafeRawPointer(p + s).loadUnaligned(as: SIMD8<S>.self))
      s &+= 8
    }
    var sum = total(lanes)
    while s < count {
      sum += term(SIMD8(repeating: p[s]))[0]
      s &+= 1
    }
    return sum
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
  static func channelGradientSums<S: KernelScalar & SIMDScalar>(
    _ g: UnsafePointer<S>, _ x: UnsafePointer<S>, shape: [Int],
    center: [S], inverseDeviation: [S], sum: UnsafeMutablePointer<S>,
    sumNormalized: UnsafeMutablePointer<S>
  ) {
    center.withUnsafeBufferPointer { center in
      inverseDeviation.withUnsafeBufferPointer { inverseDeviation in
        forEachChannel(of: shape) { c, planes in
          let (centers, inverses) = (
            SIMD8<S>(repeating: center[c]), SIMD8<S>(repeating: inverseDeviation[c])
          )
          var (total, totalNormalized): (S, S) = (0, 0)
          for start in planes {
            total += planeSum(g + start, count: planes.spatial) { $0 }
            totalNormalized += planeProductSum(
              g + start, x + start, count: planes.spatial, centers: centers, inverses: inverses)
          }
          (sum[c], sumNormalized[c]) = (total, totalNormalized)
        }
      }
    }
  }

  /// `Σ g · (x − center) · inverse` over a plane, summed as
  /// ``planeSum(_:count:_:)`` sums.
  @inlinable @inline(__always)
  static func planeProductSum<S: KernelScalar & SIMDScalar>(
    _ g: UnsafePointer<S>, _ x: UnsafePointer<S>, count: Int, centers: SIMD8<S>,
    inverses: SIMD8<S>
  ) -> S {
    @inline(__always) func load(_ p: UnsafePointer<S>) -> SIMD8<S> {
      UnsafeRawPointer(p).loadUnaligned(as: SIMD8<S>.self)
    }
    var lanes = SIMD8<S>()
    var s = 0
    while s &+ 8 <= count {
      lanes += load(g + s) * (load(x + s) - centers) * inverses
      s &+= 8
    }
    var sum = total(lanes)
    while s < count {
      sum += g[s] * (x[s] - centers[0]) * inverses[0]
      s &+= 1
    }
    return sum
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

/// The planes of one channel of a buffer `[N, C, ...]`: the first flat
/// index of each, in order of the batch.
@usableFromInline
struct ChannelPlanes: Sequence {
  @usableFromInline let channel: Int
  @usableFromInline let channels: Int
  @usableFromInline let batch: Int
  /// The scalars of a plane.
  @usableFromInline let spatial: Int

  @inlinable
  init(channel: Int, channels: Int, batch: Int, spatial: Int) {
    (self.channel, self.channels, self.batch, self.spatial) = (channel, channels, batch, spatial)
  }

  @inlinable
  func makeIterator() -> some IteratorProtocol<Int> {
    (0..<batch).lazy.map { (($0 &* channels) &+ channel) &* spatial }.makeIterator()
  }
}
