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

/// A matrix as the product reads it: `op(X)[i, j]` is
/// `base[i * stride + j]`, or `base[j * stride + i]` when `transposed`.
@usableFromInline
struct Operand<Scalar> {
  @usableFromInline let base: UnsafePointer<Scalar>
  @usableFromInline let stride: Int
  @usableFromInline let transposed: Bool

  @inlinable
  init(_ base: UnsafePointer<Scalar>, _ stride: Int, _ transposed: Bool) {
    self.base = base
    self.stride = stride
    self.transposed = transposed
  }

  /// The address of `op(X)[row, column]`.
  @inlinable @inline(__always)
  func pointer(row: Int, column: Int) -> UnsafePointer<Scalar> {
    transposed ? base + column * stride + row : base + row * stride + column
  }
}

/// A matrix whose entry `[p, j]` is `base[rowOffsets[p] + columnOffsets[j]]`:
/// the column matrix of a convolution read straight from a zero-padded
/// image, with nothing written out. Where consecutive columns have
/// consecutive offsets, packing copies them as one run.
@usableFromInline
struct IndexedMatrix<Scalar> {
  @usableFromInline let base: UnsafePointer<Scalar>
  @usableFromInline let rowOffsets: UnsafePointer<Int>
  @usableFromInline let columnOffsets: UnsafePointer<Int>

  @inlinable @inline(__always)
  init(
    base: UnsafePointer<Scalar>, rowOffsets: UnsafePointer<Int>, columnOffsets: UnsafePointer<Int>
  ) {
    (self.base, self.rowOffsets, self.columnOffsets) = (base, rowOffsets, columnOffsets)
  }

  /// Consecutive columns of a panel with consecutive offsets: `count`
  /// scalars from `offset` of a row land at `lane` of the panel.
  @usableFromInline
  struct Run {
    @usableFromInline var lane: Int
    @usableFromInline var offset: Int
    @usableFromInline var count: Int

    @inlinable @inline(__always)
    init(lane: Int, offset: Int, count: Int) {
      (self.lane, self.offset, self.count) = (lane, offset, count)
    }
  }

  /// Where the `lanes` columns from `start` split into two runs of
  /// increasing offsets: `lanes` when they are one run, `nil` when they
  /// are neither. A second run lies past the end of the first, so both
  /// registers' loads stay among the matrix's entries.
  @inlinable @inline(__always)
  func cut(at start: Int, lanes: Int) -> Int? {
    var cut = lanes
    for lane in 1..<lanes {
      let (previous, offset) = (columnOffsets[start &+ lane &- 1], columnOffsets[start &+ lane])
      if offset == previous &+ 1 { continue }
      guard cut == lanes && offset > previous else { return nil }
      cut = lane
    }
    return cut
  }

  /// The cuts of the two registers of the panel of `count` columns from
  /// `first`, when the tile can read it where it lies: a whole panel of
  /// two registers, each at most two runs (see ``cut(at:lanes:)``).
  @inlinable @inline(__always)
  func panelCuts(first: Int, count: Int, lanes: Int) -> (Int, Int)? {
    guard count == 2 * lanes, let low = cut(at: first, lanes: lanes),
      let high = cut(at: first &+ lanes, lanes: lanes)
    else { return nil }
    return (low, high)
  }

  /// Whether the first `columns` columns fill whole panels, each two
  /// registers of one run (``panelCuts(first:count:lanes:)`` at the lane
  /// count).
  @inlinable @inline(__always)
  func hasRegisterRuns(columns: Int, lanes: Int) -> Bool {
    guard columns % (2 * lanes) == 0 else { return false }
    for first in stride(from: 0, to: columns, by: 2 * lanes) {
      guard let cuts = panelCuts(first: first, count: 2 * lanes, lanes: lanes),
        cuts == (lanes, lanes)
      else { return false }
    }
    return true
  }

  /// Cuts `columns` into runs, written to `runs`; returns how many.
  @inlinable @inline(__always)
  func runs(columns: Range<Int>, into runs: UnsafeMutablePointer<Run>) -> Int {
    var count = 0
    for j in columns {
      let offset = columnOffsets[j]
      if count > 0 && runs[count - 1].offset + runs[count - 1].count == offset {
        runs[count - 1].count += 1
      } else {
        runs[count] = Run(lane: j - columns.lowerBound, offset: offset, count: 1)
        count += 1
      }
    }
    return count
  }
}

/// The B side of the register tile: its two registers at each step of the
/// depth.
@usableFromInline
protocol TileColumns {
  associatedtype Vector: SIMD
  /// The two registers of depth step `step`.
  func registers(step: Int) -> (Vector, Vector)
}

/// A packed B panel: two registers per step, one after the other, 64-byte
/// aligned.
@usableFromInline
struct PackedColumns<Vector: SIMD>: TileColumns {
  @usableFromInline let panel: UnsafeRawPointer

  @inlinable @inline(__always)
  init(panel: UnsafePointer<Vector.Scalar>) { self.panel = UnsafeRawPointer(panel) }

  @inlinable @inline(__always)
  func registers(step: Int) -> (Vector, Vector) {
    let bytes = MemoryLayout<Vector>.stride
    let pointer = panel + step &* 2 &* bytes
    return (pointer.load(as: Vector.self), pointer.load(fromByteOffset: bytes, as: Vector.self))
  }
}

/// The columns of a panel of an ``IndexedMatrix`` read where they lie: at
/// step `p`, one register from `low + rowOffsets[p]` and one from
/// `high + rowOffsets[p]`.
@usableFromInline
struct WindowColumns<Vector: SIMD>: TileColumns {
  @usableFromInline let low: UnsafePointer<Vector.Scalar>
  @usableFromInline let high: UnsafePointer<Vector.Scalar>
  @usableFromInline let rowOffsets: UnsafePointer<Int>

  @inlinable @inline(__always)
  init(
    low: UnsafePointer<Vector.Scalar>, high: UnsafePointer<Vector.Scalar>,
    rowOffsets: UnsafePointer<Int>
  ) {
    (self.low, self.high, self.rowOffsets) = (low, high, rowOffsets)
  }

  @inlinable @inline(__always)
  func registers(step: Int) -> (Vector, Vector) {
    let offset = rowOffsets[step]
    return (
      UnsafeRawPointer(low + offset).loadUnaligned(as: Vector.self),
      UnsafeRawPointer(high + offset).loadUnaligned(as: Vector.self)
    )
  }
}

/// The columns of a panel of an ``IndexedMatrix`` whose registers are each
/// at most two runs of increasing offsets (a row of outputs ends inside
/// one), read where they lie: each register blends two loads, the lanes
/// from its cut on taken from the second run.
@usableFromInline
struct SplitWindowColumns<Vector: SIMD>: TileColumns {
  @usableFromInline let low: (UnsafePointer<Vector.Scalar>, UnsafePointer<Vector.Scalar>)
  @usableFromInline let high: (UnsafePointer<Vector.Scalar>, UnsafePointer<Vector.Scalar>)
  @usableFromInline let lowMask: SIMDMask<Vector.MaskStorage>
  @usableFromInline let highMask: SIMDMask<Vector.MaskStorage>
  @usableFromInline let rowOffsets: UnsafePointer<Int>

  /// The panel of `source` from column `first`, whose registers split at
  /// `cuts` (a register's lane count where it is one run).
  @inlinable @inline(__always)
  init(_ source: IndexedMatrix<Vector.Scalar>, first: Int, cuts: (Int, Int), rowStart: Int) {
    let lanes = Vector.scalarCount
    @inline(__always) func pointers(_ start: Int, _ cut: Int) -> (
      UnsafePointer<Vector.Scalar>, UnsafePointer<Vector.Scalar>
    ) {
      // Lane `l ≥ cut` of the second load is column `start + l`.
      let second = cut < lanes ? source.columnOffsets[start + cut] - cut : 0
      return (source.base + source.columnOffsets[start], source.base + second)
    }
    @inline(__always) func mask(_ cut: Int) -> SIMDMask<Vector.MaskStorage> {
      var mask = SIMDMask<Vector.MaskStorage>(repeating: false)
      for lane in cut..<lanes { mask[lane] = true }
      return mask
    }
    low = pointers(first, cuts.0)
    high = pointers(first + lanes, cuts.1)
    (lowMask, highMask) = (mask(cuts.0), mask(cuts.1))
    rowOffsets = source.rowOffsets + rowStart
  }

  @inlinable @inline(__always)
  func registers(step: Int) -> (Vector, Vector) {
    let offset = rowOffsets[step]
    @inline(__always) func load(_ pointer: UnsafePointer<Vector.Scalar>) -> Vector {
      UnsafeRawPointer(pointer + offset).loadUnaligned(as: Vector.self)
    }
    return (
      load(low.0).replacing(with: load(low.1), where: lowMask),
      load(high.0).replacing(with: load(high.1), where: highMask)
    )
  }
}

/// Where the packed panels of a product's operand come from.
@usableFromInline
enum PanelSource<Scalar> {
  /// A matrix in memory, as the product reads it.
  case matrix(Operand<Scalar>)
  /// A matrix read through offsets (only for `B`).
  case indexed(IndexedMatrix<Scalar>)
  /// Panels packed beforehand by ``KernelSet/prepackPanelsA(_:_:rows:depth:into:)``
  /// (only for `A`), shared by several products.
  case prepacked(UnsafePointer<Scalar>)

  /// The panels packed beforehand, if any.
  @inlinable @inline(__always) var prepacked: UnsafePointer<Scalar>? {
    if case .prepacked(let panels) = self { return panels }
    return nil
  }
}

/// Rows of the register tile for registers `V`: 8 with 64-byte registers
/// (AVX-512 has 32, enough for 16 accumulators), 6 otherwise (AVX2 has 16).
/// This decides which entries of C are computed together, never the order
/// in which one is summed.
@inlinable @inline(__always)
func tileRows<V: SIMD>(_: V.Type) -> Int { MemoryLayout<V>.size == 64 ? 8 : 6 }

/// The register tile and the cache blocking for one register type.
@usableFromInline
struct Blocking {
  /// Rows of the register tile (and of a packed A panel): 8 with 64-byte
  /// registers, whose 32 registers hold 16 accumulators, 6 otherwise.
  @usableFromInline let mr: Int
  /// Columns of the register tile (and of a packed B panel): two registers.
  @usableFromInline let nr: Int
  /// The largest depth of a packed block. Products are cut into blocks of
  /// equal depth; this depends on the scalar type only, never on the
  /// register width, so that every set sums in the same order.
  @usableFromInline let kc: Int
  /// Rows of A in use at once: an `mc × kc` block fits in L2.
  @usableFromInline let mc: Int
  /// Columns of a packed B block, which lives in L3.
  @usableFromInline let nc: Int

  @inlinable
  init<V: SIMD>(_: V.Type) {
    mr = tileRows(V.self)
    nr = 2 * V.scalarCount
    let single = MemoryLayout<V.Scalar>.size == 4
    kc = single ? 320 : 256
    mc = single ? 144 : 72
    nc = (single ? 4096 : 2048) / nr * nr - nr
  }

  /// The depth of the blocks a product of depth `k` is cut into: equal
  /// blocks of at most `kc` (a depth of 288 is one pass over C, not a pass
  /// of 256 and a short one of 32).
  @inlinable
  func depthBlock(_ k: Int) -> Int { ceilDivide(k, ceilDivide(k, kc)) }
}

/// Below this many scalars, packing runs on one thread.
@usableFromInline let parallelPackingThreshold = 1 << 15

/// The most B panels a task packs for itself.
@usableFromInline let panelsPerTask = 16

/// Rows of A packed at once. Several `mc` blocks, so that the threads can
/// share them out, while bounding the packing buffer for very tall A.
@usableFromInline let packedRowLimit = 1152

/// Below this many multiply-adds a product runs on the calling thread
/// alone: waking the workers would cost more than they save.
@usableFromInline let parallelThreshold = 1 << 20

/// Products of at most this many multiply-adds skip the packing, whose
/// fixed cost would dominate (measured: 2×2×2 runs 7 times faster this
/// way, 8×8×8 already 1.5 times slower).
@usableFromInline let smallProductLimit = 64

/// `C = A·Bᵀ` from this depth on goes through the row-product path.
@usableFromInline let dotProductMinimumDepth = 32

/// `C = A·Bᵀ` goes through the row-product path only while A has fewer
/// rows than this: from 64 rows on (the filter gradients of 64-filter
/// convolutions), packing `Bᵀ` pays for itself: a whole 64-filter 3×3
/// convolution ran 4–7 % faster on AVX-512 (the same on AVX2); with 16 to
/// 32 rows the packed path was 20–27 % slower.
@usableFromInline let dotProductMaximumRows = 64

/// Depth handled at once by the row-product path: the seven rows of a
/// tile (28 KB at most in single precision) stay in L1.
@usableFromInline let dotProductDepthBlock = 1024

/// The part of the product computed from one pair of packed buffers.
@usableFromInline
struct Block {
  @usableFromInline let row: Int
  @usableFromInline let rows: Int
  @usableFromInline let column: Int
  @usableFromInline let columns: Int
  @usableFromInline let depthStart: Int
  @usableFromInline let depth: Int
  @usableFromInline let threads: Int
  /// Whether each task packs the B panels it uses, just before using
  /// them, into a buffer of its thread that stays in L2. That is cheaper
  /// when A has at most `mc` rows: a B panel then meets only a few A
  /// panels, and packing all of B first, to memory, and reading it back
  /// would cost about as much as the multiplication.
  @usableFromInline let packsBPerTask: Bool
  /// Whether the tiles read all of B where it lies, unpacked: an
  /// ``IndexedMatrix`` whose every half panel is one run (see
  /// ``IndexedMatrix/hasRegisterRuns(columns:lanes:)``). When B is packed
  /// per task, such panels are read where they lie whatever this says.
  @usableFromInline let readsBDirectly: Bool

  @inlinable
  init(
    row: Int, rows: Int, column: Int, columns: Int, depthStart: Int, depth: Int, threads: Int,
    packsBPerTask: Bool, readsBDirectly: Bool
  ) {
    (self.row, self.rows, self.column, self.columns) = (row, rows, column, columns)
    (self.depthStart, self.depth, self.threads) = (depthStart, depth, threads)
    self.packsBPerTask = packsBPerTask
    self.readsBDirectly = readsBDirectly
  }
}

@inlinable @inline(__always)
func forEachTask(_ count: Int, threads: Int, _ body: (Int) -> Void) {
  if threads > 1 {
    WorkerPool.shared.parallelFor(count, body)
  } else {
    for task in 0..<count { body(task) }
  }
}

/// Part `part` of `0..<total` cut into `parts` near-equal ranges.
@inlinable @inline(__always)
func evenPart(of total: Int, into parts: Int, _ part: Int) -> Range<Int> {
  (part * total / parts)..<((part + 1) * total / parts)
}

@inlinable @inline(__always)
func ceilDivide(_ x: Int, _ y: Int) -> Int { (x + y - 1) / y }

@inlinable @inline(__always)
func roundUp(_ x: Int, _ multiple: Int) -> Int { ceilDivide(x, multiple) * multiple }

@usableFromInline
func greatestCommonDivisor(_ x: Int, _ y: Int) -> Int {
  var (x, y) = (x, y)
  while y != 0 { (x, y) = (y, x % y) }
  return x
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

// MARK: - Packing
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
        // A constant size, once inlined: a few vector moves.
        UnsafeMutableRawPointer(out + panel * panelSize).copyMemory(
          from: run + panel * width, byteCount: width * MemoryLayout<S>.stride)
      }
      if rest > 0 {
        let last = out + fullPanels * panelSize
        for j in 0..<rest { last[j] = run[fullPanels * width + j] }
        for j in rest..<width { last[j] = 0 }
      }
    }
  }

  /// Packs `count` rows of `base` (row stride `stride`), `depth` scalars
  /// each, so that step `p` of a panel holds scalar `p` of `width` rows. Each
  /// source row is read in order, one after the other: reading the `width`
  /// rows side by side would touch `width` addresses a multiple of the row
  /// stride apart, which for strides of a few kilobytes share a handful of
  /// cache sets and evict one another.
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
      for i in 0..<height {
        let row = top + i * stride
        var target = out + i
        for p in 0..<depth {
          target.pointee = row[p]
          target += width
        }
      }
      out += width * depth
    }
  }
}

// MARK: - The micro-kernel

extension KernelSet {
  /// Multiplies a packed A panel (`mr` scalars per step) by the two
  /// registers per step of a B panel into the top-left `rows × columns`
  /// corner of the `mr` × 2-register tile of `C` at `c`. The last rows of
  /// A (`rows < mr`) run on the narrowest tile of 2, 4 or 6 rows that holds
  /// them (or the full one for 5 rows of 6 or 7 of 8), so that few rows
  /// past the end of A are computed. An edge of fewer columns runs
  /// through a full tile in a local buffer that starts from C's values.
  /// Either way every entry is summed exactly like those of a full tile.
  @inlinable
  static func multiplyTile<V: SIMD, B: TileColumns>(
    _: V.Type, depth: Int, a: UnsafePointer<V.Scalar>, b: B,
    c: UnsafeMutablePointer<V.Scalar>, ldc: Int, rows: Int, columns: Int, accumulate: Bool
  ) where V.Scalar: BinaryFloatingPoint, B.Vector == V {
    let (width, mr) = (2 * V.scalarCount, tileRows(V.self))
    if columns == width {
      // Each call names its tile height as a constant, so that the
      // compiler keeps only the accumulators that height needs.
      if rows == mr {
        fullTile(
          V.self, rows: mr, stored: mr, depth: depth, a: a, b: b, c: c, ldc: ldc,
          accumulate: accumulate)
      } else if rows <= 2 {
        fullTile(
          V.self, rows: 2, stored: rows, depth: depth, a: a, b: b, c: c, ldc: ldc,
          accumulate: accumulate)
      } else if rows <= 4 {
        fullTile(
          V.self, rows: 4, stored: rows, depth: depth, a: a, b: b, c: c, ldc: ldc,
          accumulate: accumulate)
      } else if rows <= 6 && mr > 6 {
        fullTile(
          V.self, rows: 6, stored: rows, depth: depth, a: a, b: b, c: c, ldc: ldc,
          accumulate: accumulate)
      } else {
        fullTile(
          V.self, rows: mr, stored: rows, depth: depth, a: a, b: b, c: c, ldc: ldc,
          accumulate: accumulate)
      }
      return
    }
    withUnsafeTemporaryAllocation(of: V.self, capacity: 2 * mr) { registers in
      let tile = UnsafeMutableRawPointer(registers.baseAddress!)
        .bindMemory(to: V.Scalar.self, capacity: mr * width)
      if accumulate {
        tile.update(repeating: 0, count: mr * width)
        for i in 0..<rows { (tile + i * width).update(from: c + i * ldc, count: columns) }
      }
      fullTile(
        V.self, rows: mr, stored: mr, depth: depth, a: a, b: b, c: tile, ldc: width,
        accumulate: accumulate)
      for i in 0..<rows { (c + i * ldc).update(from: tile + i * width, count: columns) }
    }
  }

  /// The register tile: `rows` (2 to 8, a constant at each call) × 2
  /// registers, in up to sixteen accumulators, reading `mr` scalars of A
  /// per step; its first `stored` rows are written to C. With `accumulate`
  /// the accumulators start from C itself, so that the loads of C overlap
  /// with the first steps of the loop.
  @inlinable @inline(__always)
  static func fullTile<V: SIMD, B: TileColumns>(
    _: V.Type, rows: Int, stored: Int, depth: Int, a: UnsafePointer<V.Scalar>, b: B,
    c: UnsafeMutablePointer<V.Scalar>, ldc: Int, accumulate: Bool
  ) where V.Scalar: BinaryFloatingPoint, B.Vector == V {
    let (w, mr) = (V.scalarCount, tileRows(V.self))
    @inline(__always) func load(_ row: Int, _ column: Int) -> V {
      accumulate && row < stored
        ? UnsafeRawPointer(c + row * ldc + column).loadUnaligned(as: V.self) : V()
    }
    @inline(__always) func store(_ low: V, _ high: V, row: Int) {
      guard row < stored else { return }
      UnsafeMutableRawPointer(c + row * ldc).storeBytes(of: low, as: V.self)
      UnsafeMutableRawPointer(c + row * ldc + w).storeBytes(of: high, as: V.self)
    }
    var (c00, c01) = (load(0, 0), load(0, w))
    var (c10, c11) = (load(1, 0), load(1, w))
    var (c20, c21) = rows > 2 ? (load(2, 0), load(2, w)) : (V(), V())
    var (c30, c31) = rows > 2 ? (load(3, 0), load(3, w)) : (V(), V())
    var (c40, c41) = rows > 4 ? (load(4, 0), load(4, w)) : (V(), V())
    var (c50, c51) = rows > 4 ? (load(5, 0), load(5, w)) : (V(), V())
    var (c60, c61) = rows > 6 ? (load(6, 0), load(6, w)) : (V(), V())
    var (c70, c71) = rows > 6 ? (load(7, 0), load(7, w)) : (V(), V())
    var pa = a
    for step in 0..<depth {
      let (b0, b1) = b.registers(step: step)
      /// One row of the tile: `a` times the two registers of B.
      @inline(__always) func row(_ low: inout V, _ high: inout V, _ a: V.Scalar) {
        let x = V(repeating: a)
        multiplyAdd(&low, x, b0)
        multiplyAdd(&high, x, b1)
      }
      row(&c00, &c01, pa[0])
      row(&c10, &c11, pa[1])
      if rows > 2 {
        row(&c20, &c21, pa[2])
        row(&c30, &c31, pa[3])
      }
      if rows > 4 {
        row(&c40, &c41, pa[4])
        row(&c50, &c51, pa[5])
      }
      if rows > 6 {
        row(&c60, &c61, pa[6])
        row(&c70, &c71, pa[7])
      }
      pa += mr
    }
    store(c00, c01, row: 0)
    store(c10, c11, row: 1)
    if rows > 2 {
      store(c20, c21, row: 2)
      store(c30, c31, row: 3)
    }
    if rows > 4 {
      store(c40, c41, row: 4)
      store(c50, c51, row: 5)
    }
    if rows > 6 {
      store(c60, c61, row: 6)
      store(c70, c71, row: 7)
    }
  }
}

// MARK: - Products along rows

extension KernelSet {
  /// `C = A·Bᵀ` (or `C += A·Bᵀ`) with `A` `[m, k]` and `B` `[n, k]` both
  /// stored row by row, so that every entry of `C` is a dot product of two
  /// contiguous rows. The packed path would have to transpose one of the
  /// operands, one scalar at a time, which for the filter gradient of a
  /// convolution (`∂y · colsᵀ`, where `cols` is large and `∂y` has few
  /// rows) costs as much as the multiplication. Here each entry of a tile of
  /// `C` is a vector of partial sums over the depth, 64 bytes of lanes (16
  /// in single precision, 8 in double) on every instruction set, reduced
  /// across lanes at the end. The tile has 3 columns and as many rows as
  /// the set's registers allow (4 with 64-byte registers, 2 with 32-byte,
  /// 1 with 16-byte); that changes which entries are computed together,
  /// never how one is summed. The tiles are shared out by column; the depth
  /// is cut the same way whatever the number of threads, so the result
  /// does not depend on it.
  @inlinable
  static func rowProducts<S: BinaryFloatingPoint & SIMDScalar>(_ product: GEMMProduct<S>) {
    if MemoryLayout<S>.size == 4 {
      rowProducts(product, SIMD16<S>.self)
    } else {
      rowProducts(product, SIMD8<S>.self)
    }
  }

  /// Rows of a row-product tile: twelve 64-byte accumulators fit in the
  /// registers of AVX-512, six in those of AVX2, three in 16-byte ones.
  @inlinable static var rowProductTileRows: Int {
    max(1, 4 * MemoryLayout<FloatVector>.size / 64)
  }

  @inlinable
  static func rowProducts<L: SIMD>(_ product: GEMMProduct<L.Scalar>, _: L.Type)
  where L.Scalar: BinaryFloatingPoint {
    let (m, n, k) = (product.m, product.n, product.k)
    let (a, lda, b, ldb, c, ldc) = (
      product.a, product.lda, product.b, product.ldb, product.c, product.ldc
    )
    let tileRows = rowProductTileRows
    let rowTiles = ceilDivide(m, tileRows)
    let columnTiles = ceilDivide(n, 3)
    let threads = m * n * k < parallelThreshold ? 1 : WorkerPool.threadCount
    let tasks = min(columnTiles, 4 * threads)
    for depthStart in stride(from: 0, to: k, by: dotProductDepthBlock) {
      let depth = min(dotProductDepthBlock, k - depthStart)
      forEachTask(tasks, threads: threads) { task in
        for columnTile in evenPart(of: columnTiles, into: tasks, task) {
          let column = columnTile * 3
          for rowTile in 0..<rowTiles {
            let row = rowTile * tileRows
            rowProductTile(
              L.self, depth: depth, a: a + row * lda + depthStart, lda: lda,
              rows: min(tileRows, m - row), b: b + column * ldb + depthStart, ldb: ldb,
              columns: min(3, n - column), c: c + row * ldc + column, ldc: ldc,
              accumulate: product.accumulate || depthStart > 0)
          }
        }
      }
    }
  }

  /// The sum of the lanes of `v`, by halves: lane `i` plus lane
  /// `i + width/2`, until one is left. The same tree on every set.
  @inlinable @inline(__always)
  static func horizontalSum<L: SIMD>(_ v: L) -> L.Scalar where L.Scalar: FloatingPoint {
    var v = v
    var width = L.scalarCount
    while width > 1 {
      width /= 2
      for i in 0..<width { v[i] += v[i + width] }
    }
    return v[0]
  }

  /// The `rows × columns` (at most `rowProductTileRows` × 3) corner of a
  /// tile of `C = A·Bᵀ` over `depth`: columns past `columns` repeat the
  /// last one, and their results are dropped.
  @inlinable
  static func rowProductTile<L: SIMD>(
    _: L.Type, depth: Int, a: UnsafePointer<L.Scalar>, lda: Int, rows: Int,
    b: UnsafePointer<L.Scalar>, ldb: Int, columns: Int, c: UnsafeMutablePointer<L.Scalar>,
    ldc: Int, accumulate: Bool
  ) where L.Scalar: BinaryFloatingPoint {
    let tileRows = rowProductTileRows
    let a0 = a
    let a1 = rows > 1 ? a0 + lda : a0
    let a2 = rows > 2 ? a1 + lda : a1
    let a3 = rows > 3 ? a2 + lda : a2
    let b0 = b
    let b1 = columns > 1 ? b0 + ldb : b0
    let b2 = columns > 2 ? b1 + ldb : b1
    @inline(__always) func load(_ pointer: UnsafePointer<L.Scalar>) -> L {
      UnsafeRawPointer(pointer).loadUnaligned(as: L.self)
    }
    var (s00, s01, s02) = (L(), L(), L())
    var (s10, s11, s12) = (L(), L(), L())
    var (s20, s21, s22) = (L(), L(), L())
    var (s30, s31, s32) = (L(), L(), L())
    let lanes = L.scalarCount
    var p = 0
    while p + lanes <= depth {
      let (y0, y1, y2) = (load(b0 + p), load(b1 + p), load(b2 + p))
      /// One row of the tile: a row of A against the three rows of B.
      @inline(__always) func row(
        _ t0: inout L, _ t1: inout L, _ t2: inout L, _ a: UnsafePointer<L.Scalar>
      ) {
        let x = load(a + p)
        multiplyAdd(&t0, x, y0)
        multiplyAdd(&t1, x, y1)
        multiplyAdd(&t2, x, y2)
      }
      row(&s00, &s01, &s02, a0)
      if tileRows > 1 { row(&s10, &s11, &s12, a1) }
      if tileRows > 2 {
        row(&s20, &s21, &s22, a2)
        row(&s30, &s31, &s32, a3)
      }
      p += lanes
    }
    let vectors = (s00, s01, s02, s10, s11, s12, s20, s21, s22, s30, s31, s32)
    withUnsafeTemporaryAllocation(of: L.self, capacity: 12) { spilled in
      (spilled[0], spilled[1], spilled[2], spilled[3]) = (
        vectors.0, vectors.1, vectors.2, vectors.3
      )
      (spilled[4], spilled[5], spilled[6], spilled[7]) = (
        vectors.4, vectors.5, vectors.6, vectors.7
      )
      (spilled[8], spilled[9], spilled[10], spilled[11]) = (
        vectors.8, vectors.9, vectors.10, vectors.11
      )
      for i in 0..<rows {
        for j in 0..<columns {
          var sum = horizontalSum(spilled[i * 3 + j])
          let (rowA, rowB) = (a + i * lda, b + j * ldb)
          for q in p..<depth { sum += rowA[q] * rowB[q] }
          let target = c + i * ldc + j
          target.pointee = accumulate ? target.pointee + sum : sum
        }
      }
    }
  }
}

// MARK: - Packing buffers

/// The buffers of one thread, grown when a product needs more, then
/// reused by every later product on that thread: the blocks of a product
/// the thread runs (shared with the workers that help it), the B panels of
/// a task the thread runs, and, for the convolutions, the zero-padded
/// planes of an image, the filters packed once for a chunk of images, the
/// offset tables of an ``IndexedMatrix`` and a column matrix.
@usableFromInline
final class PackingScratch {
  private var blocks = GrowingBuffer()
  private var task = GrowingBuffer()
  private var planes = GrowingBuffer()
  private var operands = GrowingBuffer()
  private var tables = GrowingBuffer()
  private var columns = GrowingBuffer()

  /// The calling thread's buffers, created on first use.
  @usableFromInline
  static var forCurrentThread: PackingScratch {
    if let existing = pthread_getspecific(packingScratchKey) {
      return Unmanaged<PackingScratch>.fromOpaque(existing).takeUnretainedValue()
    }
    let scratch = PackingScratch()
    pthread_setspecific(packingScratchKey, Unmanaged.passRetained(scratch).toOpaque())
    return scratch
  }

  /// Room for the packed blocks of a product, 64-byte aligned.
  @usableFromInline
  func blockBuffer(bytes: Int) -> UnsafeMutableRawPointer { blocks.reserve(bytes) }

  /// Room for the B panels of one task, 64-byte aligned.
  @usableFromInline
  func taskBuffer(bytes: Int) -> UnsafeMutableRawPointer { task.reserve(bytes) }

  /// Room for the padded planes of one image, 64-byte aligned.
  @usableFromInline
  func planeBuffer(bytes: Int) -> UnsafeMutableRawPointer { planes.reserve(bytes) }

  /// Room for an operand packed ahead of several products.
  @usableFromInline
  func operandBuffer<S>(_: S.Type, count: Int) -> UnsafeMutablePointer<S> {
    operands.reserve(max(count, 1) * MemoryLayout<S>.stride).bindMemory(to: S.self, capacity: count)
  }

  /// Room for the offset tables of an ``IndexedMatrix``.
  @usableFromInline
  func tableBuffer(count: Int) -> UnsafeMutablePointer<Int> {
    tables.reserve(max(count, 1) * MemoryLayout<Int>.stride).bindMemory(
      to: Int.self, capacity: count)
  }

  /// Room for the column matrix of one image.
  @usableFromInline
  func columnBuffer<S>(_: S.Type, count: Int) -> UnsafeMutablePointer<S> {
    columns.reserve(max(count, 1) * MemoryLayout<S>.stride).bindMemory(to: S.self, capacity: count)
  }
}

/// A 64-byte aligned allocation that only grows.
private struct GrowingBuffer: ~Copyable {
  private var storage: UnsafeMutableRawPointer?
  private var capacity = 0

  /// The buffer, reallocated first if it holds fewer than `bytes` bytes.
  mutating func reserve(_ bytes: Int) -> UnsafeMutableRawPointer {
    if let storage, bytes <= capacity { return storage }
    storage?.deallocate()
    capacity = roundUp(max(bytes, 1), 1 << 12)
    let fresh = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    storage = fresh
    return fresh
  }

  deinit { storage?.deallocate() }
}

private let packingScratchKey: pthread_key_t = {
  var key = pthread_key_t()
  let status = pthread_key_create(&key) { releasePackingScratch($0) }
  precondition(status == 0, "gemm: cannot create a thread-local key (error \(status))")
  return key
}()

private func releasePackingScratch(_ pointer: UnsafeMutableRawPointer?) {
  if let pointer { Unmanaged<PackingScratch>.fromOpaque(pointer).release() }
}
