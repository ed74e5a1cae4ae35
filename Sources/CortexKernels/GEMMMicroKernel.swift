// The micro-kernel.

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
