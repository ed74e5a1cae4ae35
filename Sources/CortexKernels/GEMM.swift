import Foundation

// Matrix multiplication on row-major buffers, structured like GotoBLAS and
// BLIS.
//
// `C` is computed in blocks: a `kc`-deep slice of `op(B)`, `nc` columns
// wide, is packed into contiguous `nr`-wide panels (it stays in the L3
// cache); the matching rows of `op(A)` are packed into `mr`-tall panels,
// `mc` rows at a time being in use (they stay in L2); then a register-tile
// micro-kernel multiplies one A panel by one B panel (which stays in L1)
// into an `mr × nr` tile of `C`. Packing handles the transposes and pads
// the edges with zeros, so the micro-kernel sees a single layout and never
// needs a scalar path. The packing and the tiles are shared out among the
// threads of ``WorkerPool``.
//
// The tile is 8 rows by two registers with AVX-512 (8 × 32 in single
// precision), 6 rows by two registers otherwise (6 × 16 with AVX2, 6 × 8
// with 128-bit registers). Only `mr` and `nr` depend on the instruction
// set; the depth blocks (`kc`) depend on the scalar type alone, so every
// entry of `C` is summed in the same order.
//
// The B panels of a convolution come straight from a zero-padded image
// (an ``IndexedMatrix``): packed from it, or, where each register's worth
// of columns lies side by side there, read by the tile where they lie.
// Filters shared by the images of a batch are packed once
// (``PanelSource/prepacked(_:)``).

/// One matrix product on row-major buffers:
/// `C = op(A) · op(B)` (or `C += op(A) · op(B)` when `accumulate`), where
/// `op(A)` is `[m, k]`, `op(B)` is `[k, n]` and `C` is `[m, n]`.
/// `op(X)` is `X` or, when its `transpose` flag is set, `Xᵀ`; `lda`, `ldb`,
/// `ldc` are the row strides of the buffers as stored.
public struct GEMMProduct<Scalar> {
  public var transposeA: Bool
  public var transposeB: Bool
  public var m: Int
  public var n: Int
  public var k: Int
  public var a: UnsafePointer<Scalar>
  public var lda: Int
  public var b: UnsafePointer<Scalar>
  public var ldb: Int
  public var c: UnsafeMutablePointer<Scalar>
  public var ldc: Int
  public var accumulate: Bool

  @inlinable
  public init(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    a: UnsafePointer<Scalar>, lda: Int, b: UnsafePointer<Scalar>, ldb: Int,
    c: UnsafeMutablePointer<Scalar>, ldc: Int, accumulate: Bool
  ) {
    (self.transposeA, self.transposeB) = (transposeA, transposeB)
    (self.m, self.n, self.k) = (m, n, k)
    (self.a, self.lda, self.b, self.ldb, self.c, self.ldc) = (a, lda, b, ldb, c, ldc)
    self.accumulate = accumulate
  }
}

extension KernelSet {
  /// The whole product, with `V` as the register type.
  @inlinable
  static func multiply<V: SIMD>(_ product: GEMMProduct<V.Scalar>, _: V.Type)
  where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    let (m, n, k) = (product.m, product.n, product.k)
    let (c, ldc, accumulate) = (product.c, product.ldc, product.accumulate)
    guard m > 0 && n > 0 else { return }
    guard k > 0 else {
      if !accumulate {
        for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) }
      }
      return
    }
    let a = Operand(product.a, product.lda, product.transposeA)
    let b = Operand(product.b, product.ldb, product.transposeB)
    if m * n * k <= smallProductLimit {
      smallProduct(m: m, n: n, k: k, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate)
      return
    }
    if !a.transposed && b.transposed && k >= dotProductMinimumDepth && m < dotProductMaximumRows {
      rowProducts(product)
      return
    }
    multiplyPanels(
      V.self, m: m, n: n, k: k, a: .matrix(a), b: .matrix(b), c: c, ldc: ldc,
      accumulate: accumulate)
  }

  /// `C = op(A)·op(B)` (or `C += …`) on the packed tile, with the panels of
  /// `A` and `B` taken from `a` and `b`: packed from matrices, packed from
  /// the windows of an image, or (for `A`) packed beforehand by
  /// ``prepackPanelsA(_:_:rows:depth:into:)``.
  @inlinable
  static func multiplyPanels<V: SIMD>(
    _: V.Type, m: Int, n: Int, k: Int, a: PanelSource<V.Scalar>, b: PanelSource<V.Scalar>,
    c: UnsafeMutablePointer<V.Scalar>, ldc: Int, accumulate: Bool
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    guard m > 0 && n > 0 else { return }
    guard k > 0 else {
      if !accumulate {
        for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) }
      }
      return
    }
    let blocking = Blocking(V.self)
    let threads = m * n * k < parallelThreshold ? 1 : WorkerPool.threadCount
    let depthLimit = blocking.depthBlock(k)
    let prepackedA = a.prepacked
    let packedA = prepackedA == nil ? roundUp(min(m, packedRowLimit), blocking.mr) * depthLimit : 0
    var readsBDirectly = false
    if case .indexed(let b) = b {
      readsBDirectly = b.hasRegisterRuns(columns: n, lanes: V.scalarCount)
    }
    let packedB =
      m <= blocking.mc || readsBDirectly
      ? 0 : depthLimit * roundUp(min(n, blocking.nc), blocking.nr)
    let bytesA = roundUp(packedA * MemoryLayout<V.Scalar>.stride, 64)
    let scratch = PackingScratch.forCurrentThread.blockBuffer(
      bytes: bytesA + packedB * MemoryLayout<V.Scalar>.stride)
    let bufferA = scratch.bindMemory(to: V.Scalar.self, capacity: packedA)
    let bufferB = (scratch + bytesA).bindMemory(to: V.Scalar.self, capacity: packedB)
    let rowsPadded = roundUp(m, blocking.mr)
    for column in stride(from: 0, to: n, by: blocking.nc) {
      let columns = min(blocking.nc, n - column)
      for depthStart in stride(from: 0, to: k, by: depthLimit) {
        let depth = min(depthLimit, k - depthStart)
        for row in stride(from: 0, to: m, by: packedRowLimit) {
          let block = Block(
            row: row, rows: min(packedRowLimit, m - row), column: column, columns: columns,
            depthStart: depthStart, depth: depth, threads: threads,
            packsBPerTask: m <= blocking.mc, readsBDirectly: readsBDirectly)
          pack(
            V.self, blocking, block, a: a, b: b,
            packsB: row == 0 && !block.packsBPerTask && !readsBDirectly,
            packedA: bufferA, packedB: bufferB)
          let panelsA =
            prepackedA.map { $0 + depthStart * rowsPadded + row * depth }
            ?? UnsafePointer(bufferA)
          multiplyBlock(
            V.self, blocking, block, b: b, packedA: panelsA, packedB: bufferB, c: c, ldc: ldc,
            accumulate: accumulate || depthStart > 0)
        }
      }
    }
  }

  /// `C = op(A)·op(B)` one dot product at a time, for tiny products.
  @inlinable
  static func smallProduct<S: BinaryFloatingPoint>(
    m: Int, n: Int, k: Int, a: Operand<S>, b: Operand<S>, c: UnsafeMutablePointer<S>, ldc: Int,
    accumulate: Bool
  ) {
    let (rowStepA, depthStepA) = a.transposed ? (1, a.stride) : (a.stride, 1)
    let (depthStepB, columnStepB) = b.transposed ? (1, b.stride) : (b.stride, 1)
    for i in 0..<m {
      for j in 0..<n {
        let rowA = a.base + i * rowStepA
        let columnB = b.base + j * columnStepB
        var sum: S = accumulate ? c[i * ldc + j] : 0
        for p in 0..<k {
          sum += rowA[p * depthStepA] * columnB[p * depthStepB]
        }
        c[i * ldc + j] = sum
      }
    }
  }

  /// Packs the block's rows of `op(A)` (unless they were packed
  /// beforehand) and, when `packsB`, its columns of `op(B)`, a few panels
  /// per task.
  @inlinable
  static func pack<V: SIMD>(
    _: V.Type, _ blocking: Blocking, _ block: Block, a: PanelSource<V.Scalar>,
    b: PanelSource<V.Scalar>, packsB: Bool, packedA: UnsafeMutablePointer<V.Scalar>,
    packedB: UnsafeMutablePointer<V.Scalar>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    let (mr, nr) = (blocking.mr, blocking.nr)
    let packsA = a.prepacked == nil
    let panelsA = packsA ? ceilDivide(block.rows, mr) : 0
    let panelsB = ceilDivide(block.columns, nr)
    let scalars = (panelsA * mr + (packsB ? block.columns : 0)) * block.depth
    let threads = scalars < parallelPackingThreshold ? 1 : block.threads
    let tasksA = min(panelsA, 2 * threads)
    let tasksB = packsB ? min(panelsB, 2 * threads) : 0
    forEachTask(tasksA + tasksB, threads: threads) { task in
      if task < tasksB {
        let panels = evenPart(of: panelsB, into: tasksB, task)
        let first = panels.lowerBound * nr
        packPanels(
          V.self, b, depthStart: block.depthStart, depth: block.depth,
          column: block.column + first, columns: min(panels.count * nr, block.columns - first),
          into: packedB + first * block.depth)
      } else {
        let panels = evenPart(of: panelsA, into: tasksA, task - tasksB)
        let first = panels.lowerBound * mr
        guard case .matrix(let a) = a else {
          preconditionFailure("gemm: A is packed from a matrix or beforehand")
        }
        packPanelsA(
          Operand(
            a.pointer(row: block.row + first, column: block.depthStart), a.stride, a.transposed),
          rows: min(panels.count * mr, block.rows - first), depth: block.depth, mr: mr,
          into: packedA + first * block.depth)
      }
    }
  }

  /// Runs the micro-kernel over every tile of the block. A task is a range
  /// of A panels (at most `mc` rows) times a range of B panels; there are a
  /// few tasks per thread, in a multiple of the thread count.
  @inlinable
  static func multiplyBlock<V: SIMD>(
    _: V.Type, _ blocking: Blocking, _ block: Block, b: PanelSource<V.Scalar>,
    packedA: UnsafePointer<V.Scalar>, packedB: UnsafeMutablePointer<V.Scalar>,
    c: UnsafeMutablePointer<V.Scalar>, ldc: Int, accumulate: Bool
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    let (mr, nr) = (blocking.mr, blocking.nr)
    let panelsA = ceilDivide(block.rows, mr)
    let panelsB = ceilDivide(block.columns, nr)
    let rowTasks = ceilDivide(panelsA, blocking.mc / mr)
    var columnTasks = 1
    if block.threads > 1 {
      let step = block.threads / greatestCommonDivisor(rowTasks, block.threads)
      columnTasks = roundUp(ceilDivide(4 * block.threads, rowTasks), step)
    }
    if block.packsBPerTask {
      columnTasks = max(columnTasks, ceilDivide(panelsB, panelsPerTask))
    }
    columnTasks = min(columnTasks, panelsB)
    let depth = block.depth
    forEachTask(rowTasks * columnTasks, threads: block.threads) { task in
      let rowPanels = evenPart(of: panelsA, into: rowTasks, task / columnTasks)
      let columnPanels = evenPart(of: panelsB, into: columnTasks, task % columnTasks)
      var panelsB = packedB
      // The panels of an indexed B that the tiles read where they lie: all
      // of them, or those marked in `direct`, one bit per panel of the task
      // (a task that packs its own panels has at most `panelsPerTask`).
      var direct: UInt64 = 0
      var windows: IndexedMatrix<V.Scalar>?
      if case .indexed(let b) = b, block.packsBPerTask || block.readsBDirectly {
        windows = b
        for (bit, panel) in columnPanels.enumerated() where !block.readsBDirectly {
          let column = panel * nr
          if b.panelCuts(
            first: block.column + column, count: min(nr, block.columns - column),
            lanes: V.scalarCount) != nil
          {
            direct |= 1 << UInt64(bit)
          }
        }
      }
      @inline(__always) func readsDirectly(_ bit: Int) -> Bool {
        block.readsBDirectly || direct & (1 << UInt64(bit)) != 0
      }
      if block.packsBPerTask {
        let first = columnPanels.lowerBound * nr
        let count = min(columnPanels.count * nr, block.columns - first)
        let scalars = depth * columnPanels.count * nr
        panelsB = PackingScratch.forCurrentThread.taskBuffer(
          bytes: scalars * MemoryLayout<V.Scalar>.stride
        ).bindMemory(to: V.Scalar.self, capacity: scalars)
        if windows == nil {
          packPanels(
            V.self, b, depthStart: block.depthStart, depth: depth, column: block.column + first,
            columns: count, into: panelsB)
        } else {
          for (bit, panel) in columnPanels.enumerated() where !readsDirectly(bit) {
            let column = panel * nr
            packPanels(
              V.self, b, depthStart: block.depthStart, depth: depth, column: block.column + column,
              columns: min(nr, block.columns - column), into: panelsB + (column - first) * depth)
          }
        }
        panelsB -= first * depth
      }
      for (bit, columnPanel) in columnPanels.enumerated() {
        let column = columnPanel * nr
        let columns = min(nr, block.columns - column)
        @inline(__always) func tiles<B: TileColumns>(_ b: B) where B.Vector == V {
          for rowPanel in rowPanels {
            let row = rowPanel * mr
            multiplyTile(
              V.self, depth: depth, a: packedA + row * depth, b: b,
              c: c + (block.row + row) * ldc + block.column + column, ldc: ldc,
              rows: min(mr, block.rows - row), columns: columns, accumulate: accumulate)
          }
        }
        if let windows, readsDirectly(bit) {
          let first = block.column + column
          let lanes = V.scalarCount
          let cuts =
            block.readsBDirectly
            ? (lanes, lanes) : windows.panelCuts(first: first, count: columns, lanes: lanes)!
          if cuts == (lanes, lanes) {
            tiles(
              WindowColumns<V>(
                low: windows.base + windows.columnOffsets[first],
                high: windows.base + windows.columnOffsets[first + lanes],
                rowOffsets: windows.rowOffsets + block.depthStart))
          } else {
            tiles(
              SplitWindowColumns<V>(windows, first: first, cuts: cuts, rowStart: block.depthStart))
          }
        } else {
          tiles(PackedColumns<V>(panel: panelsB + column * depth))
        }
      }
    }
  }
}
