// The operands of a matrix product as the kernels read them: strided or
// indexed matrices, the column sources of a tile, the panel sources and
// the blocking of a product.

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
