// Products along rows.

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
