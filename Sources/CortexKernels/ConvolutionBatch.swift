/// The convolutions of a whole batch: its images cut into chunks for the
/// worker pool, each chunk one call of the kernels of Convolution.swift.
///
/// For image `n`, the column matrix `cols` `[C·Fh·Fw, H2·W2]` holds its
/// receptive fields as columns (row `(c, i, j)` holds input
/// `x[c, oh·Sh − Ph + i·Dh, ow·Sw − Pw + j·Dw]` for every output position,
/// zero where that falls in the padding). With the filters viewed as
/// `W [K, C·Fh·Fw]`:
/// - forward: `y[n] = W · cols + b`,
/// - filter gradient: `∂W += ∂y[n] · colsᵀ`,
/// - input gradient: `∂cols = Wᵀ · ∂y[n]` folded back onto the input
///   (col2im), or the same thing as a transposed convolution.
/// The products take their B panels straight from zero-padded copies of
/// the images; column matrices are written only for the filter gradient of
/// convolutions with few filters or channels (products along rows, see
/// ``ConvolutionGeometry/filterGradientIsChannelsLast``) and for an input
/// gradient that is not a transposed convolution.

extension ConvolutionGeometry {
  /// Whether the filter gradient of a convolution with a window runs as a
  /// plain product on the packed GEMM tile, its B panels read from a
  /// channels-last copy of each image: from 64 filters, or from 16 filters
  /// over 8 channels or more, whose window rows are runs long enough for
  /// the tile to read in place. Below, the row-product path, which wastes
  /// none of the tile's rows on few filters, stays faster. Measured on
  /// AVX-512 and AVX2: a 64-filter 3×3 convolution 8–9 % faster this way;
  /// the ConvNetJS step (16 and 20 filters, 3 to 20 channels) 10–15 %
  /// faster with its second and third convolutions this way; 32 filters
  /// 5×5 over 3 channels (`conv_cifar1`) 30–45 % slower this way on AVX2.
  /// The rule depends on the shapes only, so every set sums in the same
  /// order.
  @inlinable public var filterGradientIsChannelsLast: Bool {
    !isPointwise && (filters >= 64 || (filters >= 16 && channels >= 8))
  }
}

extension KernelSet {
  /// `output[n] = W · cols(input[n]) + bias` for every image of the batch,
  /// four chunks of images per thread, taken in turn: a thread that gets
  /// less of the processor does fewer of them.
  @inlinable
  static func convolution<V: SIMD>(
    _: V.Type, input: UnsafePointer<V.Scalar>, filters: UnsafePointer<V.Scalar>,
    bias: UnsafePointer<V.Scalar>?, output: UnsafeMutablePointer<V.Scalar>,
    _ g: ConvolutionGeometry
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    let cost = g.filters * g.patchSize * g.plane.outputCount
    forEachChunk(of: g.batch, costPerItem: cost, chunks: 4 * WorkerPool.threadCount) {
      _, images in
      convolution(
        V.self, input: input, filters: filters, bias: bias, output: output, g, images: images)
    }
  }

  /// The gradients of the batch's convolution given the output's gradient
  /// `upstream` (`[N, K, H2, W2]`). Each gradient is computed only when its
  /// buffer is given, and overwritten:
  /// - `inputGradient` `[N, C, H, W]`: col2im of `Wᵀ · ∂y[n]`, or the
  ///   same as a transposed convolution,
  /// - `filterGradient` `[K, C, Fh, Fw]`: `Σₙ ∂y[n] · cols(x[n])ᵀ`,
  /// - `biasGradient` `[K]`: the sum of `∂y` over images and positions.
  @inlinable
  static func convolutionGradients<V: SIMD>(
    _: V.Type, upstream: UnsafePointer<V.Scalar>, input: UnsafePointer<V.Scalar>,
    filters: UnsafePointer<V.Scalar>, inputGradient: UnsafeMutablePointer<V.Scalar>?,
    filterGradient: UnsafeMutablePointer<V.Scalar>?, biasGradient: UnsafeMutablePointer<V.Scalar>?,
    _ g: ConvolutionGeometry
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    typealias S = V.Scalar
    let positions = g.plane.outputCount
    let filterCount = g.filters * g.patchSize
    // One partial filter and bias gradient per chunk of the batch, summed
    // at the end: `[chunks, filterCount + K]`. The number of chunks does
    // not depend on the number of threads, so neither do the sums:
    // gradients are the same to the last bit on one thread or many.
    let chunks = 8
    let partialCount = filterCount + g.filters
    let needsPartials = filterGradient != nil || biasGradient != nil
    let channelsLast = g.filterGradientIsChannelsLast
    let partials = PackingScratch.forCurrentThread.partialsBuffer(
      S.self, count: needsPartials ? partialCount * chunks : 0)
    if needsPartials { partials.initialize(repeating: 0, count: partialCount * chunks) }
    let cost = 2 * g.filters * g.patchSize * positions
    let batch = needsPartials || inputGradient != nil ? g.batch : 0
    forEachChunk(of: batch, costPerItem: cost, chunks: chunks) { chunk, images in
      let partialFilters = partials + chunk * partialCount
      let partialBias = partialFilters + filterCount
      if biasGradient != nil {
        withUnsafeTemporaryAllocation(of: S.self, capacity: g.filters) { sums in
          for n in images {
            sum(
              V.self, upstream + n * g.outputImageCount, outer: g.filters, axis: positions,
              inner: 1, sums.baseAddress!)
            for k in 0..<g.filters { partialBias[k] += sums[k] }
          }
        }
      }
      if filterGradient != nil && !images.isEmpty {
        if channelsLast {
          convolutionFilterGradient(
            V.self, upstream: upstream, input: input, filterGradient: partialFilters, g,
            images: images)
        } else {
          filterGradientAlongRows(
            V.self, upstream: upstream, input: input, filterGradient: partialFilters, g,
            images: images)
        }
      }
      if let inputGradient {
        convolutionInputGradient(
          V.self, upstream: upstream, filters: filters, inputGradient: inputGradient, g,
          images: images)
      }
    }
    if let filterGradient {
      for chunk in 1..<chunks {
        let partial = partials + chunk * partialCount
        for i in 0..<filterCount { partials[i] += partial[i] }
      }
      if channelsLast {
        // Each filter's taps are summed in `(i, j, c)` order; the filters
        // are `[K, C, Fh, Fw]`.
        let taps = g.plane.windowCount
        for k in 0..<g.filters {
          for c in 0..<g.channels {
            for t in 0..<taps {
              filterGradient[(k * g.channels + c) * taps + t] =
                partials[(k * taps + t) * g.channels + c]
            }
          }
        }
      } else {
        filterGradient.update(from: partials, count: filterCount)
      }
    }
    if let biasGradient {
      biasGradient.update(from: partials + filterCount, count: g.filters)
      for chunk in 1..<chunks {
        let partial = partials + chunk * partialCount + filterCount
        for k in 0..<g.filters { biasGradient[k] += partial[k] }
      }
    }
  }

  /// `∂W += Σₙ ∂y[n] · cols(x[n])ᵀ` over `images` as products along rows
  /// (`∂y · colsᵀ`, every entry a dot product of two contiguous rows), a
  /// few images at a time with their column matrices and output gradients
  /// side by side, so that the dot products run over about 512 positions.
  /// A pointwise convolution reads `cols` from the image itself.
  @inlinable
  static func filterGradientAlongRows<V: SIMD>(
    _: V.Type, upstream: UnsafePointer<V.Scalar>, input: UnsafePointer<V.Scalar>,
    filterGradient: UnsafeMutablePointer<V.Scalar>, _ g: ConvolutionGeometry, images: Range<Int>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    let positions = g.plane.outputCount
    func accumulate(
      _ gradients: UnsafePointer<V.Scalar>, _ columns: UnsafePointer<V.Scalar>, width: Int
    ) {
      multiply(
        GEMMProduct(
          transposeA: false, transposeB: true, m: g.filters, n: g.patchSize, k: width,
          a: gradients, lda: width, b: columns, ldb: width, c: filterGradient,
          ldc: g.patchSize, accumulate: true), V.self)
    }
    guard !g.isPointwise else {
      for n in images {
        accumulate(
          upstream + n * g.outputImageCount, input + n * g.inputImageCount, width: positions)
      }
      return
    }
    let groupSize = min(images.count, max(1, min(8, 512 / max(positions, 1))))
    let scratch = PackingScratch.forCurrentThread
    let columns = scratch.columnBuffer(V.Scalar.self, count: g.patchSize * groupSize * positions)
    let grouped = scratch.operandBuffer(
      V.Scalar.self, count: groupSize > 1 ? g.filters * groupSize * positions : 0)
    for group in stride(from: images.lowerBound, to: images.upperBound, by: groupSize) {
      let members = group..<min(group + groupSize, images.upperBound)
      let width = members.count * positions
      for (slot, n) in members.enumerated() {
        im2col(
          V.self, input + n * g.inputImageCount, channels: g.channels, g.plane,
          columns + slot * positions, rowStride: width)
        guard members.count > 1 else { continue }
        for k in 0..<g.filters {
          (grouped + k * width + slot * positions).update(
            from: upstream + n * g.outputImageCount + k * positions, count: positions)
        }
      }
      let gradients =
        members.count > 1 ? UnsafePointer(grouped) : upstream + group * g.outputImageCount
      accumulate(gradients, columns, width: width)
    }
  }
}
