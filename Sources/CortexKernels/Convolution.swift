/// im2col and col2im on NCHW planes, the two data movements around the
/// GEMM of a convolution.
///
/// For one image of `C` planes, im2col lays its receptive fields out as the
/// columns of a matrix `cols` of shape `[C·Fh·Fw, H2·W2]`: row `(c, i, j)`
/// holds input `x[c, oh·Sh − Ph + i·Dh, ow·Sw − Pw + j·Dw]` for every
/// output position, zero where that falls in the padding. col2im is its
/// adjoint: it adds every column back onto the input positions it was read
/// from.

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

  /// Writes the channels-last column matrix of one image of `channels`
  /// planes: `[H2·W2, Fh·Fw·C]`, one receptive field per output position,
  /// tap `(i, j)` of channel `c` at `(i·Fw + j)·C + c`. It is `colsᵀ` with
  /// its columns reordered from `(c, i, j)` to `(i, j, c)`. It reads a
  /// zero-padded channels-last copy of the image, where the `Fw·C` taps of
  /// a window row (the `C` taps of a window tap, with dilation across) lie
  /// side by side: each moves as one run of registers, with no bounds to
  /// check.
  @inlinable
  static func im2colChannelsLast<V: SIMD>(
    _: V.Type, _ image: UnsafePointer<V.Scalar>, channels: Int, _ g: WindowGeometry,
    _ rows: UnsafeMutablePointer<V.Scalar>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    let padded = PaddedPlanes(g, channels: channels)
    let buffer = padded.scratch(V.Scalar.self)
    buffer.update(repeating: 0, count: padded.count)
    for y in 0..<g.input.height {
      let line = buffer + ((y &+ g.padding.height) &* padded.width &+ g.padding.width) &* channels
      for c in 0..<channels {
        let source = image + (c &* g.input.height &+ y) &* g.input.width
        for x in 0..<g.input.width { line[x &* channels &+ c] = source[x] }
      }
    }
    let (runs, runLength, runStep) =
      g.dilation.width == 1
      ? (1, g.window.width &* channels, 0)
      : (g.window.width, channels, g.dilation.width &* channels)
    var target = rows
    for oh in 0..<g.output.height {
      for ow in 0..<g.output.width {
        for i in 0..<g.window.height {
          let row = oh &* g.stride.height &+ i &* g.dilation.height
          let window = buffer + (row &* padded.width &+ ow &* g.stride.width) &* channels
          for run in 0..<runs {
            copyRow(V.self, window + run &* runStep, target, count: runLength)
            target += runLength
          }
        }
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
    padded.fill(V.self, buffer, from: image)
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

/// The layout of a zero-padded copy of `channels` input planes.
@usableFromInline
struct PaddedPlanes {
  @usableFromInline let g: WindowGeometry
  @usableFromInline let channels: Int
  @usableFromInline let height: Int
  @usableFromInline let width: Int

  @inlinable
  init(_ g: WindowGeometry, channels: Int) {
    self.g = g
    self.channels = channels
    height = g.input.height + 2 * g.padding.height
    width = g.input.width + 2 * g.padding.width
  }

  @inlinable var count: Int { channels * height * width }

  /// Room for the padded planes, the calling thread's own.
  @inlinable
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

  /// Writes the padded copy of `image` into `buffer`.
  @inlinable @inline(__always)
  func fill<V: SIMD>(
    _: V.Type, _ buffer: UnsafeMutablePointer<V.Scalar>, from image: UnsafePointer<V.Scalar>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    let (top, left) = (g.padding.height, g.padding.width)
    for c in 0..<channels {
      let plane = buffer + offset(channel: c, row: 0, column: 0)
      plane.update(repeating: 0, count: top &* width)
      for y in 0..<g.input.height {
        let target = plane + (top &+ y) &* width
        for x in 0..<left { target[x] = 0 }
        copyRow(
          V.self, image + (c &* g.input.height &+ y) &* g.input.width, target + left,
          count: g.input.width)
        for x in (left &+ g.input.width)..<width { target[x] = 0 }
      }
      (plane + (top &+ g.input.height) &* width).update(repeating: 0, count: top &* width)
    }
  }
}
