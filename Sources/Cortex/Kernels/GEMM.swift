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

/// Matrix multiplication on row-major buffers:
/// `C = op(A) · op(B)` (or `C += op(A) · op(B)` when `accumulate`), where
/// `op(A)` is `[m, k]`, `op(B)` is `[k, n]` and `C` is `[m, n]`.
/// `op(X)` is `X` or, when its `transpose` flag is set, `Xᵀ`; `lda`, `ldb`,
/// `ldc` are the row strides of the buffers as stored.
func gemm<S: TensorScalar>(
  transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
  a: UnsafePointer<S>, lda: Int, b: UnsafePointer<S>, ldb: Int,
  c: UnsafeMutablePointer<S>, ldc: Int, accumulate: Bool
) {
  if S.self == Float.self {
    blockedGEMM(
      FloatKernel.self, m: m, n: n, k: k,
      a: Operand(UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), lda, transposeA),
      b: Operand(UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), ldb, transposeB),
      c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc: ldc,
      accumulate: accumulate)
  } else if S.self == Double.self {
    blockedGEMM(
      DoubleKernel.self, m: m, n: n, k: k,
      a: Operand(UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), lda, transposeA),
      b: Operand(UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), ldb, transposeB),
      c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), ldc: ldc,
      accumulate: accumulate)
  } else {
    preconditionFailure("gemm: no kernel for \(S.self)")
  }
}

// MARK: - Blocking and threading

/// A matrix as the product reads it: `op(X)[i, j]` is
/// `base[i * stride + j]`, or `base[j * stride + i]` when `transposed`.
struct Operand<Scalar> {
  let base: UnsafePointer<Scalar>
  let stride: Int
  let transposed: Bool

  init(_ base: UnsafePointer<Scalar>, _ stride: Int, _ transposed: Bool) {
    self.base = base
    self.stride = stride
    self.transposed = transposed
  }

  /// The address of `op(X)[row, column]`.
  @inline(__always)
  func pointer(row: Int, column: Int) -> UnsafePointer<Scalar> {
    transposed ? base + column * stride + row : base + row * stride + column
  }
}

/// The register tile, the cache blocking, the packing routines and the
/// micro-kernel for one scalar type.
protocol GEMMKernel {
  associatedtype Scalar: TensorScalar
  /// Rows of the register tile (and of a packed A panel).
  static var mr: Int { get }
  /// Columns of the register tile (and of a packed B panel).
  static var nr: Int { get }
  /// The largest depth of a packed block: an A and a B panel of this
  /// depth fit in L1. Products are cut into blocks of equal depth.
  static var kc: Int { get }
  /// Rows of A in use at once: an `mc × kc` block fits in L2.
  static var mc: Int { get }
  /// Columns of a packed B block, which lives in L3.
  static var nc: Int { get }

  /// Packs `rows` rows and `depth` columns of `op(A)` starting at `source`
  /// into `mr`-row panels, each stored column by column, zero-padded.
  static func packA(
    _ source: Operand<Scalar>, rows: Int, depth: Int, into panels: UnsafeMutablePointer<Scalar>)
  /// Packs `depth` rows and `columns` columns of `op(B)` starting at
  /// `source` into `nr`-column panels, each stored row by row, zero-padded.
  static func packB(
    _ source: Operand<Scalar>, depth: Int, columns: Int,
    into panels: UnsafeMutablePointer<Scalar>)
  /// Multiplies a packed A panel by a packed B panel into the top-left
  /// `rows × columns` corner of the `mr × nr` tile of `C` at `c`.
  static func multiplyTile(
    depth: Int, a: UnsafePointer<Scalar>, b: UnsafePointer<Scalar>,
    c: UnsafeMutablePointer<Scalar>, ldc: Int, rows: Int, columns: Int, accumulate: Bool)
}

/// Below this many scalars, packing runs on one thread.
private let parallelPackingThreshold = 1 << 15

/// The most B panels a task packs for itself: at most 256 columns in
/// single precision, which stay in L2.
private let panelsPerTask = 16

/// Rows of A packed at once. Several `mc` blocks, so that the threads can
/// share them out, while bounding the packing buffer for very tall A.
private let packedRowLimit = 1152

/// Below this many multiply-adds a product runs on the calling thread
/// alone: waking the workers would cost more than they save.
private let parallelThreshold = 1 << 20

private func blockedGEMM<K: GEMMKernel>(
  _ kernel: K.Type, m: Int, n: Int, k: Int, a: Operand<K.Scalar>, b: Operand<K.Scalar>,
  c: UnsafeMutablePointer<K.Scalar>, ldc: Int, accumulate: Bool
) {
  guard m > 0 && n > 0 else { return }
  guard k > 0 else {
    if !accumulate {
      for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) }
    }
    return
  }
  if m * n * k <= smallProductLimit {
    smallGEMM(m: m, n: n, k: k, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate)
    return
  }
  if !a.transposed && b.transposed && k >= dotProductMinimumDepth {
    dotProductGEMM(
      m: m, n: n, k: k, a: a.base, lda: a.stride, b: b.base, ldb: b.stride, c: c, ldc: ldc,
      accumulate: accumulate)
    return
  }
  let threads = m * n * k < parallelThreshold ? 1 : ComputeSettings.threadCount
  // Depth blocks of equal size, at most `kc`: a block of 288 is one pass
  // over C, not a pass of 256 and a short one of 32.
  let depthLimit = ceilDivide(k, ceilDivide(k, K.kc))
  let packedA = roundUp(min(m, packedRowLimit), K.mr) * depthLimit
  let packedB = m <= K.mc ? 0 : depthLimit * roundUp(min(n, K.nc), K.nr)
  let buffers = PackingScratch.forCurrentThread.buffers(K.Scalar.self, packedA, packedB)
  for column in stride(from: 0, to: n, by: K.nc) {
    let columns = min(K.nc, n - column)
    for depthStart in stride(from: 0, to: k, by: depthLimit) {
      let depth = min(depthLimit, k - depthStart)
      for row in stride(from: 0, to: m, by: packedRowLimit) {
        let block = Block(
          row: row, rows: min(packedRowLimit, m - row), column: column, columns: columns,
          depthStart: depthStart, depth: depth, threads: threads, packsBPerTask: m <= K.mc)
        pack(
          K.self, block, a: a, b: b, packsB: row == 0 && !block.packsBPerTask,
          packedA: buffers.a, packedB: buffers.b)
        multiply(
          K.self, block, b: b, packedA: buffers.a, packedB: buffers.b, c: c, ldc: ldc,
          accumulate: accumulate || depthStart > 0)
      }
    }
  }
}

/// Products of at most this many multiply-adds skip the packing, whose
/// fixed cost would dominate (measured: 2×2×2 runs 7 times faster this
/// way, 8×8×8 already 1.5 times slower).
private let smallProductLimit = 64

/// `C = op(A)·op(B)` one dot product at a time, for tiny products.
@inline(__always)
private func smallGEMM<S: TensorScalar>(
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

/// The part of the product computed from one pair of packed buffers.
private struct Block {
  let row: Int
  let rows: Int
  let column: Int
  let columns: Int
  let depthStart: Int
  let depth: Int
  let threads: Int
  /// Whether each task packs the B panels it uses, just before using
  /// them, into a buffer of its thread that stays in L2. That is cheaper
  /// when A has at most `mc` rows: a B panel then meets only a few A
  /// panels, and packing all of B first, to memory, and reading it back
  /// would cost about as much as the multiplication.
  let packsBPerTask: Bool
}

/// Packs the block's rows of `op(A)` and, when `packsB`, its columns of
/// `op(B)`, a few panels per task.
private func pack<K: GEMMKernel>(
  _ kernel: K.Type, _ block: Block, a: Operand<K.Scalar>, b: Operand<K.Scalar>, packsB: Bool,
  packedA: UnsafeMutablePointer<K.Scalar>, packedB: UnsafeMutablePointer<K.Scalar>
) {
  let panelsA = ceilDivide(block.rows, K.mr)
  let panelsB = ceilDivide(block.columns, K.nr)
  let scalars = (block.rows + (packsB ? block.columns : 0)) * block.depth
  let threads = scalars < parallelPackingThreshold ? 1 : block.threads
  let tasksA = min(panelsA, 2 * threads)
  let tasksB = packsB ? min(panelsB, 2 * threads) : 0
  forEachTask(tasksA + tasksB, threads: threads) { task in
    if task < tasksB {
      let panels = evenPart(of: panelsB, into: tasksB, task)
      let first = panels.lowerBound * K.nr
      K.packB(
        Operand(
          b.pointer(row: block.depthStart, column: block.column + first), b.stride, b.transposed),
        depth: block.depth, columns: min(panels.count * K.nr, block.columns - first),
        into: packedB + first * block.depth)
    } else {
      let panels = evenPart(of: panelsA, into: tasksA, task - tasksB)
      let first = panels.lowerBound * K.mr
      K.packA(
        Operand(
          a.pointer(row: block.row + first, column: block.depthStart), a.stride, a.transposed),
        rows: min(panels.count * K.mr, block.rows - first), depth: block.depth,
        into: packedA + first * block.depth)
    }
  }
}

/// Runs the micro-kernel over every tile of the block. A task is a range
/// of A panels (at most `mc` rows) times a range of B panels; there are a
/// few tasks per thread, in a multiple of the thread count.
private func multiply<K: GEMMKernel>(
  _ kernel: K.Type, _ block: Block, b: Operand<K.Scalar>, packedA: UnsafeMutablePointer<K.Scalar>,
  packedB: UnsafeMutablePointer<K.Scalar>, c: UnsafeMutablePointer<K.Scalar>, ldc: Int,
  accumulate: Bool
) {
  let panelsA = ceilDivide(block.rows, K.mr)
  let panelsB = ceilDivide(block.columns, K.nr)
  let rowTasks = ceilDivide(panelsA, K.mc / K.mr)
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
    if block.packsBPerTask {
      let first = columnPanels.lowerBound * K.nr
      let count = min(columnPanels.count * K.nr, block.columns - first)
      panelsB = PackingScratch.forCurrentThread.taskPanels(
        K.Scalar.self, count: depth * columnPanels.count * K.nr)
      K.packB(
        Operand(
          b.pointer(row: block.depthStart, column: block.column + first), b.stride, b.transposed),
        depth: depth, columns: count, into: panelsB)
      panelsB -= first * depth
    }
    for columnPanel in columnPanels {
      let column = columnPanel * K.nr
      let columns = min(K.nr, block.columns - column)
      let panelB = panelsB + column * depth
      for rowPanel in rowPanels {
        let row = rowPanel * K.mr
        K.multiplyTile(
          depth: depth, a: packedA + row * depth, b: panelB,
          c: c + (block.row + row) * ldc + block.column + column, ldc: ldc,
          rows: min(K.mr, block.rows - row), columns: columns, accumulate: accumulate)
      }
    }
  }
}

@inline(__always)
private func forEachTask(_ count: Int, threads: Int, _ body: (Int) -> Void) {
  if threads > 1 {
    WorkerPool.shared.parallelFor(count, body)
  } else {
    for task in 0..<count { body(task) }
  }
}

/// Part `part` of `0..<total` cut into `parts` near-equal ranges.
@inline(__always)
private func evenPart(of total: Int, into parts: Int, _ part: Int) -> Range<Int> {
  (part * total / parts)..<((part + 1) * total / parts)
}

@inline(__always)
private func ceilDivide(_ x: Int, _ y: Int) -> Int { (x + y - 1) / y }

@inline(__always)
private func roundUp(_ x: Int, _ multiple: Int) -> Int { ceilDivide(x, multiple) * multiple }

private func greatestCommonDivisor(_ x: Int, _ y: Int) -> Int {
  var (x, y) = (x, y)
  while y != 0 { (x, y) = (y, x % y) }
  return x
}

// MARK: - Products along rows

/// `C = A·Bᵀ` from this depth on goes through ``dotProductGEMM``.
private let dotProductMinimumDepth = 32

/// Depth handled at once by ``dotProductGEMM``: the seven rows of a tile
/// (28 KB at most in single precision) stay in L1.
private let dotProductDepthBlock = 1024

/// `C = A·Bᵀ` (or `C += A·Bᵀ`) with `A` `[m, k]` and `B` `[n, k]` both
/// stored row by row, so that every entry of `C` is a dot product of two
/// contiguous rows. The packed path would have to transpose one of the
/// operands, one scalar at a time, which for the filter gradient of a
/// convolution (`∂y · colsᵀ`, where `cols` is large and `∂y` has few
/// rows) costs as much as the multiplication. Here a 4 × 3 tile of `C` is
/// twelve vector accumulators over the depth, reduced across lanes at the
/// end. The tiles are shared out by column; the depth is cut the same way
/// whatever the number of threads, so the result does not depend on it.
private func dotProductGEMM<S: TensorScalar>(
  m: Int, n: Int, k: Int, a: UnsafePointer<S>, lda: Int, b: UnsafePointer<S>, ldb: Int,
  c: UnsafeMutablePointer<S>, ldc: Int, accumulate: Bool
) {
  let rowTiles = ceilDivide(m, 4)
  let columnTiles = ceilDivide(n, 3)
  let threads = m * n * k < parallelThreshold ? 1 : ComputeSettings.threadCount
  let tasks = min(columnTiles, 4 * threads)
  for depthStart in stride(from: 0, to: k, by: dotProductDepthBlock) {
    let depth = min(dotProductDepthBlock, k - depthStart)
    forEachTask(tasks, threads: threads) { task in
      for columnTile in evenPart(of: columnTiles, into: tasks, task) {
        let column = columnTile * 3
        for rowTile in 0..<rowTiles {
          let row = rowTile * 4
          dotProductTile(
            depth: depth, a: a + row * lda + depthStart, lda: lda, rows: min(4, m - row),
            b: b + column * ldb + depthStart, ldb: ldb, columns: min(3, n - column),
            c: c + row * ldc + column, ldc: ldc, accumulate: accumulate || depthStart > 0)
        }
      }
    }
  }
}

/// `acc += x * y` lane by lane, fused where the target has FMA.
@inline(__always)
private func multiplyAdd<S: TensorScalar>(
  _ acc: inout SIMD8<S>, _ x: SIMD8<S>, _ y: SIMD8<S>
) {
  #if CORTEX_FMA || arch(arm64)
    acc.addProduct(x, y)
  #else
    acc += x * y
  #endif
}

/// The sum of the lanes of `v`, by halves: three vector adds, not seven
/// dependent scalar ones.
@inline(__always)
private func horizontalSum<S: TensorScalar>(_ v: SIMD8<S>) -> S {
  let four = v.lowHalf + v.highHalf
  let two = four.lowHalf + four.highHalf
  return two[0] + two[1]
}

/// The `rows × columns` (at most 4 × 3) corner of a tile of `C = A·Bᵀ`
/// over `depth`: rows past `rows` or `columns` repeat the last one, and
/// their results are dropped.
@_specialize(where S == Float)
@_specialize(where S == Double)
private func dotProductTile<S: TensorScalar>(
  depth: Int, a: UnsafePointer<S>, lda: Int, rows: Int, b: UnsafePointer<S>, ldb: Int,
  columns: Int, c: UnsafeMutablePointer<S>, ldc: Int, accumulate: Bool
) {
  let a0 = a
  let a1 = rows > 1 ? a0 + lda : a0
  let a2 = rows > 2 ? a1 + lda : a1
  let a3 = rows > 3 ? a2 + lda : a2
  let b0 = b
  let b1 = columns > 1 ? b0 + ldb : b0
  let b2 = columns > 2 ? b1 + ldb : b1
  func load(_ pointer: UnsafePointer<S>) -> SIMD8<S> {
    UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<S>.self)
  }
  var (s00, s01, s02) = (SIMD8<S>(), SIMD8<S>(), SIMD8<S>())
  var (s10, s11, s12) = (SIMD8<S>(), SIMD8<S>(), SIMD8<S>())
  var (s20, s21, s22) = (SIMD8<S>(), SIMD8<S>(), SIMD8<S>())
  var (s30, s31, s32) = (SIMD8<S>(), SIMD8<S>(), SIMD8<S>())
  var p = 0
  while p + 8 <= depth {
    let (y0, y1, y2) = (load(b0 + p), load(b1 + p), load(b2 + p))
    var x = load(a0 + p)
    multiplyAdd(&s00, x, y0)
    multiplyAdd(&s01, x, y1)
    multiplyAdd(&s02, x, y2)
    x = load(a1 + p)
    multiplyAdd(&s10, x, y0)
    multiplyAdd(&s11, x, y1)
    multiplyAdd(&s12, x, y2)
    x = load(a2 + p)
    multiplyAdd(&s20, x, y0)
    multiplyAdd(&s21, x, y1)
    multiplyAdd(&s22, x, y2)
    x = load(a3 + p)
    multiplyAdd(&s30, x, y0)
    multiplyAdd(&s31, x, y1)
    multiplyAdd(&s32, x, y2)
    p += 8
  }
  withUnsafeTemporaryAllocation(of: S.self, capacity: 12) { sums in
    let vectors = [s00, s01, s02, s10, s11, s12, s20, s21, s22, s30, s31, s32]
    let rowsA = [a0, a1, a2, a3]
    let rowsB = [b0, b1, b2]
    for i in 0..<4 {
      for j in 0..<3 {
        var sum = horizontalSum(vectors[i * 3 + j])
        for q in p..<depth { sum += rowsA[i][q] * rowsB[j][q] }
        sums[i * 3 + j] = sum
      }
    }
    for i in 0..<rows {
      for j in 0..<columns {
        let target = c + i * ldc + j
        target.pointee = accumulate ? target.pointee + sums[i * 3 + j] : sums[i * 3 + j]
      }
    }
  }
}

// MARK: - Packing buffers

/// The packing buffers of one thread, grown when a product needs more,
/// then reused by every later product on that thread: the blocks of a
/// product the thread runs (shared with the workers that help it), and the
/// B panels of a task the thread runs.
private final class PackingScratch {
  private var blocks = GrowingBuffer()
  private var task = GrowingBuffer()

  /// The calling thread's buffers, created on first use.
  static var forCurrentThread: PackingScratch {
    if let existing = pthread_getspecific(packingScratchKey) {
      return Unmanaged<PackingScratch>.fromOpaque(existing).takeUnretainedValue()
    }
    let scratch = PackingScratch()
    pthread_setspecific(packingScratchKey, Unmanaged.passRetained(scratch).toOpaque())
    return scratch
  }

  /// Room for `countA` and then `countB` scalars, each 64-byte aligned.
  func buffers<S>(_: S.Type, _ countA: Int, _ countB: Int) -> (
    a: UnsafeMutablePointer<S>, b: UnsafeMutablePointer<S>
  ) {
    let bytesA = roundUp(countA * MemoryLayout<S>.stride, 64)
    let start = blocks.reserve(bytesA + countB * MemoryLayout<S>.stride)
    return (
      start.bindMemory(to: S.self, capacity: countA),
      (start + bytesA).bindMemory(to: S.self, capacity: countB)
    )
  }

  /// Room for the B panels of one task, `count` scalars, 64-byte aligned.
  func taskPanels<S>(_: S.Type, count: Int) -> UnsafeMutablePointer<S> {
    task.reserve(count * MemoryLayout<S>.stride).bindMemory(to: S.self, capacity: count)
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

// MARK: - Packing
//
// A packed panel of width `w` (`mr` for A, `nr` for B) holds, at step `p`
// of the depth, the `w` scalars `p * w ..< p * w + w`. Depending on the
// transpose, those `w` scalars either lie side by side in memory (a run,
// copied whole) or one in each of `w` rows of the source (gathered).

/// Packs `op(A)` into `mr`-row panels, zero-padded past the last row.
@inline(__always)
private func packPanelsA<S: TensorScalar>(
  _ source: Operand<S>, rows: Int, depth: Int, mr: Int, into panels: UnsafeMutablePointer<S>
) {
  // op(A)[i, p] is base[p * stride + i] when transposed.
  if source.transposed {
    packRuns(source.base, source.stride, rows, depth, mr, panels)
  } else {
    packGathered(source.base, source.stride, rows, depth, mr, panels)
  }
}

/// Packs `op(B)` into `nr`-column panels, zero-padded past the last column.
@inline(__always)
private func packPanelsB<S: TensorScalar>(
  _ source: Operand<S>, depth: Int, columns: Int, nr: Int, into panels: UnsafeMutablePointer<S>
) {
  // op(B)[p, j] is base[p * stride + j] unless transposed.
  if source.transposed {
    packGathered(source.base, source.stride, columns, depth, nr, panels)
  } else {
    packRuns(source.base, source.stride, columns, depth, nr, panels)
  }
}

/// Packs `count` scalars at each of `depth` steps, where step `p` reads
/// the run `base[p * stride ..< p * stride + count]`. The source is read
/// row after row, in order, which suits the hardware prefetchers.
@inline(__always)
private func packRuns<S: TensorScalar>(
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
@inline(__always)
private func packGathered<S: TensorScalar>(
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

// MARK: - Micro-kernels

/// Single precision: 6 × 16 register tiles.
enum FloatKernel: GEMMKernel {
  typealias Scalar = Float
  static var mr: Int { 6 }
  static var nr: Int { 16 }
  static var kc: Int { 320 }
  static var mc: Int { 144 }
  static var nc: Int { 4080 }

  static func packA(
    _ source: Operand<Float>, rows: Int, depth: Int, into panels: UnsafeMutablePointer<Float>
  ) {
    packPanelsA(source, rows: rows, depth: depth, mr: 6, into: panels)
  }

  static func packB(
    _ source: Operand<Float>, depth: Int, columns: Int, into panels: UnsafeMutablePointer<Float>
  ) {
    packPanelsB(source, depth: depth, columns: columns, nr: 16, into: panels)
  }

  static func multiplyTile(
    depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, columns: Int, accumulate: Bool
  ) {
    floatTile(
      depth: depth, a: a, b: b, c: c, ldc: ldc, rows: rows, columns: columns,
      accumulate: accumulate)
  }
}

/// Double precision: 6 × 8 register tiles.
enum DoubleKernel: GEMMKernel {
  typealias Scalar = Double
  static var mr: Int { 6 }
  static var nr: Int { 8 }
  static var kc: Int { 256 }
  static var mc: Int { 72 }
  static var nc: Int { 2040 }

  static func packA(
    _ source: Operand<Double>, rows: Int, depth: Int, into panels: UnsafeMutablePointer<Double>
  ) {
    packPanelsA(source, rows: rows, depth: depth, mr: 6, into: panels)
  }

  static func packB(
    _ source: Operand<Double>, depth: Int, columns: Int, into panels: UnsafeMutablePointer<Double>
  ) {
    packPanelsB(source, depth: depth, columns: columns, nr: 8, into: panels)
  }

  static func multiplyTile(
    depth: Int, a: UnsafePointer<Double>, b: UnsafePointer<Double>,
    c: UnsafeMutablePointer<Double>, ldc: Int, rows: Int, columns: Int, accumulate: Bool
  ) {
    doubleTile(
      depth: depth, a: a, b: b, c: c, ldc: ldc, rows: rows, columns: columns,
      accumulate: accumulate)
  }
}

// The two tiles are written out for each type rather than shared through a
// generic function: unspecialized generic SIMD code is ten times slower,
// and debug builds do not specialize.

/// `acc += x * y`, fused where the target has FMA instructions. Without
/// them `addProduct` would become a library call per lane.
@inline(__always)
private func multiplyAdd(_ acc: inout SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) {
  #if CORTEX_FMA || arch(arm64)
    acc.addProduct(x, y)
  #else
    acc += x * y
  #endif
}

/// `acc += x * y`, fused where the target has FMA instructions.
@inline(__always)
private func multiplyAdd(_ acc: inout SIMD4<Double>, _ x: SIMD4<Double>, _ y: SIMD4<Double>) {
  #if CORTEX_FMA || arch(arm64)
    acc.addProduct(x, y)
  #else
    acc += x * y
  #endif
}

/// The single-precision register tile: 6 rows × 16 columns in twelve
/// 8-lane accumulators. `a` is a packed A panel (6 scalars per step), `b` a
/// packed B panel (16 scalars per step, 64-byte aligned).
private func floatTile(
  depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
  ldc: Int, rows: Int, columns: Int, accumulate: Bool
) {
  func load(_ pointer: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self)
  }
  func store(_ vector: SIMD8<Float>, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: vector, as: SIMD8<Float>.self)
  }
  let full = rows == 6 && columns == 16
  // A full tile of `C += …` starts from C itself, so that the loads of C
  // overlap with the first steps of the loop instead of stalling the end.
  let startsFromC = full && accumulate
  let zero = SIMD8<Float>()
  var (c00, c01) = startsFromC ? (load(c), load(c + 8)) : (zero, zero)
  var (c10, c11) = startsFromC ? (load(c + ldc), load(c + ldc + 8)) : (zero, zero)
  var (c20, c21) = startsFromC ? (load(c + 2 * ldc), load(c + 2 * ldc + 8)) : (zero, zero)
  var (c30, c31) = startsFromC ? (load(c + 3 * ldc), load(c + 3 * ldc + 8)) : (zero, zero)
  var (c40, c41) = startsFromC ? (load(c + 4 * ldc), load(c + 4 * ldc + 8)) : (zero, zero)
  var (c50, c51) = startsFromC ? (load(c + 5 * ldc), load(c + 5 * ldc + 8)) : (zero, zero)
  var pa = a
  var pb = UnsafeRawPointer(b)
  for _ in 0..<depth {
    let b0 = pb.load(as: SIMD8<Float>.self)
    let b1 = pb.load(fromByteOffset: 32, as: SIMD8<Float>.self)
    var x = SIMD8<Float>(repeating: pa[0])
    multiplyAdd(&c00, x, b0)
    multiplyAdd(&c01, x, b1)
    x = SIMD8<Float>(repeating: pa[1])
    multiplyAdd(&c10, x, b0)
    multiplyAdd(&c11, x, b1)
    x = SIMD8<Float>(repeating: pa[2])
    multiplyAdd(&c20, x, b0)
    multiplyAdd(&c21, x, b1)
    x = SIMD8<Float>(repeating: pa[3])
    multiplyAdd(&c30, x, b0)
    multiplyAdd(&c31, x, b1)
    x = SIMD8<Float>(repeating: pa[4])
    multiplyAdd(&c40, x, b0)
    multiplyAdd(&c41, x, b1)
    x = SIMD8<Float>(repeating: pa[5])
    multiplyAdd(&c50, x, b0)
    multiplyAdd(&c51, x, b1)
    pa += 6
    pb += 64
  }
  if full {
    store(c00, c)
    store(c01, c + 8)
    store(c10, c + ldc)
    store(c11, c + ldc + 8)
    store(c20, c + 2 * ldc)
    store(c21, c + 2 * ldc + 8)
    store(c30, c + 3 * ldc)
    store(c31, c + 3 * ldc + 8)
    store(c40, c + 4 * ldc)
    store(c41, c + 4 * ldc + 8)
    store(c50, c + 5 * ldc)
    store(c51, c + 5 * ldc + 8)
    return
  }
  // An edge tile: spill the registers, then write the part inside C.
  withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 12) { tile in
    (tile[0], tile[1], tile[2], tile[3], tile[4], tile[5]) = (c00, c01, c10, c11, c20, c21)
    (tile[6], tile[7], tile[8], tile[9], tile[10], tile[11]) = (c30, c31, c40, c41, c50, c51)
    let scalars = UnsafeRawPointer(tile.baseAddress!).assumingMemoryBound(to: Float.self)
    for i in 0..<rows {
      let source = scalars + i * 16
      let target = c + i * ldc
      for j in 0..<columns {
        target[j] = accumulate ? target[j] + source[j] : source[j]
      }
    }
  }
}

/// The double-precision register tile: 6 rows × 8 columns in twelve
/// 4-lane accumulators. `a` is a packed A panel (6 scalars per step), `b` a
/// packed B panel (8 scalars per step, 64-byte aligned).
private func doubleTile(
  depth: Int, a: UnsafePointer<Double>, b: UnsafePointer<Double>, c: UnsafeMutablePointer<Double>,
  ldc: Int, rows: Int, columns: Int, accumulate: Bool
) {
  func load(_ pointer: UnsafeMutablePointer<Double>) -> SIMD4<Double> {
    UnsafeRawPointer(pointer).loadUnaligned(as: SIMD4<Double>.self)
  }
  func store(_ vector: SIMD4<Double>, _ pointer: UnsafeMutablePointer<Double>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: vector, as: SIMD4<Double>.self)
  }
  let full = rows == 6 && columns == 8
  // A full tile of `C += …` starts from C itself, so that the loads of C
  // overlap with the first steps of the loop instead of stalling the end.
  let startsFromC = full && accumulate
  let zero = SIMD4<Double>()
  var (c00, c01) = startsFromC ? (load(c), load(c + 4)) : (zero, zero)
  var (c10, c11) = startsFromC ? (load(c + ldc), load(c + ldc + 4)) : (zero, zero)
  var (c20, c21) = startsFromC ? (load(c + 2 * ldc), load(c + 2 * ldc + 4)) : (zero, zero)
  var (c30, c31) = startsFromC ? (load(c + 3 * ldc), load(c + 3 * ldc + 4)) : (zero, zero)
  var (c40, c41) = startsFromC ? (load(c + 4 * ldc), load(c + 4 * ldc + 4)) : (zero, zero)
  var (c50, c51) = startsFromC ? (load(c + 5 * ldc), load(c + 5 * ldc + 4)) : (zero, zero)
  var pa = a
  var pb = UnsafeRawPointer(b)
  for _ in 0..<depth {
    let b0 = pb.load(as: SIMD4<Double>.self)
    let b1 = pb.load(fromByteOffset: 32, as: SIMD4<Double>.self)
    var x = SIMD4<Double>(repeating: pa[0])
    multiplyAdd(&c00, x, b0)
    multiplyAdd(&c01, x, b1)
    x = SIMD4<Double>(repeating: pa[1])
    multiplyAdd(&c10, x, b0)
    multiplyAdd(&c11, x, b1)
    x = SIMD4<Double>(repeating: pa[2])
    multiplyAdd(&c20, x, b0)
    multiplyAdd(&c21, x, b1)
    x = SIMD4<Double>(repeating: pa[3])
    multiplyAdd(&c30, x, b0)
    multiplyAdd(&c31, x, b1)
    x = SIMD4<Double>(repeating: pa[4])
    multiplyAdd(&c40, x, b0)
    multiplyAdd(&c41, x, b1)
    x = SIMD4<Double>(repeating: pa[5])
    multiplyAdd(&c50, x, b0)
    multiplyAdd(&c51, x, b1)
    pa += 6
    pb += 64
  }
  if full {
    store(c00, c)
    store(c01, c + 4)
    store(c10, c + ldc)
    store(c11, c + ldc + 4)
    store(c20, c + 2 * ldc)
    store(c21, c + 2 * ldc + 4)
    store(c30, c + 3 * ldc)
    store(c31, c + 3 * ldc + 4)
    store(c40, c + 4 * ldc)
    store(c41, c + 4 * ldc + 4)
    store(c50, c + 5 * ldc)
    store(c51, c + 5 * ldc + 4)
    return
  }
  // An edge tile: spill the registers, then write the part inside C.
  withUnsafeTemporaryAllocation(of: SIMD4<Double>.self, capacity: 12) { tile in
    (tile[0], tile[1], tile[2], tile[3], tile[4], tile[5]) = (c00, c01, c10, c11, c20, c21)
    (tile[6], tile[7], tile[8], tile[9], tile[10], tile[11]) = (c30, c31, c40, c41, c50, c51)
    let scalars = UnsafeRawPointer(tile.baseAddress!).assumingMemoryBound(to: Double.self)
    for i in 0..<rows {
      let source = scalars + i * 8
      let target = c + i * ldc
      for j in 0..<columns {
        target[j] = accumulate ? target[j] + source[j] : source[j]
      }
    }
  }
}
