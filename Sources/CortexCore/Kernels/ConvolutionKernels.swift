import CortexKernels

/// 2-D convolution on NCHW buffers: one GEMM per image, on chunks of the
/// batch in parallel.
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
/// The kernel sets run these products with their B panels taken straight
/// from zero-padded copies of the images (see
/// ``CortexKernels/KernelCall/convolution(input:filters:bias:output:geometry:images:)``);
/// column matrices are written only for the filter gradient of
/// convolutions with few filters or channels (products along rows, see
/// ``filterGradientIsChannelsLast(_:)``) and for an input gradient that is
/// not a transposed convolution (`Wᵀ · ∂y[n]`, folded back by col2im).

/// The sizes of one window axis pair; see ``CortexKernels/Extent``.
package typealias Extent = CortexKernels.Extent
/// Sliding windows over one plane; see ``CortexKernels/WindowGeometry``.
package typealias WindowGeometry = CortexKernels.WindowGeometry
/// A batched 2-D convolution; see ``CortexKernels/ConvolutionGeometry``.
package typealias ConvolutionGeometry = CortexKernels.ConvolutionGeometry

/// Writes the `[C·Fh·Fw, H2·W2]` column matrix of one image, its rows
/// `rowStride` scalars apart (by default `H2·W2`, one after the other),
/// through the current set's kernels.
func im2col<S: TensorScalar>(
  _ image: UnsafePointer<S>, channels: Int, _ g: WindowGeometry, _ cols: UnsafeMutablePointer<S>,
  rowStride: Int? = nil, using kernels: any KernelSet.Type = ComputeSettings.kernels
) {
  runKernel(
    .im2col(
      image: image, channels: channels, geometry: g, columns: cols,
      rowStride: rowStride ?? g.outputCount), using: kernels)
}

/// Adds every column of `cols` (`[C·Fh·Fw, H2·W2]`) onto the input
/// positions im2col read it from: the adjoint of ``im2col(_:channels:_:_:rowStride:using:)``.
/// Padding positions are dropped.
func col2im<S: TensorScalar>(
  _ cols: UnsafePointer<S>, channels: Int, _ g: WindowGeometry, _ image: UnsafeMutablePointer<S>,
  using kernels: any KernelSet.Type = ComputeSettings.kernels
) {
  runKernel(.col2im(columns: cols, channels: channels, geometry: g, image: image), using: kernels)
}

/// `output[n] = W · cols(input[n]) + bias` for every image of the batch.
///
/// - Parameters:
///   - input: `[N, C, H, W]`.
///   - filters: `[K, C, Fh, Fw]`, read as the matrix `[K, C·Fh·Fw]`.
///   - bias: `[K]`, or `nil` for none.
///   - output: `[N, K, H2, W2]`, overwritten.
func convolution2DForward<S: TensorScalar>(
  _ input: UnsafePointer<S>, filters: UnsafePointer<S>, bias: UnsafePointer<S>?,
  output: UnsafeMutablePointer<S>, _ g: ConvolutionGeometry
) {
  let cost = g.filters * g.patchSize * g.plane.outputCount
  // Four chunks per thread, taken in turn: a thread that gets less of the
  // processor does fewer of them.
  forEachChunk(of: g.batch, costPerItem: cost, chunks: 4 * WorkerPool.threadCount) { _, images in
    runKernel(
      .convolution(
        input: input, filters: filters, bias: bias, output: output, geometry: g, images: images))
  }
}

/// Whether the filter gradient of a convolution with a window runs as a
/// plain product on the packed GEMM tile, its B panels read from a
/// channels-last copy of each image: from 64 filters, or from 16 filters
/// over 8 channels or more, whose window rows are runs long enough for the
/// tile to read in place. Below, the row-product path, which wastes none
/// of the tile's rows on few filters, stays faster. Measured on AVX-512
/// and AVX2: a 64-filter 3×3 convolution 8–9 % faster this way; the
/// ConvNetJS step (16 and 20 filters, 3 to 20 channels) 10–15 % faster
/// with its second and third convolutions this way; 32 filters 5×5 over
/// 3 channels (`conv_cifar1`) 30–45 % slower this way on AVX2. The rule
/// depends on the shapes only, so every set sums in the same order.
func filterGradientIsChannelsLast(_ g: ConvolutionGeometry) -> Bool {
  !g.isPointwise && (g.filters >= 64 || (g.filters >= 16 && g.channels >= 8))
}

/// The gradients of ``convolution2DForward(_:filters:bias:output:_:)``
/// given the output's gradient `upstream` (`[N, K, H2, W2]`). Each gradient
/// is computed only when its buffer is given, and overwritten:
/// - `inputGradient` `[N, C, H, W]`: col2im of `Wᵀ · ∂y[n]`, or the
///   same as a transposed convolution,
/// - `filterGradient` `[K, C, Fh, Fw]`: `Σₙ ∂y[n] · cols(x[n])ᵀ`,
/// - `biasGradient` `[K]`: the sum of `∂y` over images and positions.
@_specialize(where S == Float)
@_specialize(where S == Double)
func convolution2DBackward<S: TensorScalar>(
  upstream: UnsafePointer<S>, input: UnsafePointer<S>, filters: UnsafePointer<S>,
  inputGradient: UnsafeMutablePointer<S>?, filterGradient: UnsafeMutablePointer<S>?,
  biasGradient: UnsafeMutablePointer<S>?, _ g: ConvolutionGeometry
) {
  let positions = g.plane.outputCount
  let filterCount = g.filters * g.patchSize
  // One partial filter and bias gradient per chunk of the batch, summed at
  // the end: `[chunks, filterCount + K]`. The number of chunks does not
  // depend on the number of threads, so neither do the sums: gradients are
  // the same to the last bit on one thread or many.
  let chunks = 8
  let partialCount = filterCount + g.filters
  let needsPartials = filterGradient != nil || biasGradient != nil
  let channelsLast = filterGradientIsChannelsLast(g)
  BufferPool.shared.withScratch(S.self, count: needsPartials ? partialCount * chunks : 0) {
    partials in
    if needsPartials { partials.initialize(repeating: 0, count: partialCount * chunks) }
    let cost = 2 * g.filters * g.patchSize * positions
    let batch = needsPartials || inputGradient != nil ? g.batch : 0
    forEachChunk(of: batch, costPerItem: cost, chunks: chunks) { chunk, images in
      let partialFilters = partials + chunk * partialCount
      let partialBias = partialFilters + filterCount
      if biasGradient != nil {
        withUnsafeTemporaryAllocation(of: S.self, capacity: g.filters) { sums in
          for n in images {
            sumKernel(
              upstream + n * g.outputImageCount, outer: g.filters, axis: positions, inner: 1,
              sums.baseAddress!)
            for k in 0..<g.filters { partialBias[k] += sums[k] }
          }
        }
      }
      if filterGradient != nil && !images.isEmpty {
        if channelsLast {
          runKernel(
            .convolutionFilterGradient(
              upstream: upstream, input: input, filterGradient: partialFilters, geometry: g,
              images: images))
        } else {
          filterGradientAlongRows(upstream, input, partialFilters, g, images)
        }
      }
      if let inputGradient {
        runKernel(
          .convolutionInputGradient(
            upstream: upstream, filters: filters, inputGradient: inputGradient, geometry: g,
            images: images))
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
}

/// `∂W += Σₙ ∂y[n] · cols(x[n])ᵀ` over `images` as products along rows
/// (`∂y · colsᵀ`, every entry a dot product of two contiguous rows), a few
/// images at a time with their column matrices and output gradients side
/// by side, so that the dot products run over about 512 positions. A
/// pointwise convolution reads `cols` from the image itself.
private func filterGradientAlongRows<S: TensorScalar>(
  _ upstream: UnsafePointer<S>, _ input: UnsafePointer<S>,
  _ filterGradient: UnsafeMutablePointer<S>, _ g: ConvolutionGeometry, _ images: Range<Int>
) {
  let positions = g.plane.outputCount
  guard !g.isPointwise else {
    for n in images {
      gemm(
        transposeA: false, transposeB: true, m: g.filters, n: g.patchSize, k: positions,
        a: upstream + n * g.outputImageCount, lda: positions,
        b: input + n * g.inputImageCount, ldb: positions, c: filterGradient,
        ldc: g.patchSize, accumulate: true)
    }
    return
  }
  let groupSize = min(images.count, max(1, min(8, 512 / max(positions, 1))))
  let width = groupSize * positions
  BufferPool.shared.withScratch(S.self, count: g.patchSize * width) { columns in
    BufferPool.shared.withScratch(S.self, count: groupSize > 1 ? g.filters * width : 0) {
      grouped in
      for group in stride(from: images.lowerBound, to: images.upperBound, by: groupSize) {
        let members = group..<min(group + groupSize, images.upperBound)
        let width = members.count * positions
        for (slot, n) in members.enumerated() {
          im2col(
            input + n * g.inputImageCount, channels: g.channels, g.plane,
            columns + slot * positions, rowStride: width)
          guard members.count > 1 else { continue }
          for k in 0..<g.filters {
            (grouped + k * width + slot * positions).update(
              from: upstream + n * g.outputImageCount + k * positions, count: positions)
          }
        }
        let gradients =
          members.count > 1 ? UnsafePointer(grouped) : upstream + group * g.outputImageCount
        gemm(
          transposeA: false, transposeB: true, m: g.filters, n: g.patchSize, k: width,
          a: gradients, lda: width, b: columns, ldb: width, c: filterGradient,
          ldc: g.patchSize, accumulate: true)
      }
    }
  }
}
