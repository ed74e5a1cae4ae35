/// The convolution kernels on NCHW planes.
///
/// For one image of `C` planes, the column matrix `cols` `[C·Fh·Fw, H2·W2]`
/// holds its receptive fields as columns: row `(c, i, j)` holds input
/// `x[c, oh·Sh − Ph + i·Dh, ow·Sw − Pw + j·Dw]` for every output position,
/// zero where that falls in the padding. The convolutions' GEMMs read it
/// straight from a zero-padded copy of the image (``PaddedPlanes``, an
/// ``IndexedMatrix``) without writing it out; im2col writes it (for the
/// filter gradients of few filters and the recorded patches), and col2im,
/// its adjoint, adds every column back onto the input positions it was
/// read from.

/// The output positions `ow` whose input column `ow·S + offset` lies in
/// `0..<size`, for a window tap at `offset` (which may be negative).
@inlinable @inline(__always)
func validOutputs(offset: Int, stride: Int, size: Int, outputs: Int) -> Range<Int> {
  let first = offset >= 0 ? 0 : (-offset + stride - 1) / stride
  let last = size - 1 - offset < 0 ? 0 : (size - 1 - offset) / stride + 1
  let end = min(last, outputs)
  return min(first, end)..<end
}

extension WindowGeometry {
  /// Calls `body` for every row of the column matrix of an image of
  /// `channels` planes, one output row `oh` at a time: `tap` numbers the
  /// row `(c, i, j)` in row-major order; `inputRow` is the offset in the
  /// image of the input row that output row reads, or `nil` when it lies
  /// in the padding; the outputs `valid` read input columns
  /// `ow·Sw + columnOffset`, the others fall in the padding.
  @inlinable @inline(__always)
  func forEachTapRow(
    channels: Int,
    _ body: (
      _ tap: Int, _ oh: Int, _ inputRow: Int?, _ valid: Range<Int>, _ columnOffset: Int
    ) -> Void
  ) {
    var tap = 0
    for c in 0..<channels {
      for i in 0..<window.height {
        for j in 0..<window.width {
          let columnOffset = j * dilation.width - padding.width
          let valid = validOutputs(
            offset: columnOffset, stride: stride.width, size: input.width, outputs: output.width)
          for oh in 0..<output.height {
            let ih = oh * stride.height - padding.height + i * dilation.height
            let inside = ih >= 0 && ih < input.height
            body(tap, oh, inside ? c * inputCount + ih * input.width : nil, valid, columnOffset)
          }
          tap += 1
        }
      }
    }
  }
}

extension KernelSet {
  /// Writes the `[C·Fh·Fw, H2·W2]` column matrix of one image of
  /// `channels` planes, its rows `rowStride` scalars apart, moving `V`
  /// registers at a time.
  @inlinable
  static func im2col<V: SIMD>(
    _: V.Type, _ image: UnsafePointer<V.Scalar>, channels: Int, _ g: WindowGeometry,
    _ cols: UnsafeMutablePointer<V.Scalar>, rowStride: Int
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    if g.isUnitStrideAndDilation {
      im2colUnitStride(V.self, image, channels: channels, g, cols, rowStride: rowStride)
      return
    }
    g.forEachTapRow(channels: channels) { tap, oh, inputRow, valid, columnOffset in
      let destination = cols + tap * rowStride + oh * g.output.width
      guard let inputRow else {
        destination.update(repeating: 0, count: g.output.width)
        return
      }
      destination.update(repeating: 0, count: valid.lowerBound)
      (destination + valid.upperBound).update(
        repeating: 0, count: g.output.width - valid.upperBound)
      let source = image + inputRow + valid.lowerBound * g.stride.width + columnOffset
      let target = destination + valid.lowerBound
      if g.stride.width == 1 {
        copyRow(V.self, source, target, count: valid.count)
      } else {
        for k in 0..<valid.count { target[k] = source[k * g.stride.width] }
      }
    }
  }

  /// Adds every column of `cols` (`[C·Fh·Fw, H2·W2]`) onto the input
  /// positions im2col read it from; padding positions are dropped.
  @inlinable
  static func col2im<V: SIMD>(
    _: V.Type, _ cols: UnsafePointer<V.Scalar>, channels: Int, _ g: WindowGeometry,
    _ image: UnsafeMutablePointer<V.Scalar>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    if g.isUnitStrideAndDilation {
      col2imUnitStride(V.self, cols, channels: channels, g, image)
      return
    }
    g.forEachTapRow(channels: channels) { tap, oh, inputRow, valid, columnOffset in
      guard let inputRow else { return }
      let source = cols + tap * g.outputCount + oh * g.output.width + valid.lowerBound
      let destination = image + inputRow + valid.lowerBound * g.stride.width + columnOffset
      if g.stride.width == 1 {
        addRow(V.self, source, into: destination, count: valid.count)
      } else {
        for k in 0..<valid.count { destination[k * g.stride.width] += source[k] }
      }
    }
  }

  /// im2col for ``WindowGeometry/isUnitStrideAndDilation``, through a
  /// zero-padded copy of the image: row `(c, i, j)` of `cols` at output row
  /// `oh` is then the `W2` scalars of padded row `oh + i` from column `j`,
  /// one copy with no bounds to work out.
  @inlinable
  static func im2colUnitStride<V: SIMD>(
    _: V.Type, _ image: UnsafePointer<V.Scalar>, channels: Int, _ g: WindowGeometry,
    _ cols: UnsafeMutablePointer<V.Scalar>, rowStride: Int
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    let padded = PaddedPlanes(g, channels: channels)
    let buffer = padded.scratch(V.Scalar.self)
    padded.clear(buffer)
    padded.copyInterior(V.self, buffer, from: image)
    padded.forEachTapRow { tap, oh, offset in
      copyRow(
        V.self, buffer + offset, cols + tap * rowStride + oh &* g.output.width,
        count: g.output.width)
    }
  }

  /// col2im for ``WindowGeometry/isUnitStrideAndDilation``: the columns are
  /// added into a zero-padded gradient, whose interior is then added onto
  /// the image.
  @inlinable
  static func col2imUnitStride<V: SIMD>(
    _: V.Type, _ cols: UnsafePointer<V.Scalar>, channels: Int, _ g: WindowGeometry,
    _ image: UnsafeMutablePointer<V.Scalar>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    let padded = PaddedPlanes(g, channels: channels)
    let buffer = padded.scratch(V.Scalar.self)
    buffer.update(repeating: 0, count: padded.count)
    padded.forEachTapRow { tap, oh, offset in
      addRow(
        V.self, cols + tap * g.outputCount + oh &* g.output.width, into: buffer + offset,
        count: g.output.width)
    }
    for c in 0..<channels {
      for y in 0..<g.input.height {
        addRow(
          V.self,
          buffer + padded.offset(channel: c, row: g.padding.height &+ y, column: g.padding.width),
          into: image + (c &* g.input.height &+ y) &* g.input.width, count: g.input.width)
      }
    }
  }
}

/// Copies `count` scalars a register at a time; a last, overlapping
/// register covers the rest when there is at least one register's worth.
/// Shorter rows go through narrower registers the same way.
@inlinable @inline(__always)
func copyRow<V: SIMD>(
  _: V.Type, _ source: UnsafePointer<V.Scalar>, _ target: UnsafeMutablePointer<V.Scalar>,
  count: Int
) where V.Scalar: SIMDScalar {
  if count >= V.scalarCount {
    copyOverlapping(V.self, source, target, count: count)
  } else if count >= 8 {
    copyOverlapping(SIMD8<V.Scalar>.self, source, target, count: count)
  } else if count >= 4 {
    copyOverlapping(SIMD4<V.Scalar>.self, source, target, count: count)
  } else {
    for k in 0..<count { target[k] = source[k] }
  }
}

/// Copies `count ≥ R.scalarCount` scalars in registers `R`, the last one
/// overlapping the one before it.
@inlinable @inline(__always)
func copyOverlapping<R: SIMD>(
  _: R.Type, _ source: UnsafePointer<R.Scalar>, _ target: UnsafeMutablePointer<R.Scalar>,
  count: Int
) {
  let lanes = R.scalarCount
  var k = 0
  while k < count {
    let block = Swift.min(k, count &- lanes)
    UnsafeMutableRawPointer(target + block).storeBytes(
      of: UnsafeRawPointer(source + block).loadUnaligned(as: R.self), as: R.self)
    k = block &+ lanes
  }
}

/// `target[k] += source[k]` for `count` scalars, a register at a time,
/// then the rest in registers of eight and four lanes, then one by one.
@inlinable @inline(__always)
func addRow<V: SIMD>(
  _: V.Type, _ source: UnsafePointer<V.Scalar>, into target: UnsafeMutablePointer<V.Scalar>,
  count: Int
) where V.Scalar: FloatingPoint & SIMDScalar {
  var k = addRegisters(V.self, source, into: target, from: 0, count: count)
  if V.scalarCount > 8 {
    k = addRegisters(SIMD8<V.Scalar>.self, source, into: target, from: k, count: count)
  }
  if V.scalarCount > 4 {
    k = addRegisters(SIMD4<V.Scalar>.self, source, into: target, from: k, count: count)
  }
  while k < count {
    target[k] += source[k]
    k &+= 1
  }
}

/// `target[k] += source[k]` in registers `R` from `k = start` while a
/// whole register fits below `count`; returns where it stopped.
@inlinable @inline(__always)
func addRegisters<R: SIMD>(
  _: R.Type, _ source: UnsafePointer<R.Scalar>, into target: UnsafeMutablePointer<R.Scalar>,
  from start: Int, count: Int
) -> Int where R.Scalar: FloatingPoint {
  let lanes = R.scalarCount
  var k = start
  while k &+ lanes <= count {
    let sum =
      UnsafeRawPointer(target + k).loadUnaligned(as: R.self)
      + UnsafeRawPointer(source + k).loadUnaligned(as: R.self)
    UnsafeMutableRawPointer(target + k).storeBytes(of: sum, as: R.self)
    k &+= lanes
  }
  return k
}

/// The layout of a zero-padded copy of `channels` input planes, large
/// enough for every window to lie inside it.
@usableFromInline
struct PaddedPlanes {
  @usableFromInline let g: WindowGeometry
  @usableFromInline let channels: Int
  @usableFromInline let height: Int
  @usableFromInline let width: Int

  @inlinable @inline(__always)
  init(_ g: WindowGeometry, channels: Int) {
    self.g = g
    self.channels = channels
    // Padding on both sides, and more below and to the right where the
    // last window reaches past it (ceil rounding).
    height = max(
      g.input.height + 2 * g.padding.height,
      (g.output.height - 1) * g.stride.height + (g.window.height - 1) * g.dilation.height + 1)
    width = max(
      g.input.width + 2 * g.padding.width,
      (g.output.width - 1) * g.stride.width + (g.window.width - 1) * g.dilation.width + 1)
  }

  @inlinable var count: Int { channels * height * width }

  /// Room for the padded planes, the calling thread's own.
  @inlinable @inline(__always)
  func scratch<S>(_: S.Type) -> UnsafeMutablePointer<S> {
    PackingScratch.forCurrentThread.planeBuffer(bytes: max(count, 1) * MemoryLayout<S>.stride)
      .bindMemory(to: S.self, capacity: max(count, 1))
  }

  @inlinable @inline(__always)
  func offset(channel: Int, row: Int, column: Int) -> Int {
    (channel &* height &+ row) &* width &+ column
  }

  /// Calls `body(tap, oh, offset)` for every row `tap` = `(c, i, j)` of
  /// the column matrix and output row `oh`: with unit stride and
  /// dilation, that row reads `W2` scalars of the padded planes from
  /// `offset` on.
  @inlinable @inline(__always)
  func forEachTapRow(_ body: (_ tap: Int, _ oh: Int, _ offset: Int) -> Void) {
    var tap = 0
    for c in 0..<channels {
      for i in 0..<g.window.height {
        for j in 0..<g.window.width {
          var offset = self.offset(channel: c, row: i, column: j)
          for oh in 0..<g.output.height {
            body(tap, oh, offset)
            offset &+= width
          }
          tap += 1
        }
      }
    }
  }

  /// The offset in the padded planes of each row `(c, i, j)` of the
  /// column matrix at output `(0, 0)`, for `C·Fh·Fw` rows.
  @inlinable @inline(__always)
  func writeTapOffsets(into offsets: UnsafeMutablePointer<Int>) {
    var tap = 0
    for c in 0..<channels {
      for i in 0..<g.window.height {
        for j in 0..<g.window.width {
          offsets[tap] = offset(
            channel: c, row: i &* g.dilation.height, column: j &* g.dilation.width)
          tap &+= 1
        }
      }
    }
  }

  /// The offset in the padded planes of the window of each output
  /// position `oh·W2 + ow`, relative to its first tap.
  @inlinable @inline(__always)
  func writePositionOffsets(into offsets: UnsafeMutablePointer<Int>) {
    for oh in 0..<g.output.height {
      for ow in 0..<g.output.width {
        offsets[oh &* g.output.width &+ ow] =
          offset(channel: 0, row: oh &* g.stride.height, column: ow &* g.stride.width)
      }
    }
  }

  /// ``writePositionOffsets(into:)`` for the channels-last copy
  /// (``copyInteriorChannelsLast(_:from:)``).
  @inlinable @inline(__always)
  func writePositionOffsetsChannelsLast(into offsets: UnsafeMutablePointer<Int>) {
    for oh in 0..<g.output.height {
      for ow in 0..<g.output.width {
        offsets[oh &* g.output.width &+ ow] =
          (oh &* g.stride.height &* width &+ ow &* g.stride.width) &* channels
      }
    }
  }

  /// The offset in the channels-last copy of tap `(i, j)` of channel `c`,
  /// at `(i·Fw + j)·C + c`, relative to the window's first tap.
  @inlinable @inline(__always)
  func writeTapOffsetsChannelsLast(into offsets: UnsafeMutablePointer<Int>) {
    var tap = 0
    for i in 0..<g.window.height {
      for j in 0..<g.window.width {
        let first = (i &* g.dilation.height &* width &+ j &* g.dilation.width) &* channels
        for c in 0..<channels {
          offsets[tap] = first &+ c
          tap &+= 1
        }
      }
    }
  }

  /// Copies `image` (`[C, H, W]`) into the interior of a channels-last
  /// buffer `[height, width, C]` (``clear(_:)`` zeros its padding): 4 × 4
  /// blocks of 4 columns of 4 planes, transposed in registers, then the
  /// channels and columns left over one by one.
  @inlinable @inline(__always)
  func copyInteriorChannelsLast<S: BinaryFloatingPoint & SIMDScalar>(
    _ buffer: UnsafeMutablePointer<S>, from image: UnsafePointer<S>
  ) {
    let plane = g.input.height &* g.input.width
    let (blockChannels, blockColumns) = (channels & ~3, g.input.width & ~3)
    @inline(__always) func load(_ c: Int, _ offset: Int) -> SIMD4<S> {
      UnsafeRawPointer(image + (c &* plane &+ offset)).loadUnaligned(as: SIMD4<S>.self)
    }
    @inline(__always) func store(_ v: SIMD4<S>, _ target: UnsafeMutablePointer<S>) {
      UnsafeMutableRawPointer(target).storeBytes(of: v, as: SIMD4<S>.self)
    }
    for y in 0..<g.input.height {
      let line = buffer + ((y &+ g.padding.height) &* width &+ g.padding.width) &* channels
      let row = y &* g.input.width
      for x in stride(from: 0, to: blockColumns, by: 4) {
        let target = line + x &* channels
        for c in stride(from: 0, to: blockChannels, by: 4) {
          let (r0, r1, r2, r3) = (
            load(c, row &+ x), load(c &+ 1, row &+ x), load(c &+ 2, row &+ x),
            load(c &+ 3, row &+ x)
          )
          store(SIMD4(r0[0], r1[0], r2[0], r3[0]), target + c)
          store(SIMD4(r0[1], r1[1], r2[1], r3[1]), target + (channels &+ c))
          store(SIMD4(r0[2], r1[2], r2[2], r3[2]), target + (2 &* channels &+ c))
          store(SIMD4(r0[3], r1[3], r2[3], r3[3]), target + (3 &* channels &+ c))
        }
        for c in blockChannels..<channels {
          for t in 0..<4 { target[t &* channels &+ c] = image[c &* plane &+ row &+ x &+ t] }
        }
      }
      for x in blockColumns..<g.input.width {
        for c in 0..<channels { line[x &* channels &+ c] = image[c &* plane &+ row &+ x] }
      }
    }
  }

  /// The column matrix read from the calling thread's padded planes,
  /// cleared: `[C·Fh·Fw, H2·W2]`, each image brought in by
  /// ``copyInterior(_:_:from:)``, or, `channelsLast`, its transpose
  /// `[H2·W2, Fh·Fw·C]` with the taps in `(i, j, c)` order, each image
  /// brought in by ``copyInteriorChannelsLast(_:from:)``.
  @inlinable @inline(__always)
  func columnMatrix<S: BinaryFloatingPoint>(_: S.Type, channelsLast: Bool) -> IndexedMatrix<S> {
    let (taps, positions) = (channels * g.windowCount, g.outputCount)
    let rows = channelsLast ? positions : taps
    let tables = PackingScratch.forCurrentThread.tableBuffer(count: taps + positions)
    if channelsLast {
      writePositionOffsetsChannelsLast(into: tables)
      writeTapOffsetsChannelsLast(into: tables + rows)
    } else {
      writeTapOffsets(into: tables)
      writePositionOffsets(into: tables + rows)
    }
    let planes = scratch(S.self)
    clear(planes)
    return IndexedMatrix(base: planes, rowOffsets: tables, columnOffsets: tables + rows)
  }

  /// Zeros all of `buffer`: the padding, which the interior copies below
  /// leave alone, stays zero for every image copied in afterwards.
  @inlinable @inline(__always)
  func clear<S: BinaryFloatingPoint>(_ buffer: UnsafeMutablePointer<S>) {
    buffer.update(repeating: 0, count: count)
  }

  /// Copies `image` (`[C, H, W]`) into the interior of `buffer`.
  @inlinable @inline(__always)
  func copyInterior<V: SIMD>(
    _: V.Type, _ buffer: UnsafeMutablePointer<V.Scalar>, from image: UnsafePointer<V.Scalar>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    for c in 0..<channels {
      for y in 0..<g.input.height {
        copyRow(
          V.self, image + (c &* g.input.height &+ y) &* g.input.width,
          buffer + offset(channel: c, row: g.padding.height &+ y, column: g.padding.width),
          count: g.input.width)
      }
    }
  }
}

// MARK: - Convolutions on the packed tile

extension KernelSet {
  /// `output[n] = W · cols(input[n]) (+ bias)` for the images `images` of
  /// the batch, with the filters `[K, C·Fh·Fw]` packed once for all of them
  /// and the column matrices never written out: the GEMM packs its B panels
  /// straight from a zero-padded copy of each image (a pointwise
  /// convolution reads the image itself).
  @inlinable
  static func convolution<V: SIMD>(
    _: V.Type, input: UnsafePointer<V.Scalar>, filters: UnsafePointer<V.Scalar>,
    bias: UnsafePointer<V.Scalar>?, output: UnsafeMutablePointer<V.Scalar>,
    _ g: ConvolutionGeometry, images: Range<Int>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    if let winograd = WinogradGeometry(g) {
      winogradConvolution(
        V.self, input: input, filters: filters, flipped: false, bias: bias, output: output,
        winograd, images: images)
      return
    }
    let (positions, patch) = (g.plane.outputCount, g.patchSize)
    let scratch = PackingScratch.forCurrentThread
    let packedFilters = scratch.operandBuffer(
      V.Scalar.self, count: roundUp(g.filters, tileRows(V.self)) * patch)
    prepackPanelsA(
      V.self, Operand(filters, patch, false), rows: g.filters, depth: patch, into: packedFilters)
    // A pointwise convolution reads the image itself.
    let padded = PaddedPlanes(g.plane, channels: g.channels)
    let windows = g.isPointwise ? nil : padded.columnMatrix(V.Scalar.self, channelsLast: false)
    for n in images {
      let image = input + n * g.inputImageCount
      let result = output + n * g.outputImageCount
      if let bias {
        for k in 0..<g.filters {
          (result + k * positions).update(repeating: bias[k], count: positions)
        }
      }
      let columns: PanelSource<V.Scalar>
      if let windows {
        padded.copyInterior(V.self, UnsafeMutablePointer(mutating: windows.base), from: image)
        columns = .indexed(windows)
      } else {
        columns = .matrix(Operand(image, positions, false))
      }
      multiplyPanels(
        V.self, m: g.filters, n: positions, k: patch, a: .prepacked(packedFilters), b: columns,
        c: result, ldc: positions, accumulate: bias != nil)
    }
  }

  /// `inputGradient[n]` for the images `images`, overwritten: for a
  /// convolution with unit stride whose output is about as large as its
  /// input, and enough channels to fill the tile's rows, the transposed
  /// convolution
  /// (``convolutionInputGradientTransposed(_:upstream:filters:inputGradient:_:images:)``);
  /// otherwise col2im of `Wᵀ · upstream[n]`, with `Wᵀ` packed once for all
  /// the images.
  @inlinable
  static func convolutionInputGradient<V: SIMD>(
    _: V.Type, upstream: UnsafePointer<V.Scalar>, filters: UnsafePointer<V.Scalar>,
    inputGradient: UnsafeMutablePointer<V.Scalar>, _ g: ConvolutionGeometry, images: Range<Int>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    // The transposed product has one row per input channel, so it needs
    // channels that fill the tile's rows: at least 16, a multiple of 8
    // (at most an eighth of the rows empty with 6-row tiles, none with
    // 8-row tiles). The choice must not depend on the set, so that every
    // set sums in the same order.
    if let winograd = WinogradGeometry(g) {
      winogradConvolution(
        V.self, input: upstream, filters: filters, flipped: true, bias: nil,
        output: inputGradient, winograd.transposed, images: images)
      return
    }
    let fillsTiles = g.channels >= 16 && g.channels % 8 == 0
    if !g.isPointwise, fillsTiles, let transposed = g.plane.transposed {
      convolutionInputGradientTransposed(
        V.self, upstream: upstream, filters: filters, inputGradient: inputGradient, g,
        transposed, images: images)
      return
    }
    let (positions, patch) = (g.plane.outputCount, g.patchSize)
    let scratch = PackingScratch.forCurrentThread
    let packedFilters = scratch.operandBuffer(
      V.Scalar.self, count: roundUp(patch, tileRows(V.self)) * g.filters)
    prepackPanelsA(
      V.self, Operand(filters, patch, true), rows: patch, depth: g.filters, into: packedFilters)
    let columns =
      g.isPointwise ? nil : scratch.columnBuffer(V.Scalar.self, count: patch * positions)
    for n in images {
      let gradient = upstream + n * g.outputImageCount
      let destination = inputGradient + n * g.inputImageCount
      multiplyPanels(
        V.self, m: patch, n: positions, k: g.filters, a: .prepacked(packedFilters),
        b: .matrix(Operand(gradient, positions, false)), c: columns ?? destination,
        ldc: positions, accumulate: false)
      guard let columns else { continue }
      destination.update(repeating: 0, count: g.inputImageCount)
      col2im(V.self, columns, channels: g.channels, g.plane, destination)
    }
  }

  /// The input gradient as a convolution of the output gradient, zero-padded
  /// by `D·(F − 1) − P`, with the filters flipped and their two channel
  /// axes swapped: `∂x[c, h, w] = Σ W[k, c, i, j] · ∂y[k, h + P − i·D,
  /// w + P − j·D]`, a product `[C, K·Fh·Fw] · [K·Fh·Fw, H·W]` whose B panels
  /// are read from the padded gradient like the forward pass's, with no
  /// column matrix to fold back.
  @inlinable
  static func convolutionInputGradientTransposed<V: SIMD>(
    _: V.Type, upstream: UnsafePointer<V.Scalar>, filters: UnsafePointer<V.Scalar>,
    inputGradient: UnsafeMutablePointer<V.Scalar>, _ g: ConvolutionGeometry,
    _ transposed: WindowGeometry, images: Range<Int>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    let (positions, taps) = (transposed.outputCount, transposed.windowCount)
    let depth = g.filters * taps
    let scratch = PackingScratch.forCurrentThread
    // `A[c, (k, i, j)] = W[k, c, Fh − 1 − i, Fw − 1 − j]`.
    let flipped = scratch.columnBuffer(V.Scalar.self, count: g.channels * depth)
    for c in 0..<g.channels {
      for k in 0..<g.filters {
        let source = filters + (k * g.channels + c) * taps
        let target = flipped + c * depth + k * taps
        for t in 0..<taps { target[t] = source[taps - 1 - t] }
      }
    }
    let packedFilters = scratch.operandBuffer(
      V.Scalar.self, count: roundUp(g.channels, tileRows(V.self)) * depth)
    prepackPanelsA(
      V.self, Operand(flipped, depth, false), rows: g.channels, depth: depth, into: packedFilters)
    let padded = PaddedPlanes(transposed, channels: g.filters)
    let windows = padded.columnMatrix(V.Scalar.self, channelsLast: false)
    for n in images {
      padded.copyInterior(
        V.self, UnsafeMutablePointer(mutating: windows.base),
        from: upstream + n * g.outputImageCount)
      multiplyPanels(
        V.self, m: g.channels, n: positions, k: depth, a: .prepacked(packedFilters),
        b: .indexed(windows), c: inputGradient + n * g.inputImageCount, ldc: positions,
        accumulate: false)
    }
  }

  /// `filterGradient += Σₙ upstream[n] · colsᵀ` over the images `images`,
  /// where `colsᵀ` is the channels-last column matrix `[H2·W2, Fh·Fw·C]`:
  /// `filterGradient` is `[K, Fh·Fw·C]`, each filter's taps in `(i, j, c)`
  /// order. The B panels are packed straight from a zero-padded
  /// channels-last copy of each image, where the taps of a window row lie
  /// side by side, so each panel row is a few runs of registers.
  @inlinable
  static func convolutionFilterGradient<V: SIMD>(
    _: V.Type, upstream: UnsafePointer<V.Scalar>, input: UnsafePointer<V.Scalar>,
    filterGradient: UnsafeMutablePointer<V.Scalar>, _ g: ConvolutionGeometry, images: Range<Int>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    if let winograd = WinogradGeometry(g) {
      winogradFilterGradient(
        V.self, upstream: upstream, input: input, filterGradient: filterGradient, winograd,
        images: images)
      return
    }
    let (positions, patch) = (g.plane.outputCount, g.patchSize)
    let padded = PaddedPlanes(g.plane, channels: g.channels)
    let windows = padded.columnMatrix(V.Scalar.self, channelsLast: true)
    for n in images {
      padded.copyInteriorChannelsLast(
        UnsafeMutablePointer(mutating: windows.base), from: input + n * g.inputImageCount)
      multiplyPanels(
        V.self, m: g.filters, n: patch, k: positions,
        a: .matrix(Operand(upstream + n * g.outputImageCount, positions, false)),
        b: .indexed(windows), c: filterGradient, ldc: patch, accumulate: true)
    }
  }
}
