import CortexKernels
import Foundation

/// 2-D convolution on NCHW buffers: im2col, then one GEMM per image.
///
/// For image `n`, im2col lays its receptive fields out as the columns of a
/// matrix `cols` of shape `[C·Fh·Fw, H2·W2]` (row `(c, i, j)` holds input
/// `x[c, oh·Sh − Ph + i·Dh, ow·Sw − Pw + j·Dw]` for every output position,
/// zero where that falls in the padding). With the filters viewed as
/// `W [K, C·Fh·Fw]`:
/// - forward: `y[n] = W · cols + b`,
/// - filter gradient: `∂W += ∂y[n] · colsᵀ`,
/// - input gradient: `∂cols = Wᵀ · ∂y[n]`, then col2im adds every column
///   back onto the input positions it was read from.
/// Images are processed in parallel, one chunk of the batch per core, each
/// chunk with its own scratch buffer for `cols`.

/// A pair of sizes, one per spatial axis.
struct Extent: Sendable, Equatable {
  var height: Int
  var width: Int
}

extension Extent {
  /// The extent `(height, width)`.
  init(_ pair: (Int, Int)) {
    self.init(height: pair.0, width: pair.1)
  }
}

/// The sizes of a sliding window over one `H×W` plane: the window, its
/// stride, zero padding and dilation, and the output plane they produce.
struct WindowGeometry: Sendable, Equatable {
  var input: Extent
  var window: Extent
  var stride: Extent
  var padding: Extent
  var dilation: Extent
  var output: Extent

  var inputCount: Int { input.height * input.width }
  var windowCount: Int { window.height * window.width }
  var outputCount: Int { output.height * output.width }
}

/// The sizes of a batched 2-D convolution: input `[N, C, H, W]`, filters
/// `[K, C, Fh, Fw]`, output `[N, K, H2, W2]`.
struct ConvolutionGeometry: Sendable, Equatable {
  var batch: Int
  var channels: Int
  var filters: Int
  var plane: WindowGeometry

  /// The rows of `cols`: `C·Fh·Fw`, one per filter weight.
  var patchSize: Int { channels * plane.windowCount }
  var inputImageCount: Int { channels * plane.inputCount }
  var outputImageCount: Int { filters * plane.outputCount }

  /// A 1×1 convolution with stride 1 and no padding: `cols` is the image
  /// itself and im2col is skipped.
  var isPointwise: Bool {
    plane.window == Extent(height: 1, width: 1) && plane.stride == Extent(height: 1, width: 1)
      && plane.padding == Extent(height: 0, width: 0)
  }
}

/// The output positions `ow` whose input column `ow·S + offset` lies in
/// `0..<size`, for a window tap at `offset` (which may be negative).
@inline(__always)
private func validOutputs(offset: Int, stride: Int, size: Int, outputs: Int) -> Range<Int> {
  let first = offset >= 0 ? 0 : (-offset + stride - 1) / stride
  let last = size - 1 - offset < 0 ? 0 : (size - 1 - offset) / stride + 1
  let end = min(last, outputs)
  return min(first, end)..<end
}

/// Writes the `[C·Fh·Fw, H2·W2]` column matrix of one image, its rows
/// `rowStride` scalars apart (by default `H2·W2`, one after the other).
@_specialize(where S == Float)
@_specialize(where S == Double)
func im2col<S: TensorScalar>(
  _ image: UnsafePointer<S>, channels: Int, _ g: WindowGeometry, _ cols: UnsafeMutablePointer<S>,
  rowStride: Int? = nil
) {
  let rowStride = rowStride ?? g.outputCount
  if g.isUnitStrideAndDilation {
    im2colUnitStride(image, channels: channels, g, cols, rowStride: rowStride)
    return
  }
  var row = cols
  for c in 0..<channels {
    let plane = image + c * g.inputCount
    for i in 0..<g.window.height {
      for j in 0..<g.window.width {
        let columnOffset = j * g.dilation.width - g.padding.width
        let valid = validOutputs(
          offset: columnOffset, stride: g.stride.width, size: g.input.width,
          outputs: g.output.width)
        for oh in 0..<g.output.height {
          let destination = row + oh * g.output.width
          let ih = oh * g.stride.height - g.padding.height + i * g.dilation.height
          guard ih >= 0 && ih < g.input.height else {
            destination.update(repeating: 0, count: g.output.width)
            continue
          }
          destination.update(repeating: 0, count: valid.lowerBound)
          (destination + valid.upperBound).update(
            repeating: 0, count: g.output.width - valid.upperBound)
          let source = plane + ih * g.input.width + valid.lowerBound * g.stride.width + columnOffset
          let target = destination + valid.lowerBound
          if g.stride.width == 1 {
            target.update(from: source, count: valid.count)
          } else {
            for k in 0..<valid.count { target[k] = source[k * g.stride.width] }
          }
        }
        row += rowStride
      }
    }
  }
}

/// Adds every column of `cols` (`[C·Fh·Fw, H2·W2]`) onto the input
/// positions im2col read it from: the adjoint of ``im2col(_:channels:_:_:)``.
/// Padding positions are dropped.
@_specialize(where S == Float)
@_specialize(where S == Double)
func col2im<S: TensorScalar>(
  _ cols: UnsafePointer<S>, channels: Int, _ g: WindowGeometry, _ image: UnsafeMutablePointer<S>
) {
  if g.isUnitStrideAndDilation {
    col2imUnitStride(cols, channels: channels, g, image)
    return
  }
  var row = cols
  for c in 0..<channels {
    let plane = image + c * g.inputCount
    for i in 0..<g.window.height {
      for j in 0..<g.window.width {
        let columnOffset = j * g.dilation.width - g.padding.width
        let valid = validOutputs(
          offset: columnOffset, stride: g.stride.width, size: g.input.width,
          outputs: g.output.width)
        for oh in 0..<g.output.height {
          let ih = oh * g.stride.height - g.padding.height + i * g.dilation.height
          guard ih >= 0 && ih < g.input.height else { continue }
          let source = row + oh * g.output.width + valid.lowerBound
          let destination =
            plane + ih * g.input.width + valid.lowerBound * g.stride.width + columnOffset
          if g.stride.width == 1 {
            for k in 0..<valid.count { destination[k] += source[k] }
          } else {
            for k in 0..<valid.count { destination[k * g.stride.width] += source[k] }
          }
        }
        row += g.outputCount
      }
    }
  }
}

extension WindowGeometry {
  /// Stride 1 and dilation 1 along both axes: each row of `cols` is the
  /// input plane shifted by the window tap, with zeros where it falls in
  /// the padding.
  var isUnitStrideAndDilation: Bool {
    let one = Extent(height: 1, width: 1)
    return stride == one && dilation == one
  }
}

/// ``im2col(_:channels:_:_:)`` for ``WindowGeometry/isUnitStrideAndDilation``,
/// through a zero-padded copy of the image: row `(c, i, j)` of `cols` at
/// output row `oh` is then the `W2` scalars of padded row `oh + i` from
/// column `j`, one copy with no bounds to work out.
@_specialize(where S == Float)
@_specialize(where S == Double)
func im2colUnitStride<S: TensorScalar>(
  _ image: UnsafePointer<S>, channels: Int, _ g: WindowGeometry, _ cols: UnsafeMutablePointer<S>,
  rowStride: Int
) {
  let padded = PaddedPlanes(g, channels: channels)
  BufferPool.shared.withScratch(S.self, count: padded.count) { buffer in
    padded.fill(buffer, from: image)
    var row = cols
    for c in 0..<channels {
      for i in 0..<g.window.height {
        for j in 0..<g.window.width {
          var source = buffer + padded.offset(channel: c, row: i, column: j)
          for oh in 0..<g.output.height {
            copyRow(source, row + oh &* g.output.width, count: g.output.width)
            source += padded.width
          }
          row += rowStride
        }
      }
    }
  }
}

/// ``col2im(_:channels:_:_:)`` for ``WindowGeometry/isUnitStrideAndDilation``:
/// the columns are added into a zero-padded gradient, whose interior is
/// then added onto the image.
@_specialize(where S == Float)
@_specialize(where S == Double)
func col2imUnitStride<S: TensorScalar>(
  _ cols: UnsafePointer<S>, channels: Int, _ g: WindowGeometry, _ image: UnsafeMutablePointer<S>
) {
  let padded = PaddedPlanes(g, channels: channels)
  BufferPool.shared.withScratch(S.self, count: padded.count) { buffer in
    buffer.update(repeating: 0, count: padded.count)
    var row = cols
    for c in 0..<channels {
      for i in 0..<g.window.height {
        for j in 0..<g.window.width {
          var target = buffer + padded.offset(channel: c, row: i, column: j)
          for oh in 0..<g.output.height {
            addRow(row + oh &* g.output.width, into: target, count: g.output.width)
            target += padded.width
          }
          row += g.outputCount
        }
      }
    }
    padded.addInterior(of: buffer, onto: image)
  }
}

/// The layout of a zero-padded copy of `channels` input planes.
private struct PaddedPlanes {
  let g: WindowGeometry
  let channels: Int
  let height: Int
  let width: Int

  init(_ g: WindowGeometry, channels: Int) {
    self.g = g
    self.channels = channels
    height = g.input.height + 2 * g.padding.height
    width = g.input.width + 2 * g.padding.width
  }

  var count: Int { channels * height * width }

  @inline(__always)
  func offset(channel: Int, row: Int, column: Int) -> Int {
    (channel &* height &+ row) &* width &+ column
  }

  /// Writes the padded copy of `image` into `buffer`.
  @inline(__always)
  func fill<S: TensorScalar>(_ buffer: UnsafeMutablePointer<S>, from image: UnsafePointer<S>) {
    let (top, left) = (g.padding.height, g.padding.width)
    for c in 0..<channels {
      let plane = buffer + offset(channel: c, row: 0, column: 0)
      plane.update(repeating: 0, count: top &* width)
      for y in 0..<g.input.height {
        let target = plane + (top &+ y) &* width
        for x in 0..<left { target[x] = 0 }
        copyRow(
          image + (c &* g.input.height &+ y) &* g.input.width, target + left,
          count: g.input.width)
        for x in (left &+ g.input.width)..<width { target[x] = 0 }
      }
      (plane + (top &+ g.input.height) &* width).update(repeating: 0, count: top &* width)
    }
  }

  /// Adds the interior of the padded `buffer` onto `image`.
  @inline(__always)
  func addInterior<S: TensorScalar>(
    of buffer: UnsafePointer<S>, onto image: UnsafeMutablePointer<S>
  ) {
    for c in 0..<channels {
      for y in 0..<g.input.height {
        addRow(
          buffer + offset(channel: c, row: g.padding.height &+ y, column: g.padding.width),
          into: image + (c &* g.input.height &+ y) &* g.input.width, count: g.input.width)
      }
    }
  }
}

/// Copies `count` scalars, eight at a time; a last, overlapping block of
/// eight covers the rest when there are at least eight.
@inline(__always)
private func copyRow<S: TensorScalar>(
  _ source: UnsafePointer<S>, _ target: UnsafeMutablePointer<S>, count: Int
) {
  guard count >= 8 else {
    for k in 0..<count { target[k] = source[k] }
    return
  }
  var k = 0
  while k < count {
    let block = Swift.min(k, count &- 8)
    UnsafeMutableRawPointer(target + block).storeBytes(
      of: UnsafeRawPointer(source + block).loadUnaligned(as: SIMD8<S>.self), as: SIMD8<S>.self)
    k = block &+ 8
  }
}

/// `target[k] += source[k]` for `count` scalars, eight at a time.
@inline(__always)
private func addRow<S: TensorScalar>(
  _ source: UnsafePointer<S>, into target: UnsafeMutablePointer<S>, count: Int
) {
  var k = 0
  while k &+ 8 <= count {
    let sum =
      UnsafeRawPointer(target + k).loadUnaligned(as: SIMD8<S>.self)
      + UnsafeRawPointer(source + k).loadUnaligned(as: SIMD8<S>.self)
    UnsafeMutableRawPointer(target + k).storeBytes(of: sum, as: SIMD8<S>.self)
    k &+= 8
  }
  while k < count {
    target[k] += source[k]
    k &+= 1
  }
}

/// Runs `body` on contiguous chunks of `0..<count`, one chunk per thread
/// of the worker pool; on the whole range at once when `count · costPerItem`
/// (roughly, multiply–adds) is too small to pay for the threads. `body`
/// receives the chunk's index (below `chunks`) and its range.
func forEachChunk(
  of count: Int, costPerItem: Int, chunks: Int = ComputeSettings.threadCount,
  _ body: (_ chunk: Int, _ range: Range<Int>) -> Void
) {
  let workers = count * costPerItem < 1 << 16 ? 1 : max(1, min(chunks, count))
  if workers == 1 {
    body(0, 0..<count)
    return
  }
  // The chunks touch disjoint parts of the buffers `body` works on.
  WorkerPool.shared.parallelFor(workers) { chunk in
    body(chunk, (chunk * count / workers)..<((chunk + 1) * count / workers))
  }
}

/// The column matrix of one image: im2col into `scratch`, or the image
/// itself for a pointwise convolution (which has no scratch).
@inline(__always)
private func columns<S: TensorScalar>(
  of image: UnsafePointer<S>, _ g: ConvolutionGeometry, scratch: UnsafeMutablePointer<S>?
) -> UnsafePointer<S> {
  guard let scratch else { return image }
  im2col(image, channels: g.channels, g.plane, scratch)
  return UnsafePointer(scratch)
}

/// `output[n] = W · cols(input[n]) + bias` for every image of the batch.
///
/// - Parameters:
///   - input: `[N, C, H, W]`.
///   - filters: `[K, C, Fh, Fw]`, read as the matrix `[K, C·Fh·Fw]`.
///   - bias: `[K]`, or `nil` for none.
///   - output: `[N, K, H2, W2]`, overwritten.
@_specialize(where S == Float)
@_specialize(where S == Double)
func convolution2DForward<S: TensorScalar>(
  _ input: UnsafePointer<S>, filters: UnsafePointer<S>, bias: UnsafePointer<S>?,
  output: UnsafeMutablePointer<S>, _ g: ConvolutionGeometry
) {
  let positions = g.plane.outputCount
  let cost = g.filters * g.patchSize * positions
  func forward(_ images: Range<Int>, _ scratch: UnsafeMutablePointer<S>?) {
    for n in images {
      let image = input + n * g.inputImageCount
      let result = output + n * g.outputImageCount
      if let bias {
        for k in 0..<g.filters {
          (result + k * positions).update(repeating: bias[k], count: positions)
        }
      }
      gemm(
        transposeA: false, transposeB: false, m: g.filters, n: positions, k: g.patchSize,
        a: filters, lda: g.patchSize, b: columns(of: image, g, scratch: scratch), ldb: positions,
        c: result, ldc: positions, accumulate: bias != nil)
    }
  }
  forEachChunk(of: g.batch, costPerItem: cost) { _, images in
    withColumnScratch(S.self, g) { scratch in forward(images, scratch) }
  }
}

/// Runs `body` with a pooled scratch buffer for the column matrix of one
/// image, or with `nil` for a pointwise convolution, which needs none.
@inline(__always)
private func withColumnScratch<S: TensorScalar>(
  _: S.Type, _ g: ConvolutionGeometry, _ body: (UnsafeMutablePointer<S>?) -> Void
) {
  if g.isPointwise {
    body(nil)
  } else {
    BufferPool.shared.withScratch(S.self, count: g.patchSize * g.plane.outputCount) { body($0) }
  }
}

/// The sum of `count` scalars, in eight interleaved partial sums.
@_specialize(where S == Float)
@_specialize(where S == Double)
func vectorSum<S: TensorScalar>(_ x: UnsafePointer<S>, count: Int) -> S {
  var (a, b) = (SIMD8<S>(), SIMD8<S>())
  var i = 0
  while i + 16 <= count {
    a += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<S>.self)
    b += UnsafeRawPointer(x + i + 8).loadUnaligned(as: SIMD8<S>.self)
    i += 16
  }
  var sum = (a + b).sum()
  while i < count {
    sum += x[i]
    i += 1
  }
  return sum
}

/// The gradients of ``convolution2DForward(_:filters:bias:output:_:)``
/// given the output's gradient `upstream` (`[N, K, H2, W2]`). Each gradient
/// is computed only when its buffer is given, and overwritten:
/// - `inputGradient` `[N, C, H, W]`: col2im of `Wᵀ · ∂y[n]`,
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
  BufferPool.shared.withScratch(S.self, count: needsPartials ? partialCount * chunks : 0) {
    partials in
    if needsPartials { partials.initialize(repeating: 0, count: partialCount * chunks) }
    let cost = 2 * g.filters * g.patchSize * positions
    // The bias gradient alone needs no image.
    let usesImages = filterGradient != nil || inputGradient != nil
    let batch = needsPartials || inputGradient != nil ? g.batch : 0
    // Images whose filter gradients are taken in one product: enough for
    // about 512 positions, so that the dot products are long.
    let groupSize = g.isPointwise ? 1 : max(1, min(8, 512 / max(positions, 1)))
    forEachChunk(of: batch, costPerItem: cost, chunks: chunks) { chunk, images in
      let partialFilters = partials + chunk * partialCount
      let partialBias = partialFilters + filterCount
      func backward(
        _ scratch: UnsafeMutablePointer<S>?, _ groupedGradient: UnsafeMutablePointer<S>?
      ) {
        for n in images {
          let gradient = upstream + n * g.outputImageCount
          if biasGradient != nil {
            for k in 0..<g.filters {
              partialBias[k] += vectorSum(gradient + k * positions, count: positions)
            }
          }
        }
        guard usesImages else { return }
        for group in stride(from: images.lowerBound, to: images.upperBound, by: groupSize) {
          let members = group..<min(group + groupSize, images.upperBound)
          if filterGradient != nil {
            filterGradientOfGroup(members, scratch, groupedGradient)
          }
          guard let inputGradient else { continue }
          for n in members {
            let gradient = upstream + n * g.outputImageCount
            let destination = inputGradient + n * g.inputImageCount
            guard let scratch else {
              gemm(
                transposeA: true, transposeB: false, m: g.patchSize, n: positions, k: g.filters,
                a: filters, lda: g.patchSize, b: gradient, ldb: positions, c: destination,
                ldc: positions, accumulate: false)
              continue
            }
            gemm(
              transposeA: true, transposeB: false, m: g.patchSize, n: positions, k: g.filters,
              a: filters, lda: g.patchSize, b: gradient, ldb: positions, c: scratch,
              ldc: positions, accumulate: false)
            destination.update(repeating: 0, count: g.inputImageCount)
            col2im(scratch, channels: g.channels, g.plane, destination)
          }
        }
        /// `∂W += Σₙ ∂y[n] · cols(x[n])ᵀ` over the images of `members` as
        /// one product: their column matrices side by side in `scratch`
        /// and their output gradients side by side in `groupedGradient`,
        /// so that the dot products run over all their positions at once.
        func filterGradientOfGroup(
          _ members: Range<Int>, _ scratch: UnsafeMutablePointer<S>?,
          _ groupedGradient: UnsafeMutablePointer<S>?
        ) {
          let width = members.count * positions
          guard let scratch, let groupedGradient, members.count > 1 else {
            for n in members {
              gemm(
                transposeA: false, transposeB: true, m: g.filters, n: g.patchSize, k: positions,
                a: upstream + n * g.outputImageCount, lda: positions,
                b: columns(of: input + n * g.inputImageCount, g, scratch: scratch),
                ldb: positions, c: partialFilters, ldc: g.patchSize, accumulate: true)
            }
            return
          }
          for (slot, n) in members.enumerated() {
            im2col(
              input + n * g.inputImageCount, channels: g.channels, g.plane,
              scratch + slot * positions, rowStride: width)
            for k in 0..<g.filters {
              (groupedGradient + k * width + slot * positions).update(
                from: upstream + n * g.outputImageCount + k * positions, count: positions)
            }
          }
          gemm(
            transposeA: false, transposeB: true, m: g.filters, n: g.patchSize, k: width,
            a: groupedGradient, lda: width, b: scratch, ldb: width, c: partialFilters,
            ldc: g.patchSize, accumulate: true)
        }
      }
      if usesImages && !images.isEmpty && !g.isPointwise {
        let width = min(groupSize, images.count) * positions
        BufferPool.shared.withScratch(S.self, count: g.patchSize * width) { scratch in
          if filterGradient != nil && groupSize > 1 {
            BufferPool.shared.withScratch(S.self, count: g.filters * width) { grouped in
              backward(scratch, grouped)
            }
          } else {
            backward(scratch, nil)
          }
        }
      } else {
        backward(nil, nil)
      }
    }
    if let filterGradient {
      filterGradient.update(from: partials, count: filterCount)
      for chunk in 1..<chunks {
        let partial = partials + chunk * partialCount
        for i in 0..<filterCount { filterGradient[i] += partial[i] }
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
