// Packing.
//
// A packed panel of width `w` (`mr` for A, `nr` for B) holds, at step `p`
// of the depth, the `w` scalars `p * w ..< p * w + w`. Depending on the
// transpose, those `w` scalars either lie side by side in memory (a run,
// copied whole) or one in each of `w` rows of the source (gathered).

extension KernelSet {
  /// Packs `op(A)` into `mr`-row panels, zero-padded past the last row.
  @inlinable @inline(__always)
  static func packPanelsA<S: BinaryFloatingPoint>(
    _ source: Operand<S>, rows: Int, depth: Int, mr: Int, into panels: UnsafeMutablePointer<S>
  ) {
    // op(A)[i, p] is base[p * stride + i] when transposed.
    if source.transposed {
      packRuns(source.base, source.stride, rows, depth, mr, panels)
    } else {
      packGathered(source.base, source.stride, rows, depth, mr, panels)
    }
  }

  /// Packs `op(B)` into panels of two registers' width, zero-padded past
  /// the last column.
  @inlinable @inline(__always)
  static func packPanelsB<V: SIMD>(
    _: V.Type, _ source: Operand<V.Scalar>, depth: Int, columns: Int,
    into panels: UnsafeMutablePointer<V.Scalar>
  ) where V.Scalar: BinaryFloatingPoint {
    // op(B)[p, j] is base[p * stride + j] unless transposed.
    if source.transposed {
      packGathered(source.base, source.stride, columns, depth, 2 * V.scalarCount, panels)
    } else {
      packRuns(source.base, source.stride, columns, depth, 2 * V.scalarCount, panels)
    }
  }

  /// Packs the columns `column..<column + columns` of `op(B)`, depth steps
  /// `depthStart..<depthStart + depth`, from `source` into panels of two
  /// registers' width.
  @inlinable @inline(__always)
  static func packPanels<V: SIMD>(
    _: V.Type, _ source: PanelSource<V.Scalar>, depthStart: Int, depth: Int, column: Int,
    columns: Int, into panels: UnsafeMutablePointer<V.Scalar>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    switch source {
    case .matrix(let b):
      packPanelsB(
        V.self, Operand(b.pointer(row: depthStart, column: column), b.stride, b.transposed),
        depth: depth, columns: columns, into: panels)
    case .indexed(let b):
      packIndexed(
        V.self, b, depthStart: depthStart, depth: depth, column: column, columns: columns,
        into: panels)
    case .prepacked:
      preconditionFailure("gemm: B is never packed beforehand")
    }
  }

  /// Packs all of `op(A)` (`rows × depth`) ahead of one or more products
  /// that share it, in the layout ``multiplyPanels(_:m:n:k:a:b:c:ldc:accumulate:)``
  /// reads through ``PanelSource/prepacked(_:)``: for each depth block, its
  /// `mr`-row panels one after the other. `panels` holds
  /// `roundUp(rows, mr) · depth` scalars.
  @inlinable
  static func prepackPanelsA<V: SIMD>(
    _: V.Type, _ source: Operand<V.Scalar>, rows: Int, depth: Int,
    into panels: UnsafeMutablePointer<V.Scalar>
  ) where V.Scalar: BinaryFloatingPoint {
    let blocking = Blocking(V.self)
    let depthLimit = blocking.depthBlock(depth)
    let rowsPadded = roundUp(rows, blocking.mr)
    for depthStart in stride(from: 0, to: depth, by: depthLimit) {
      packPanelsA(
        Operand(source.pointer(row: 0, column: depthStart), source.stride, source.transposed),
        rows: rows, depth: min(depthLimit, depth - depthStart), mr: blocking.mr,
        into: panels + depthStart * rowsPadded)
    }
  }

  /// Packs `op(B)` from an ``IndexedMatrix``: each panel's columns are cut
  /// once into runs of consecutive offsets, then every depth step copies
  /// those runs from its row.
  @inlinable
  static func packIndexed<V: SIMD>(
    _: V.Type, _ source: IndexedMatrix<V.Scalar>, depthStart: Int, depth: Int, column: Int,
    columns: Int, into panels: UnsafeMutablePointer<V.Scalar>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    let width = 2 * V.scalarCount
    withUnsafeTemporaryAllocation(of: IndexedMatrix<V.Scalar>.Run.self, capacity: width) {
      runs in
      var panel = panels
      for first in stride(from: column, to: column + columns, by: width) {
        let count = min(width, column + columns - first)
        let runCount = source.runs(columns: first..<first + count, into: runs.baseAddress!)
        for p in 0..<depth {
          let row = source.base + source.rowOffsets[depthStart + p]
          let out = panel + p * width
          for r in 0..<runCount {
            let run = runs[r]
            copyRow(V.self, row + run.offset, out + run.lane, count: run.count)
          }
          for lane in count..<width { out[lane] = 0 }
        }
        panel += width * depth
      }
    }
  }

  /// Packs `count` scalars at each of `depth` steps, where step `p` reads
  /// the run `base[p * stride ..< p * stride + count]`. The source is read
  /// row after row, in order, which suits the hardware prefetchers.
  @inlinable @inline(__always)
  static func packRuns<S: BinaryFloatingPoint>(
    _ base: UnsafePointer<S>, _ stride: Int, _ count: Int, _ depth: Int, _ width: Int,
    _ panels: UnsafeMutablePointer<S>
  ) {
    let panelSize = width * depth
    let fullPanels = count / width
    let rest = count - fullPanels * width
    for p in 0..<depth {
      let run = base + p * stride
      let out = panels + p * width
      for panel in 0..<fullPanels {
        let (target, source) = (out + panel * panelSize, run + panel * width)
        // An A panel's 6 or 8 rows: copies of a constant size, which the
        // compiler inlines as a few vector moves, not a library call.
        switch width {
        case 6:
          UnsafeMutableRawPointer(target).copyMemory(
            from: source, byteCount: 6 * MemoryLayout<S>.stride)
        case 8:
          UnsafeMutableRawPointer(target).copyMemory(
            from: source, byteCount: 8 * MemoryLayout<S>.stride)
        default:
          UnsafeMutableRawPointer(target).copyMemory(
            from: source, byteCount: width * MemoryLayout<S>.stride)
        }
      }
      if rest > 0 {
        let last = out + fullPanels * panelSize
        for j in 0..<rest { last[j] = run[fullPanels * width + j] }
        for j in rest..<width { last[j] = 0 }
      }
    }
  }

  /// Packs `count` rows of `base` (row stride `stride`), `depth` scalars
  /// each, so that step `p` of a panel holds scalar `p` of `width` rows.
  /// Full panels of 6 or 8 rows go eight steps at a time, eight scalars
  /// of each row; other rows are read in order, one after the other:
  /// reading wide panels' rows a scalar each, side by side, would touch
  /// `width` addresses a multiple of the row stride apart, which for
  /// strides of a few kilobytes share a handful of cache sets and evict
  /// one another.
  @inlinable @inline(__always)
  static func packGathered<S: BinaryFloatingPoint>(
    _ base: UnsafePointer<S>, _ stride: Int, _ count: Int, _ depth: Int, _ width: Int,
    _ panels: UnsafeMutablePointer<S>
  ) {
    var out = panels
    for first in Swift.stride(from: 0, to: count, by: width) {
      let top = base + first * stride
      let height = min(width, count - first)
      if height < width { out.update(repeating: 0, count: width * depth) }
      // A panel's 6 or 8 full rows eight steps at a time, transposed in
      // registers; the rest a scalar at a time.
      var done = 0
      if height == width && width == 8 {
        done = packEightSteps(top, stride, rows: 8, depth: depth, into: out)
      } else if height == width && width == 6 {
        done = packEightSteps(top, stride, rows: 6, depth: depth, into: out)
      }
      for i in 0..<height {
        let row = top + i * stride
        var target = out + done * width + i
        for p in done..<depth {
          target.pointee = row[p]
          target += width
        }
      }
      out += width * depth
    }
  }

  /// Packs the first multiple of eight of `depth` steps of `rows` rows
  /// (a constant at each call: 6 or 8) into a panel of that width: each
  /// row's eight scalars copied at once into a small buffer, then the
  /// `8 · rows` scalars of the eight steps written in order, which the
  /// compiler turns into register shuffles. Returns the steps packed.
  @inlinable @inline(__always)
  static func packEightSteps<S: BinaryFloatingPoint>(
    _ top: UnsafePointer<S>, _ stride: Int, rows: Int, depth: Int,
    into panel: UnsafeMutablePointer<S>
  ) -> Int {
    return withUnsafeTemporaryAllocation(of: S.self, capacity: 64) { buffer in
      let lanes = buffer.baseAddress!
      var p = 0
      while p &+ 8 <= depth {
        for i in 0..<rows {
          let (source, copy) = (top + (i &* stride &+ p), lanes + i &* 8)
          UnsafeMutableRawPointer(copy).copyMemory(
            from: source, byteCount: 8 &* MemoryLayout<S>.stride)
        }
        let target = panel + p &* rows
        for e in 0..<(8 &* rows) {
          let (row, step) = (e % rows, e / rows)
          target[e] = lanes[row &* 8 &+ step]
        }
        p &+= 8
      }
      return p
    }
  }
}
