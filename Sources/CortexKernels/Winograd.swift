/// Winograd's minimal filtering F(2×2, 3×3) for 3×3 convolutions of
/// stride 1 (Lavin and Gray, "Fast Algorithms for Convolutional Neural
/// Networks", 2016).
///
/// The output of a plane is cut into tiles of 2 × 2; each reads a 4 × 4
/// tile `d` of the zero-padded input, 2 apart. With the filter `g` (3 × 3)
/// the tile is
///
///     Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A,
///
///     Bᵀ = | 1  0 −1  0 |    G = | 1   0   0 |    Aᵀ = | 1  1  1  0 |
///          | 0  1  1  0 |        | ½   ½   ½ |         | 0  1 −1 −1 |
///          | 0 −1  1  0 |        | ½  −½   ½ |
///          | 0  1  0 −1 |        | 0   0   1 |
///
/// exactly the 2 × 2 outputs of the direct convolution, with 16 products
/// instead of 36. Summed over the input channels the products become
/// matrix products, one per point `ξ` of the 4 × 4 transform:
/// `M[ξ] = U[ξ] · V[ξ]`, `U[ξ]` `[K, C]` the transformed filters and
/// `V[ξ]` `[C, tiles]` the transformed input tiles; each output tile is
/// then `Aᵀ M A`. The products run on the packed GEMM tile like every
/// other product, each entry summed over the channels in order, so every
/// set that fuses multiply-adds gives the same bits. The input and output
/// transforms add and subtract lane by lane, whatever the register width;
/// the filter transform is one product with `G ⊗ G`, whose entries (0,
/// ±1, ±½, ±¼) make every product exact.
///
/// The gradients are the same transforms run backwards:
/// - the input gradient is a convolution of the output gradient, padded
///   by `2 − P`, with the filters flipped and their two channel axes
///   swapped: the same forward pass with other filters;
/// - the filter gradient follows the chain rule through the three
///   products: `∂M = A ∂Y Aᵀ` per output tile (zero past the output),
///   `∂U[ξ]ᵀ = Σ_tiles V[ξ] · ∂M[ξ]ᵀ` as one product per point, summed
///   over the tiles in order, and `∂g = Gᵀ ∂U G`.
///
/// The transforms' additions round, so the results differ from the direct
/// convolution's by a few units of the last place of the sum of the
/// magnitudes of the terms: at most 4.3 units (2.6e-7) in single
/// precision and 5 units (5.5e-16) in double precision on the shapes of
/// the tests.

/// The sizes of one convolution run through Winograd's transforms: the
/// forward pass of a convolution, or the convolution its input gradient
/// is.
@usableFromInline
struct WinogradGeometry: Equatable {
  /// The input's planes, `C`.
  @usableFromInline let channels: Int
  /// The output's planes, `K`.
  @usableFromInline let filters: Int
  /// The input plane, `H × W`.
  @usableFromInline let input: Extent
  /// The output plane, `(H + 2P − 2) × (W + 2P − 2)`.
  @usableFromInline let output: Extent
  /// Zeros around the input, at most 2 on each side.
  @usableFromInline let padding: Extent
  /// The 2 × 2 output tiles along each axis; the last may reach one past
  /// the output.
  @usableFromInline let tiles: Extent

  @inlinable
  init(channels: Int, filters: Int, input: Extent, output: Extent, padding: Extent) {
    (self.channels, self.filters) = (channels, filters)
    (self.input, self.output, self.padding) = (input, output, padding)
    tiles = Extent(height: (output.height + 1) / 2, width: (output.width + 1) / 2)
  }

  /// The geometry of `g`'s forward pass when the transforms pay for
  /// themselves, `nil` otherwise. The choice depends on the shape alone,
  /// so every set takes the same path: a 3 × 3 window with stride and
  /// dilation 1 and padding 0 to 2; at least 16 channels and 16 filters,
  /// the depth of the products of the forward pass and of the input
  /// gradient; rows of at least 8 inputs and 8 outputs, so that the tiles
  /// of a row fill registers of at least 4 lanes.
  @inlinable
  init?(_ g: ConvolutionGeometry) {
    let plane = g.plane
    let reach = Extent(
      height: plane.input.height + 2 * plane.padding.height - 2,
      width: plane.input.width + 2 * plane.padding.width - 2)
    guard plane.window == Extent(height: 3, width: 3), plane.isUnitStrideAndDilation,
      (0...2).contains(plane.padding.height), (0...2).contains(plane.padding.width),
      plane.output == reach, g.channels >= 16, g.filters >= 16,
      min(plane.input.width, plane.output.width) >= 8, plane.output.height >= 1
    else { return nil }
    self.init(
      channels: g.channels, filters: g.filters, input: plane.input, output: plane.output,
      padding: plane.padding)
  }

  /// The convolution that is the input gradient: the output gradient,
  /// padded by `2 − P`, convolved with the flipped filters back to the
  /// input's planes.
  @inlinable var transposed: WinogradGeometry {
    WinogradGeometry(
      channels: filters, filters: channels, input: output, output: input,
      padding: Extent(height: 2 - padding.height, width: 2 - padding.width))
  }

  /// Tile rows transformed and multiplied at once: at most 224 tiles
  /// (seven panels of 32), or one row.
  @inlinable var blockRows: Int { max(1, min(tiles.height, 224 / tiles.width)) }

  /// The columns of the products of a block of `rows` tile rows: its
  /// tiles, rounded up to whole panels of 32 so that the product reads
  /// every panel where it lies (the columns past the tiles are zero).
  @inlinable func paddedTiles(rows: Int) -> Int { roundUp(rows * tiles.width, 32) }

  /// The blocks of tile rows of one plane.
  @inlinable var blocksPerImage: Int { ceilDivide(tiles.height, blockRows) }

  /// The tile rows of block `block`.
  @inlinable func tileRows(block: Int) -> Range<Int> {
    (block * blockRows)..<min((block + 1) * blockRows, tiles.height)
  }

  /// The channels-last copies the filter gradient reads: the input padded
  /// by `P` and the output gradient, both with zeros out to whole tiles
  /// (`2·tiles + 2` and `2·tiles` along each axis).
  @inlinable var channelsLastPlanes: (input: PaddedPlanes, gradient: PaddedPlanes) {
    let one = Extent(height: 1, width: 1)
    let reach = Extent(height: 2 * tiles.height, width: 2 * tiles.width)
    let input = WindowGeometry(
      input: input, window: Extent(height: 3, width: 3), stride: one, padding: padding,
      dilation: one, output: reach)
    let gradient = WindowGeometry(
      input: output, window: one, stride: one, padding: Extent(height: 0, width: 0),
      dilation: one, output: reach)
    return (PaddedPlanes(input, channels: channels), PaddedPlanes(gradient, channels: filters))
  }

  /// The length of one column phase of an input row: the input columns
  /// `2·t + q` of phase `q` for `t ≤` the tiles of a row.
  @inlinable var phaseLength: Int { tiles.width + 1 }
}

// MARK: - The transforms along one axis

/// Four values along one axis of a tile; `T` is a register of lanes, or
/// four of them (a row of a tile), so that one function transforms either
/// axis.
@usableFromInline
struct Quad<T: AdditiveArithmetic>: AdditiveArithmetic {
  @usableFromInline var x0: T
  @usableFromInline var x1: T
  @usableFromInline var x2: T
  @usableFromInline var x3: T

  @inlinable @inline(__always)
  init(_ x0: T, _ x1: T, _ x2: T, _ x3: T) {
    (self.x0, self.x1, self.x2, self.x3) = (x0, x1, x2, x3)
  }

  @inlinable static var zero: Quad { Quad(.zero, .zero, .zero, .zero) }

  @inlinable @inline(__always)
  static func + (a: Quad, b: Quad) -> Quad {
    Quad(a.x0 + b.x0, a.x1 + b.x1, a.x2 + b.x2, a.x3 + b.x3)
  }

  @inlinable @inline(__always)
  static func - (a: Quad, b: Quad) -> Quad {
    Quad(a.x0 - b.x0, a.x1 - b.x1, a.x2 - b.x2, a.x3 - b.x3)
  }
}

/// Two values along one axis of an output tile.
@usableFromInline
struct Pair<T: AdditiveArithmetic>: AdditiveArithmetic {
  @usableFromInline var x0: T
  @usableFromInline var x1: T

  @inlinable @inline(__always)
  init(_ x0: T, _ x1: T) { (self.x0, self.x1) = (x0, x1) }

  @inlinable static var zero: Pair { Pair(.zero, .zero) }

  @inlinable @inline(__always)
  static func + (a: Pair, b: Pair) -> Pair { Pair(a.x0 + b.x0, a.x1 + b.x1) }

  @inlinable @inline(__always)
  static func - (a: Pair, b: Pair) -> Pair { Pair(a.x0 - b.x0, a.x1 - b.x1) }
}

/// A register of lanes as a value the transforms add and subtract.
@usableFromInline
struct Lanes<R: SIMD>: AdditiveArithmetic where R.Scalar: FloatingPoint {
  @usableFromInline var value: R

  @inlinable @inline(__always)
  init(_ value: R) { self.value = value }

  @inlinable static var zero: Lanes { Lanes(R()) }

  @inlinable @inline(__always)
  static func + (a: Lanes, b: Lanes) -> Lanes { Lanes(a.value + b.value) }

  @inlinable @inline(__always)
  static func - (a: Lanes, b: Lanes) -> Lanes { Lanes(a.value - b.value) }
}

/// `Bᵀ d`: `(d0 − d2, d1 + d2, d2 − d1, d1 − d3)`.
@inlinable @inline(__always)
func winogradInputStep<T>(_ d: Quad<T>) -> Quad<T> {
  Quad(d.x0 - d.x2, d.x1 + d.x2, d.x2 - d.x1, d.x1 - d.x3)
}

/// `Aᵀ m`: `(m0 + m1 + m2, m1 − m2 − m3)`.
@inlinable @inline(__always)
func winogradOutputStep<T>(_ m: Quad<T>) -> Pair<T> {
  Pair(m.x0 + m.x1 + m.x2, m.x1 - m.x2 - m.x3)
}

/// `A y`, the adjoint of ``winogradOutputStep(_:)``: `(y0, y0 + y1,
/// y0 − y1, −y1)`.
@inlinable @inline(__always)
func winogradOutputGradientStep<T>(_ y: Pair<T>) -> Quad<T> {
  Quad(y.x0, y.x0 + y.x1, y.x0 - y.x1, .zero - y.x1)
}

/// `Bᵀ d B` of the 4 × 4 tile whose entry `(i, j)` is `load(i, j)`; stores
/// point `ξ = 4i + j` through `store(ξ, value)`.
@inlinable @inline(__always)
func winogradInputTile<R: SIMD>(
  _ load: (_ i: Int, _ j: Int) -> R, _ store: (_ point: Int, _ value: R) -> Void
) where R.Scalar: FloatingPoint {
  @inline(__always) func row(_ i: Int) -> Quad<Lanes<R>> {
    Quad(Lanes(load(i, 0)), Lanes(load(i, 1)), Lanes(load(i, 2)), Lanes(load(i, 3)))
  }
  let columns = winogradInputStep(Quad(row(0), row(1), row(2), row(3)))
  storeTile(
    winogradInputStep(columns.x0), winogradInputStep(columns.x1), winogradInputStep(columns.x2),
    winogradInputStep(columns.x3), store)
}

/// `Aᵀ m A` of the 4 × 4 products of one tile, point `ξ` read through
/// `load(ξ)`: the 2 × 2 outputs, rows first.
@inlinable @inline(__always)
func winogradOutputTile<R: SIMD>(_ load: (_ point: Int) -> R) -> Pair<Pair<Lanes<R>>>
where R.Scalar: FloatingPoint {
  @inline(__always) func row(_ i: Int) -> Quad<Lanes<R>> {
    Quad(
      Lanes(load(4 &* i)), Lanes(load(4 &* i &+ 1)), Lanes(load(4 &* i &+ 2)),
      Lanes(load(4 &* i &+ 3)))
  }
  let rows = winogradOutputStep(Quad(row(0), row(1), row(2), row(3)))
  return Pair(winogradOutputStep(rows.x0), winogradOutputStep(rows.x1))
}

/// `A y Aᵀ` of a 2 × 2 output-gradient tile whose entry `(i, j)` is
/// `load(i, j)`; stores point `ξ = 4i + j` through `store(ξ, value)`.
@inlinable @inline(__always)
func winogradOutputGradientTile<R: SIMD>(
  _ load: (_ i: Int, _ j: Int) -> R, _ store: (_ point: Int, _ value: R) -> Void
) where R.Scalar: FloatingPoint {
  let rows = winogradOutputGradientStep(
    Pair(
      Pair(Lanes(load(0, 0)), Lanes(load(0, 1))), Pair(Lanes(load(1, 0)), Lanes(load(1, 1)))))
  storeTile(
    winogradOutputGradientStep(rows.x0), winogradOutputGradientStep(rows.x1),
    winogradOutputGradientStep(rows.x2), winogradOutputGradientStep(rows.x3), store)
}

/// Stores the rows of a transformed 4 × 4 tile, point `ξ = 4i + j` through
/// `store(ξ, value)`.
@inlinable @inline(__always)
func storeTile<R: SIMD>(
  _ row0: Quad<Lanes<R>>, _ row1: Quad<Lanes<R>>, _ row2: Quad<Lanes<R>>, _ row3: Quad<Lanes<R>>,
  _ store: (_ point: Int, _ value: R) -> Void
) where R.Scalar: FloatingPoint {
  @inline(__always) func line(_ i: Int, _ v: Quad<Lanes<R>>) {
    store(4 &* i, v.x0.value)
    store(4 &* i &+ 1, v.x1.value)
    store(4 &* i &+ 2, v.x2.value)
    store(4 &* i &+ 3, v.x3.value)
  }
  line(0, row0)
  line(1, row1)
  line(2, row2)
  line(3, row3)
}

/// Calls `body(start)` for blocks of `lanes` of `0..<count` (`count ≥
/// lanes`); the last block is moved back to end at `count`, overlapping
/// the one before it.
@inlinable @inline(__always)
func forEachLaneBlock(count: Int, lanes: Int, _ body: (_ start: Int) -> Void) {
  var start = 0
  while start < count {
    let block = min(start, count &- lanes)
    body(block)
    start = block &+ lanes
  }
}

/// The distance between the matrices of consecutive transform points,
/// each of `size` scalars: 16 scalars more, so that the same entry of the
/// 16 points never lies a multiple of 4 KiB away from another, where they
/// would all fall into one set of the L1 cache and evict one another.
@inlinable @inline(__always)
func winogradPointStride(_ size: Int) -> Int { size + 16 }

/// A register of `R` from `pointer`, which need not be aligned.
@inlinable @inline(__always)
func loadRegister<R: SIMD>(_: R.Type, _ pointer: UnsafePointer<R.Scalar>) -> R {
  UnsafeRawPointer(pointer).loadUnaligned(as: R.self)
}

/// Stores `value` at `pointer`, which need not be aligned.
@inlinable @inline(__always)
func storeRegister<R: SIMD>(_ value: R, _ pointer: UnsafeMutablePointer<R.Scalar>) {
  UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: R.self)
}

/// Stores `even` and `odd` interleaved from `target` on: `target[2l] =
/// even[l]`, `target[2l + 1] = odd[l]` (one register twice as wide, for
/// registers of 4, 8 or 16 lanes).
@inlinable @inline(__always)
func storeInterleaved<R: SIMD, S: SIMDScalar>(
  _ even: R, _ odd: R, _ target: UnsafeMutablePointer<S>
)
where R.Scalar == S {
  switch R.scalarCount {
  case 16:
    var pair = SIMD32<S>()
    pair.evenHalf = unsafeBitCast(even, to: SIMD16<S>.self)
    pair.oddHalf = unsafeBitCast(odd, to: SIMD16<S>.self)
    storeRegister(pair, target)
  case 8:
    var pair = SIMD16<S>()
    pair.evenHalf = unsafeBitCast(even, to: SIMD8<S>.self)
    pair.oddHalf = unsafeBitCast(odd, to: SIMD8<S>.self)
    storeRegister(pair, target)
  case 4:
    var pair = SIMD8<S>()
    pair.evenHalf = unsafeBitCast(even, to: SIMD4<S>.self)
    pair.oddHalf = unsafeBitCast(odd, to: SIMD4<S>.self)
    storeRegister(pair, target)
  default:
    for lane in 0..<R.scalarCount {
      target[2 &* lane] = even[lane]
      target[2 &* lane &+ 1] = odd[lane]
    }
  }
}

// MARK: - Forward pass and input gradient

extension KernelSet {
  /// The convolution `w` of the images `images`, overwritten in `output`:
  /// `filters` transformed and packed once, then each block of tile rows
  /// of each image transformed, multiplied and transformed back
  /// (``winogradBlock(_:input:packedFilters:bias:output:_:band:)``), the
  /// blocks shared out among the threads when the call is not already
  /// one of several running side by side. `filters` is `[K, C, 3, 3]`,
  /// or, when `flipped`, the filters of the convolution whose input
  /// gradient `w` is (`[C, K, 3, 3]`), read flipped with their channel
  /// axes swapped.
  @inlinable
  static func winogradConvolution<V: SIMD>(
    _: V.Type, input: UnsafePointer<V.Scalar>, filters: UnsafePointer<V.Scalar>, flipped: Bool,
    bias: UnsafePointer<V.Scalar>?, output: UnsafeMutablePointer<V.Scalar>, _ w: WinogradGeometry,
    images: Range<Int>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    let (rows, depth) = (w.filters, w.channels)
    let panelCount = roundUp(rows, tileRows(V.self)) * depth
    let scratch = PackingScratch.forCurrentThread
    let pointStride = winogradPointStride(rows * depth)
    let transformed = scratch.columnBuffer(V.Scalar.self, count: 16 * pointStride)
    transformFilters(
      V.self, filters, count: rows * depth, flipped: flipped, into: transformed,
      pointStride: pointStride)
    let packed = scratch.operandBuffer(V.Scalar.self, count: 16 * panelCount)
    for point in 0..<16 {
      // `U[ξ]` is `[K, C]`, or, for flipped filters, its transpose.
      prepackPanelsA(
        V.self,
        Operand(transformed + point * pointStride, flipped ? rows : depth, flipped),
        rows: rows, depth: depth, into: packed + point * panelCount)
    }
    let inputCount = w.channels * w.input.height * w.input.width
    let outputCount = w.filters * w.output.height * w.output.width
    let blocks = w.blocksPerImage
    let work = images.count * 16 * w.tiles.height * w.tiles.width * rows * depth
    forEachTask(
      images.count * blocks, threads: work < parallelThreshold ? 1 : WorkerPool.threadCount
    ) {
      task in
      let n = images.lowerBound + task / blocks
      winogradBlock(
        V.self, input: input + n * inputCount, packedFilters: packed, bias: bias,
        output: output + n * outputCount, w, band: w.tileRows(block: task % blocks))
    }
  }

  /// The outputs of the tile rows `band` of one image: its input tiles
  /// transformed (`V[ξ]`, `[C, tiles]`), the 16 products
  /// `M[ξ] = U[ξ] · V[ξ]` (`[K, tiles]`, B read where it lies), and each
  /// tile of products transformed back into the output (plus the bias).
  @inlinable
  static func winogradBlock<V: SIMD>(
    _: V.Type, input: UnsafePointer<V.Scalar>, packedFilters: UnsafePointer<V.Scalar>,
    bias: UnsafePointer<V.Scalar>?, output: UnsafeMutablePointer<V.Scalar>, _ w: WinogradGeometry,
    band: Range<Int>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    typealias S = V.Scalar
    let scratch = PackingScratch.forCurrentThread
    let phaseCount = w.channels * (2 * band.count + 2) * 2 * w.phaseLength
    let phases = scratch.planeBuffer(bytes: phaseCount * MemoryLayout<S>.stride)
      .bindMemory(to: S.self, capacity: phaseCount)
    writeColumnPhases(input, w, band: band, into: phases)
    let columns = w.paddedTiles(rows: band.count)
    let (tileStride, productStride) = (
      winogradPointStride(w.channels * columns), winogradPointStride(w.filters * columns)
    )
    let transformed = scratch.columnBuffer(S.self, count: 16 * (tileStride + productStride))
    let products = transformed + 16 * tileStride
    if w.tiles.width >= V.scalarCount {
      transformInputTiles(V.self, phases, w, bandRows: band.count, into: transformed)
    } else if w.tiles.width >= 8 {
      transformInputTiles(SIMD8<S>.self, phases, w, bandRows: band.count, into: transformed)
    } else {
      transformInputTiles(SIMD4<S>.self, phases, w, bandRows: band.count, into: transformed)
    }
    let tiles = band.count * w.tiles.width
    for point in 0..<16 {
      for c in 0..<w.channels {
        (transformed + point * tileStride + c * columns + tiles).update(
          repeating: 0, count: columns - tiles)
      }
    }
    // `V[ξ][c, t]` lies at `c·columns + t`.
    let tables = scratch.tableBuffer(count: w.channels + columns)
    for c in 0..<w.channels { tables[c] = c * columns }
    for t in 0..<columns { tables[w.channels + t] = t }
    let panelCount = roundUp(w.filters, tileRows(V.self)) * w.channels
    for point in 0..<16 {
      let tileColumns = IndexedMatrix(
        base: UnsafePointer(transformed + point * tileStride), rowOffsets: tables,
        columnOffsets: tables + w.channels)
      multiplyPanels(
        V.self, m: w.filters, n: columns, k: w.channels,
        a: .prepacked(packedFilters + point * panelCount), b: .indexed(tileColumns),
        c: products + point * productStride, ldc: columns, accumulate: false)
    }
    if w.tiles.width >= V.scalarCount {
      transformOutputTiles(V.self, products, bias: bias, w, band: band, into: output)
    } else if w.tiles.width >= 8 {
      transformOutputTiles(SIMD8<S>.self, products, bias: bias, w, band: band, into: output)
    } else {
      transformOutputTiles(SIMD4<S>.self, products, bias: bias, w, band: band, into: output)
    }
  }

  /// `U[ξ] = G g Gᵀ` for `count` filters `g`, as one product `U = T · g`
  /// of the `[16, 9]` matrix `T = G ⊗ G`
  /// (``winogradFilterMatrix(_:flipped:)``) and the filters' taps
  /// `[9, count]`, read from `filters` (`count` windows of 9 taps one
  /// after the other; taps reversed when `flipped`). `transformed` is
  /// `[16, count]`, its rows `pointStride` apart. Every entry of `T` is
  /// 0, ±1, ±½ or ±¼, so every product is exact and every set, fused or
  /// not, gives the same bits.
  @inlinable
  static func transformFilters<V: SIMD>(
    _: V.Type, _ filters: UnsafePointer<V.Scalar>, count: Int, flipped: Bool,
    into transformed: UnsafeMutablePointer<V.Scalar>, pointStride: Int
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    withUnsafeTemporaryAllocation(of: V.Scalar.self, capacity: 16 * 9) { matrix in
      winogradFilterMatrix(matrix.baseAddress!, flipped: flipped)
      multiplyPanels(
        V.self, m: 16, n: count, k: 9, a: .matrix(Operand(matrix.baseAddress!, 9, false)),
        b: .matrix(Operand(filters, 9, true)), c: transformed, ldc: pointStride,
        accumulate: false)
    }
  }

  /// Writes the padded input rows that the tile rows `band` read, `2·b`
  /// to `2·b + 2·band.count + 1` for the band's first row `b`, each split
  /// into two column phases: padded column `x` lies at position `x / 2`
  /// of phase `x % 2` (``WinogradGeometry/phaseLength`` each), so that
  /// column `j` of consecutive tiles is one run, `t + j / 2` in phase
  /// `j % 2`. Rows and columns past the input are zero.
  @inlinable
  static func writeColumnPhases<S: BinaryFloatingPoint & SIMDScalar>(
    _ image: UnsafePointer<S>, _ w: WinogradGeometry, band: Range<Int>,
    into phases: UnsafeMutablePointer<S>
  ) {
    let (length, pad) = (w.phaseLength, w.padding.width)
    let rows = 2 * band.count + 2
    let (height, width) = (w.input.height, w.input.width)
    phases.update(repeating: 0, count: w.channels * rows * 2 * length)
    for c in 0..<w.channels {
      for r in 0..<rows {
        let y = 2 * band.lowerBound + r - w.padding.height
        guard y >= 0 && y < height else { continue }
        let line = phases + (c * rows + r) * 2 * length
        let source = image + (c * height + y) * width
        // Input column `iw` is padded column `iw + P`: even inputs go to
        // phase `P % 2`, odd ones to the other, sixteen at a time.
        let (evenPhase, oddPhase) = (line + (pad & 1) * length, line + ((pad + 1) & 1) * length)
        let (evenStart, oddStart) = (pad >> 1, (pad + 1) >> 1)
        var iw = 0
        while iw + 16 <= width {
          let run = loadRegister(SIMD16<S>.self, source + iw)
          storeRegister(run.evenHalf, evenPhase + evenStart + iw / 2)
          storeRegister(run.oddHalf, oddPhase + oddStart + iw / 2)
          iw += 16
        }
        while iw < width {
          line[((iw + pad) & 1) * length + ((iw + pad) >> 1)] = source[iw]
          iw += 1
        }
      }
    }
  }

  /// `V[ξ]` (`[C, columns]` for each of the 16 points, one after the
  /// other, ``WinogradGeometry/paddedTiles(rows:)`` columns)
  /// for the `bandRows` tile rows whose input rows
  /// ``writeColumnPhases(_:_:band:into:)`` wrote: `R.scalarCount`
  /// neighbouring tiles of a row at a time, each a lane.
  @inlinable
  static func transformInputTiles<R: SIMD>(
    _: R.Type, _ phases: UnsafePointer<R.Scalar>, _ w: WinogradGeometry, bandRows: Int,
    into transformed: UnsafeMutablePointer<R.Scalar>
  ) where R.Scalar: BinaryFloatingPoint {
    let length = w.phaseLength
    let rows = 2 * bandRows + 2
    let columns = w.paddedTiles(rows: bandRows)
    let pointStride = winogradPointStride(w.channels * columns)
    for c in 0..<w.channels {
      for tileRow in 0..<bandRows {
        let top = phases + (c * rows + 2 * tileRow) * 2 * length
        let target = transformed + c * columns + tileRow * w.tiles.width
        forEachLaneBlock(count: w.tiles.width, lanes: R.scalarCount) { tx in
          winogradInputTile(
            { (i: Int, j: Int) -> R in
              let offset: Int = (2 &* i &+ (j & 1)) &* length &+ (j >> 1) &+ tx
              return loadRegister(R.self, top + offset)
            },
            { (point: Int, v: R) in storeRegister(v, target + (point &* pointStride &+ tx)) })
        }
      }
    }
  }

  /// The outputs of the tile rows `band` from their products `M[ξ]`
  /// (`[K, columns]` for each point): `Aᵀ M A` plus the bias, for
  /// `R.scalarCount` neighbouring tiles at a time; outputs past the
  /// plane are dropped.
  @inlinable
  static func transformOutputTiles<R: SIMD>(
    _: R.Type, _ products: UnsafePointer<R.Scalar>, bias: UnsafePointer<R.Scalar>?,
    _ w: WinogradGeometry, band: Range<Int>, into output: UnsafeMutablePointer<R.Scalar>
  ) where R.Scalar: BinaryFloatingPoint & SIMDScalar {
    let columns = w.paddedTiles(rows: band.count)
    let pointStride = winogradPointStride(w.filters * columns)
    let (height, width) = (w.output.height, w.output.width)
    let lanes = R.scalarCount
    for k in 0..<w.filters {
      let plane = output + k * height * width
      let shift = bias.map { R(repeating: $0[k]) }
      for tileRow in 0..<band.count {
        let source = products + k * columns + tileRow * w.tiles.width
        let oh = 2 * (band.lowerBound + tileRow)
        let bothRows = oh + 1 < height
        forEachLaneBlock(count: w.tiles.width, lanes: lanes) { tx in
          var y = winogradOutputTile { (point: Int) -> R in
            loadRegister(R.self, source + (point &* pointStride &+ tx))
          }
          if let shift {
            let lanes = Pair(Lanes(shift), Lanes(shift))
            y = y + Pair(lanes, lanes)
          }
          let top = plane + oh * width + 2 * tx
          if bothRows && 2 * (tx + lanes) <= width {
            storeInterleaved(y.x0.x0.value, y.x0.x1.value, top)
            storeInterleaved(y.x1.x0.value, y.x1.x1.value, top + width)
            return
          }
          for lane in 0..<lanes {
            let inside = 2 * (tx + lane) + 1 < width
            top[2 * lane] = y.x0.x0.value[lane]
            if inside { top[2 * lane + 1] = y.x0.x1.value[lane] }
            guard bothRows else { continue }
            top[width + 2 * lane] = y.x1.x0.value[lane]
            if inside { top[width + 2 * lane + 1] = y.x1.x1.value[lane] }
          }
        }
      }
    }
  }
}

// MARK: - Filter gradient

extension KernelSet {
  /// `filterGradient += ∂W` over the images `images`, `filterGradient`
  /// `[K, 3, 3, C]`: `∂U[ξ] = Σ ∂M[ξ] · V[ξ]ᵀ` summed over every tile of
  /// every image in order
  /// (``winogradFilterGradientBlock(_:inputPlanes:gradientPlanes:sums:_:band:)``),
  /// then `∂g = Gᵀ ∂U G` once. Each image and its output gradient are
  /// first copied channels-last (``PaddedPlanes``), zero-padded out to
  /// whole tiles, so that a register holds one tap of consecutive
  /// channels.
  @inlinable
  static func winogradFilterGradient<V: SIMD>(
    _: V.Type, upstream: UnsafePointer<V.Scalar>, input: UnsafePointer<V.Scalar>,
    filterGradient: UnsafeMutablePointer<V.Scalar>, _ w: WinogradGeometry, images: Range<Int>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    typealias S = V.Scalar
    let count = 16 * winogradPointStride(w.filters * w.channels)
    let scratch = PackingScratch.forCurrentThread
    let sums = scratch.operandBuffer(S.self, count: count)
    sums.update(repeating: 0, count: count)
    let (inputPadded, gradientPadded) = w.channelsLastPlanes
    let planes = scratch.planeBuffer(
      bytes: (inputPadded.count + gradientPadded.count) * MemoryLayout<S>.stride
    ).bindMemory(to: S.self, capacity: inputPadded.count + gradientPadded.count)
    let gradientPlanes = planes + inputPadded.count
    inputPadded.clear(planes)
    gradientPadded.clear(gradientPlanes)
    let inputCount = w.channels * w.input.height * w.input.width
    let outputCount = w.filters * w.output.height * w.output.width
    for n in images {
      inputPadded.copyInteriorChannelsLast(planes, from: input + n * inputCount)
      gradientPadded.copyInteriorChannelsLast(gradientPlanes, from: upstream + n * outputCount)
      for block in 0..<w.blocksPerImage {
        winogradFilterGradientBlock(
          V.self, inputPlanes: planes, gradientPlanes: gradientPlanes, sums: sums, w,
          band: w.tileRows(block: block))
      }
    }
    addFilterGradient(V.self, sums, w, into: filterGradient)
  }

  /// `∂U[ξ]ᵀ += V[ξ] · ∂M[ξ]ᵀ` (`[C, K]` for each point) over the tile
  /// rows `band` of one image, from its channels-last copies
  /// (``WinogradGeometry/channelsLastPlanes``). Both transforms run a
  /// register of channels at a time and are written tiles by channels
  /// (`[tiles, C]` and `[tiles, K]` per point): the product packs the
  /// first as runs and reads the second where it lies.
  @inlinable
  static func winogradFilterGradientBlock<V: SIMD>(
    _: V.Type, inputPlanes: UnsafePointer<V.Scalar>, gradientPlanes: UnsafePointer<V.Scalar>,
    sums: UnsafeMutablePointer<V.Scalar>, _ w: WinogradGeometry, band: Range<Int>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    let (channels, filters) = (w.channels, w.filters)
    let tiles = band.count * w.tiles.width
    let (inputPadded, gradientPadded) = w.channelsLastPlanes
    let (tileStride, gradientStride) = (
      winogradPointStride(tiles * channels), winogradPointStride(tiles * filters)
    )
    let transformed = PackingScratch.forCurrentThread.columnBuffer(
      V.Scalar.self, count: 16 * (tileStride + gradientStride))
    let gradients = transformed + 16 * tileStride
    for tileRow in 0..<band.count {
      let y = 2 * (band.lowerBound + tileRow)
      for tx in 0..<w.tiles.width {
        let t = tileRow * w.tiles.width + tx
        let corner = inputPlanes + (y * inputPadded.width + 2 * tx) * channels
        forEachLaneBlock(count: channels, lanes: V.scalarCount) { c in
          winogradInputTile(
            { (i: Int, j: Int) -> V in
              let offset: Int = (i &* inputPadded.width &+ j) &* channels &+ c
              return loadRegister(V.self, corner + offset)
            },
            { (point: Int, v: V) in
              let offset: Int = point &* tileStride &+ t &* channels &+ c
              storeRegister(v, transformed + offset)
            })
        }
        let gradientCorner = gradientPlanes + (y * gradientPadded.width + 2 * tx) * filters
        forEachLaneBlock(count: filters, lanes: V.scalarCount) { k in
          winogradOutputGradientTile(
            { (i: Int, j: Int) -> V in
              let offset: Int = (i &* gradientPadded.width &+ j) &* filters &+ k
              return loadRegister(V.self, gradientCorner + offset)
            },
            { (point: Int, v: V) in
              let offset: Int = point &* gradientStride &+ t &* filters &+ k
              storeRegister(v, gradients + offset)
            })
        }
      }
    }
    // `∂M[ξ][t, k]` lies at `t·K + k`: B is read where it lies.
    let tables = PackingScratch.forCurrentThread.tableBuffer(count: tiles + filters)
    for t in 0..<tiles { tables[t] = t * filters }
    for k in 0..<filters { tables[tiles + k] = k }
    for point in 0..<16 {
      let gradientColumns = IndexedMatrix(
        base: UnsafePointer(gradients + point * gradientStride), rowOffsets: tables,
        columnOffsets: tables + tiles)
      multiplyPanels(
        V.self, m: channels, n: filters, k: tiles,
        a: .matrix(Operand(transformed + point * tileStride, channels, true)),
        b: .indexed(gradientColumns), c: sums + point * winogradPointStride(channels * filters),
        ldc: filters, accumulate: true)
    }
  }

  /// `filterGradient[k, i, j, c] += (Gᵀ ∂U G)[i, j]` for the sums
  /// `∂U[ξ][c, k]` (`[16, C·K]`, rows ``winogradPointStride(_:)`` apart)
  /// of every channel and filter, as one
  /// product `Tᵀ · ∂U` (`[9, C·K]`, exact products as in
  /// ``transformFilters(_:_:count:flipped:into:)``).
  @inlinable
  static func addFilterGradient<V: SIMD>(
    _: V.Type, _ sums: UnsafePointer<V.Scalar>, _ w: WinogradGeometry,
    into filterGradient: UnsafeMutablePointer<V.Scalar>
  ) where V.Scalar: BinaryFloatingPoint & SIMDScalar {
    let (channels, filters) = (w.channels, w.filters)
    let count = filters * channels
    let taps = PackingScratch.forCurrentThread.columnBuffer(V.Scalar.self, count: 9 * count)
    withUnsafeTemporaryAllocation(of: V.Scalar.self, capacity: 16 * 9) { matrix in
      winogradFilterMatrix(matrix.baseAddress!, flipped: false)
      multiplyPanels(
        V.self, m: 9, n: count, k: 16, a: .matrix(Operand(matrix.baseAddress!, 9, true)),
        b: .matrix(Operand(sums, winogradPointStride(count), false)), c: taps, ldc: count,
        accumulate: false)
    }
    for k in 0..<filters {
      for tap in 0..<9 {
        let (source, target) = (taps + tap * count + k, filterGradient + (k * 9 + tap) * channels)
        for c in 0..<channels { target[c] += source[c * filters] }
      }
    }
  }
}

/// Writes `T = G ⊗ G` (`[16, 9]`): `T[4a + b, 3i + j] = G[a, i]·G[b, j]`,
/// so that `(G g Gᵀ)[ξ] = Σ T[ξ, t]·g[t]` over the taps `t` of `g`; with
/// `flipped`, the taps in reverse order.
@inlinable
func winogradFilterMatrix<S: BinaryFloatingPoint>(_ matrix: UnsafeMutablePointer<S>, flipped: Bool)
{
  // `G` row by row.
  let g: [S] = [1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1]
  for a in 0..<4 {
    for b in 0..<4 {
      for i in 0..<3 {
        for j in 0..<3 {
          let tap = flipped ? 8 - (3 * i + j) : 3 * i + j
          matrix[(4 * a + b) * 9 + tap] = g[3 * a + i] * g[3 * b + j]
        }
      }
    }
  }
}

extension ConvolutionGeometry {
  /// Whether the kernels run this convolution and both its gradients
  /// through Winograd's F(2×2, 3×3) transforms: a 3 × 3 window with
  /// stride and dilation 1, padding 0 to 2, at least 16 channels and 16
  /// filters, and rows of at least 8 inputs and 8 outputs.
  @inlinable public var usesWinograd: Bool { WinogradGeometry(self) != nil }
}
