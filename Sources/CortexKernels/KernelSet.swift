/// The kernels of one instruction set.
///
/// The kernel source is written once, as generic `@inlinable` code in
/// extensions of this protocol. A small module per instruction set
/// declares a conforming type that names its register types, and is
/// compiled with that set's target CPU: the compiler specializes the
/// source there, for that set's registers and both scalar types, and the
/// specializations carry the conforming type in their names, so the linker
/// never confuses one set's code with another's.
///
/// Every set sums in the same order: a GEMM entry is one running sum over
/// the depth, cut into the same blocks on every set (register width decides
/// only which entries are computed side by side), and the vector reductions
/// use a fixed eight lanes whatever the register width. Sets that fuse
/// multiply-adds therefore give identical bits.
public protocol KernelSet {
  /// A register of single-precision lanes.
  associatedtype FloatVector: SIMD where FloatVector.Scalar == Float
  /// A register of double-precision lanes.
  associatedtype DoubleVector: SIMD where DoubleVector.Scalar == Double

  /// The set these kernels are compiled for.
  static var instructionSet: InstructionSet { get }

  /// `C = op(A) · op(B)` (or `C += …`) in single precision.
  static func gemm(_ product: GEMMProduct<Float>)
  /// `C = op(A) · op(B)` (or `C += …`) in double precision.
  static func gemm(_ product: GEMMProduct<Double>)
  /// `out[i] = f(x[i])` for `count` elements, in single precision.
  static func apply(
    _ f: UnaryFunction<Float>, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
    count: Int)
  /// `out[i] = f(x[i])` for `count` elements, in double precision.
  static func apply(
    _ f: UnaryFunction<Double>, _ x: UnsafePointer<Double>, _ out: UnsafeMutablePointer<Double>,
    count: Int)
  /// `out = f(a, b)` elementwise, with NumPy broadcasting: `a` of `shapeA`,
  /// `b` of `shapeB`, `out` of their broadcast shape `result`.
  static func apply(
    _ f: BinaryFunction<Float>, _ a: UnsafePointer<Float>, shapeA: [Int],
    _ b: UnsafePointer<Float>, shapeB: [Int], _ out: UnsafeMutablePointer<Float>, result: [Int])
  /// `out = f(a, b)` elementwise in double precision, as for `Float`.
  static func apply(
    _ f: BinaryFunction<Double>, _ a: UnsafePointer<Double>, shapeA: [Int],
    _ b: UnsafePointer<Double>, shapeB: [Int], _ out: UnsafeMutablePointer<Double>,
    result: [Int])
  /// Runs one of the kernels of ``KernelCall`` in single precision.
  static func run(_ call: KernelCall<Float>)
  /// Runs one of the kernels of ``KernelCall`` in double precision.
  static func run(_ call: KernelCall<Double>)
  /// `out[i] = tanh(x[i])` for `count` elements, in single precision.
  static func tanh(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int)
  /// Runs `iterations` steps of a loop of independent multiply-adds on
  /// registers alone; each step is `fmaPeakFlopsPerStep` flops. The result
  /// only keeps the loop from being optimized away.
  static func fmaPeakLoop(iterations: Int) -> Float
}

extension KernelSet {
  /// Whether multiply-adds are fused (one rounding) on this set.
  @inlinable static var fusesMultiplyAdd: Bool { instructionSet.fusesMultiplyAdd }

  /// Single-precision flops of one step of ``fmaPeakLoop(iterations:)``.
  public static var fmaPeakFlopsPerStep: Int { 2 * 12 * FloatVector.scalarCount }

  @inlinable public static func gemm(_ product: GEMMProduct<Float>) {
    multiply(product, FloatVector.self)
  }

  @inlinable public static func gemm(_ product: GEMMProduct<Double>) {
    multiply(product, DoubleVector.self)
  }

  @inlinable public static func apply(
    _ f: UnaryFunction<Float>, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
    count: Int
  ) {
    unary(f, x, out, count: count)
  }

  @inlinable public static func apply(
    _ f: UnaryFunction<Double>, _ x: UnsafePointer<Double>, _ out: UnsafeMutablePointer<Double>,
    count: Int
  ) {
    unary(f, x, out, count: count)
  }

  @inlinable public static func apply(
    _ f: BinaryFunction<Float>, _ a: UnsafePointer<Float>, shapeA: [Int],
    _ b: UnsafePointer<Float>, shapeB: [Int], _ out: UnsafeMutablePointer<Float>, result: [Int]
  ) {
    binary(f, a, shapeA: shapeA, b, shapeB: shapeB, out, result: result)
  }

  @inlinable public static func apply(
    _ f: BinaryFunction<Double>, _ a: UnsafePointer<Double>, shapeA: [Int],
    _ b: UnsafePointer<Double>, shapeB: [Int], _ out: UnsafeMutablePointer<Double>,
    result: [Int]
  ) {
    binary(f, a, shapeA: shapeA, b, shapeB: shapeB, out, result: result)
  }

  @inlinable public static func run(_ call: KernelCall<Float>) {
    perform(call, FloatVector.self)
  }

  @inlinable public static func run(_ call: KernelCall<Double>) {
    perform(call, DoubleVector.self)
  }

  @inlinable public static func tanh(
    _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int
  ) {
    tanhFloat(x, out, count: count)
  }

  @inlinable public static func fmaPeakLoop(iterations: Int) -> Float {
    fmaPeak(FloatVector.self, iterations: iterations)
  }

  /// Runs `call` with `V` as the register type.
  @inlinable
  static func perform<V: SIMD>(_ call: KernelCall<V.Scalar>, _: V.Type)
  where V.Scalar: KernelScalar & SIMDScalar {
    switch call {
    case .im2col(let image, let channels, let g, let columns, let rowStride):
      im2col(V.self, image, channels: channels, g, columns, rowStride: rowStride)
    case .convolution(let input, let filters, let bias, let output, let g, let images):
      convolution(
        V.self, input: input, filters: filters, bias: bias, output: output, g, images: images)
    case .convolutionInputGradient(let upstream, let filters, let inputGradient, let g, let images):
      convolutionInputGradient(
        V.self, upstream: upstream, filters: filters, inputGradient: inputGradient, g,
        images: images)
    case .convolutionFilterGradient(let upstream, let input, let filterGradient, let g, let images):
      convolutionFilterGradient(
        V.self, upstream: upstream, input: input, filterGradient: filterGradient, g,
        images: images)
    case .col2im(let columns, let channels, let g, let image):
      col2im(V.self, columns, channels: channels, g, image)
    case .maxPool(let input, let output, let winners, let planes, let g):
      maxPool(input, output: output, winners: winners, planes: planes, g)
    case .maxPool2x2(let input, let output, let winners, let planes, let g):
      maxPool2x2(input, output: output, winners: winners, planes: planes, g)
    case .routeToWinners2x2(let upstream, let winners, let gradient, let planes, let g):
      routeToWinners2x2(upstream, winners: winners, gradient: gradient, planes: planes, g)
    case .averagePool(let input, let output, let planes, let g):
      averagePool(input, output: output, planes: planes, g)
    case .averagePoolGradient(let upstream, let inputGradient, let planes, let g):
      averagePoolGradient(upstream, inputGradient: inputGradient, planes: planes, g)
    case .maxout(let input, let output, let winners, let outer, let units, let pieces, let inner):
      maxout(
        input, output: output, winners: winners, outer: outer, units: units, pieces: pieces,
        inner: inner)
    case .routeToWinners(let upstream, let winners, let gradient, let inputCount):
      routeToWinners(upstream, winners: winners, gradient: gradient, inputCount: inputCount)
    case .sumAlongAxis(let x, let outer, let axis, let inner, let out):
      sum(V.self, x, outer: outer, axis: axis, inner: inner, out)
    case .batchConvolution(let input, let filters, let bias, let output, let g):
      convolution(V.self, input: input, filters: filters, bias: bias, output: output, g)
    case .batchConvolutionGradients(
      let upstream, let input, let filters, let inputGradient, let filterGradient,
      let biasGradient, let g):
      convolutionGradients(
        V.self, upstream: upstream, input: input, filters: filters, inputGradient: inputGradient,
        filterGradient: filterGradient, biasGradient: biasGradient, g)
    case .permute(let source, let shape, let permutation, let out):
      permute(source, shape: shape, permutation: permutation, out)
    case .copyBlock(
      let region, let source, let sourceShape, let sourceOrigin, let destination,
      let destinationShape, let destinationOrigin):
      copyBlock(
        region: region, from: source, sourceShape: sourceShape, sourceOrigin: sourceOrigin,
        to: destination, destinationShape: destinationShape, destinationOrigin: destinationOrigin)
    case .broadcast(let x, let shape, let out, let result):
      broadcast(x, shape: shape, out, result: result)
    case .select(let condition, let a, let b, let out, let count):
      select(condition, a, b, out, count: count)
    case .extremum(let x, let groups, let size, let largest, let out, let winners):
      extremum(x, groups: groups, size: size, largest: largest, out, winners: winners)
    case .topKPositions(let x, let outer, let size, let inner, let k, let largest, let positions):
      topKPositions(
        x, outer: outer, size: size, inner: inner, k: k, largest: largest, positions)
    case .firstNonFinite(let x, let count, let index):
      index.pointee = firstNonFinite(x, count: count)
    case .gather(let x, let size, let inner, let indices, let picks, let out):
      gather(x, size: size, inner: inner, indices: indices, picks: picks, out)
    case .scatterAdd(let x, let size, let inner, let indices, let picks, let out):
      scatterAdd(x, size: size, inner: inner, indices: indices, picks: picks, into: out)
    case .selectSlices(let x, let outer, let size, let inner, let indices, let out):
      selectSlices(x, outer: outer, size: size, inner: inner, indices: indices, out)
    case .writeSlices(
      let slices, let base, let outer, let size, let inner, let indices, let accumulate):
      writeSlices(
        slices, into: base, outer: outer, size: size, inner: inner, indices: indices,
        accumulate: accumulate)
    case .cumulativeSum(let x, let outer, let size, let inner, let reverse, let out):
      cumulativeSum(x, outer: outer, size: size, inner: inner, reverse: reverse, out)
    case .gatherAtWinners(let x, let winners, let count, let out):
      gather(x, atWinners: winners, count: count, out)
    case .channelMoments(let x, let shape, let mean, let variance):
      channelMoments(x, shape: shape, mean: mean, variance: variance)
    case .normalizeChannels(let x, let shape, let center, let factor, let shift, let out):
      normalizeChannels(x, shape: shape, center: center, factor: factor, shift: shift, out)
    case .channelGradientSums(
      let upstream, let x, let shape, let center, let inverseDeviation, let sum,
      let sumNormalized):
      channelGradientSums(
        upstream, x, shape: shape, center: center, inverseDeviation: inverseDeviation, sum: sum,
        sumNormalized: sumNormalized)
    case .batchNormInputGradient(
      let upstream, let x, let shape, let center, let inverseDeviation, let factor, let meanG,
      let meanGNormalized, let out):
      batchNormInputGradient(
        upstream, x, shape: shape, center: center, inverseDeviation: inverseDeviation,
        factor: factor, meanG: meanG, meanGNormalized: meanGNormalized, out)
    case .softmaxCrossEntropy(let logits, let labels, let classes, let probabilities, let loss):
      softmaxCrossEntropy(
        logits, labels: labels, classes: classes, probabilities: probabilities, loss: loss)
    case .softmaxCrossEntropyGradient(
      let probabilities, let labels, let classes, let scale, let gradient):
      softmaxCrossEntropyGradient(
        probabilities, labels: labels, classes: classes, scale: scale, gradient)
    case .update(let rule, let parameter, let gradient, let state, let count):
      update(rule, parameter: parameter, gradient: gradient, state: state, count: count)
    case .softmaxRows(let x, let out, let rows, let length, let logarithm):
      softmaxRows(x, out, rows: rows, length: length, logarithm: logarithm)
    case .softmaxRowsGradient(let y, let upstream, let out, let rows, let length, let logarithm):
      softmaxRowsGradient(y, upstream, out, rows: rows, length: length, logarithm: logarithm)
    case .layerNormRows(
      let x, let weight, let bias, let out, let normalized, let inverseDeviation, let rows,
      let length, let epsilon):
      layerNormRows(
        x, weight: weight, bias: bias, out, normalized: normalized,
        inverseDeviation: inverseDeviation, rows: rows, length: length, epsilon: epsilon)
    case .layerNormRowsGradient(
      let upstream, let normalized, let inverseDeviation, let weight, let out, let weightGradient,
      let biasGradient, let rows, let length):
      layerNormRowsGradient(
        upstream, normalized: normalized, inverseDeviation: inverseDeviation, weight: weight, out,
        weightGradient: weightGradient, biasGradient: biasGradient, rows: rows, length: length)
    case .attention(
      let query, let key, let value, let output, let weights, let shape, let scale,
      let causal):
      attention(
        query: query, key: key, value: value, output: output, weights: weights, shape,
        scale: scale, causal: causal)
    case .attentionGradients(
      let upstream, let query, let key, let value, let weights, let queryGradient,
      let keyGradient, let valueGradient, let shape, let scale, let causal):
      attentionGradients(
        upstream: upstream, query: query, key: key, value: value, weights: weights,
        queryGradient: queryGradient, keyGradient: keyGradient, valueGradient: valueGradient,
        shape, scale: scale, causal: causal)
    }
  }

  /// `acc += x · y` lane by lane, fused on sets that fuse.
  @inlinable @inline(__always)
  static func multiplyAdd<V: SIMD>(_ acc: inout V, _ x: V, _ y: V)
  where V.Scalar: FloatingPoint {
    if fusesMultiplyAdd {
      acc.addProduct(x, y)
    } else {
      acc += x * y
    }
  }

  /// Twelve independent chains of multiply-adds, as many as the GEMM tile
  /// keeps, with nothing but registers involved.
  @inlinable
  static func fmaPeak<V: SIMD>(_: V.Type, iterations: Int) -> Float where V.Scalar == Float {
    let x = V(repeating: 0.999_999)
    let y = V(repeating: 1e-7)
    var (c0, c1, c2, c3) = (V(repeating: 1), V(repeating: 2), V(repeating: 3), V(repeating: 4))
    var (c4, c5, c6, c7) = (V(repeating: 5), V(repeating: 6), V(repeating: 7), V(repeating: 8))
    var (c8, c9, c10, c11) = (V(repeating: 9), V(repeating: 10), V(repeating: 11), V(repeating: 12))
    for _ in 0..<iterations {
      multiplyAdd(&c0, x, y)
      multiplyAdd(&c1, x, y)
      multiplyAdd(&c2, x, y)
      multiplyAdd(&c3, x, y)
      multiplyAdd(&c4, x, y)
      multiplyAdd(&c5, x, y)
      multiplyAdd(&c6, x, y)
      multiplyAdd(&c7, x, y)
      multiplyAdd(&c8, x, y)
      multiplyAdd(&c9, x, y)
      multiplyAdd(&c10, x, y)
      multiplyAdd(&c11, x, y)
    }
    let sum = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11))
    return sum.sum()
  }
}

/// One call of a kernel other than the GEMM and the elementwise functions,
/// with its buffers. Shapes are NCHW; every output buffer is overwritten
/// unless the case says the kernel adds onto it.
public enum KernelCall<Scalar> {
  /// The `[C·Fh·Fw, H2·W2]` column matrix of one `[C, H, W]` image, its
  /// rows `rowStride` scalars apart.
  case im2col(
    image: UnsafePointer<Scalar>, channels: Int, geometry: WindowGeometry,
    columns: UnsafeMutablePointer<Scalar>, rowStride: Int)
  /// The convolution of the images `images` of a batch `[N, C, H, W]`
  /// with `filters` `[K, C, Fh, Fw]`, plus `bias` `[K]` when given:
  /// `output` `[N, K, H2, W2]`, those images overwritten.
  case convolution(
    input: UnsafePointer<Scalar>, filters: UnsafePointer<Scalar>, bias: UnsafePointer<Scalar>?,
    output: UnsafeMutablePointer<Scalar>, geometry: ConvolutionGeometry, images: Range<Int>)
  /// The input gradient of that convolution for the images `images`, from
  /// the output's gradient `upstream` `[N, K, H2, W2]`: `inputGradient`
  /// `[N, C, H, W]`, those images overwritten.
  case convolutionInputGradient(
    upstream: UnsafePointer<Scalar>, filters: UnsafePointer<Scalar>,
    inputGradient: UnsafeMutablePointer<Scalar>, geometry: ConvolutionGeometry,
    images: Range<Int>)
  /// The filter gradient of the images `images`, added onto
  /// `filterGradient` `[K, Fh, Fw, C]` (each filter's taps channels-last).
  case convolutionFilterGradient(
    upstream: UnsafePointer<Scalar>, input: UnsafePointer<Scalar>,
    filterGradient: UnsafeMutablePointer<Scalar>, geometry: ConvolutionGeometry,
    images: Range<Int>)
  /// The adjoint of im2col: every column of `columns` added onto the
  /// positions of `image` (`[C, H, W]`) it was read from.
  case col2im(
    columns: UnsafePointer<Scalar>, channels: Int, geometry: WindowGeometry,
    image: UnsafeMutablePointer<Scalar>)
  /// Max pooling of `planes` planes, with the flat index of each window's
  /// first maximum in `winners`.
  case maxPool(
    input: UnsafePointer<Scalar>, output: UnsafeMutablePointer<Scalar>,
    winners: UnsafeMutablePointer<Int32>, planes: Int, geometry: WindowGeometry)
  /// ``maxPool(input:output:winners:planes:geometry:)`` for windows that
  /// tile the input 2×2 (``WindowGeometry/tiles2x2``), eight outputs at a
  /// time in single precision.
  case maxPool2x2(
    input: UnsafePointer<Scalar>, output: UnsafeMutablePointer<Scalar>,
    winners: UnsafeMutablePointer<Int32>, planes: Int, geometry: WindowGeometry)
  /// The max gate's routing for windows that tile the input 2×2
  /// (``WindowGeometry/tiles2x2``): `gradient` (`planes` input planes)
  /// holds each window's upstream gradient at its winner, 0 elsewhere.
  case routeToWinners2x2(
    upstream: UnsafePointer<Scalar>, winners: UnsafePointer<Int32>,
    gradient: UnsafeMutablePointer<Scalar>, planes: Int, geometry: WindowGeometry)
  /// Average pooling of `planes` planes over the full window `Fh·Fw`
  /// (padding counts as zeros).
  case averagePool(
    input: UnsafePointer<Scalar>, output: UnsafeMutablePointer<Scalar>, planes: Int,
    geometry: WindowGeometry)
  /// The gradient of average pooling with respect to its input.
  case averagePoolGradient(
    upstream: UnsafePointer<Scalar>, inputGradient: UnsafeMutablePointer<Scalar>, planes: Int,
    geometry: WindowGeometry)
  /// Maxout over groups of `pieces` consecutive features of a buffer
  /// viewed as `[outer, units·pieces, inner]`, with the flat index of each
  /// group's first maximum in `winners`.
  case maxout(
    input: UnsafePointer<Scalar>, output: UnsafeMutablePointer<Scalar>,
    winners: UnsafeMutablePointer<Int32>, outer: Int, units: Int, pieces: Int, inner: Int)
  /// `gradient[winners[i]] += upstream[i]` over a zeroed `gradient` of
  /// `inputCount` scalars.
  case routeToWinners(
    upstream: UnsafePointer<Scalar>, winners: UnsafeBufferPointer<Int32>,
    gradient: UnsafeMutablePointer<Scalar>, inputCount: Int)
  /// `out[o, i] = Σₖ x[o, k, i]` for `x` viewed as `[outer, axis, inner]`.
  case sumAlongAxis(
    x: UnsafePointer<Scalar>, outer: Int, axis: Int, inner: Int,
    out: UnsafeMutablePointer<Scalar>)
  /// The convolution of the whole batch, its images in chunks across the
  /// worker pool; see ``convolution(input:filters:bias:output:geometry:images:)``.
  case batchConvolution(
    input: UnsafePointer<Scalar>, filters: UnsafePointer<Scalar>, bias: UnsafePointer<Scalar>?,
    output: UnsafeMutablePointer<Scalar>, geometry: ConvolutionGeometry)
  /// The input, filter (`[K, C, Fh, Fw]`) and bias gradients of the whole
  /// batch's convolution from the output's gradient `upstream`, each
  /// computed only when its buffer is given, and overwritten. The sums
  /// over the batch do not depend on the number of threads.
  case batchConvolutionGradients(
    upstream: UnsafePointer<Scalar>, input: UnsafePointer<Scalar>,
    filters: UnsafePointer<Scalar>, inputGradient: UnsafeMutablePointer<Scalar>?,
    filterGradient: UnsafeMutablePointer<Scalar>?, biasGradient: UnsafeMutablePointer<Scalar>?,
    geometry: ConvolutionGeometry)
  /// `source` (of `shape`) with its axes permuted: axis `i` of `out` is
  /// axis `permutation[i]` of `source`.
  case permute(
    source: UnsafePointer<Scalar>, shape: [Int], permutation: [Int],
    out: UnsafeMutablePointer<Scalar>)
  /// A block of shape `region` copied from `source` at `sourceOrigin` into
  /// `destination` at `destinationOrigin`.
  case copyBlock(
    region: [Int], source: UnsafePointer<Scalar>, sourceShape: [Int], sourceOrigin: [Int],
    destination: UnsafeMutablePointer<Scalar>, destinationShape: [Int], destinationOrigin: [Int])
  /// `x` (of `shape`) repeated along its broadcast axes to `result`.
  case broadcast(
    x: UnsafePointer<Scalar>, shape: [Int], out: UnsafeMutablePointer<Scalar>, result: [Int])
  /// `a` where `condition` is nonzero, `b` elsewhere, for `count` scalars.
  case select(
    condition: UnsafePointer<Scalar>, a: UnsafePointer<Scalar>, b: UnsafePointer<Scalar>,
    out: UnsafeMutablePointer<Scalar>, count: Int)
  /// The largest (or smallest) scalar of each of `groups` rows of `size`,
  /// with its flat index in `winners` (the first on a tie).
  case extremum(
    x: UnsafePointer<Scalar>, groups: Int, size: Int, largest: Bool,
    out: UnsafeMutablePointer<Scalar>, winners: UnsafeMutablePointer<Int32>)
  /// The positions of the `k` best scalars of each line along the middle
  /// axis of `x` viewed as `[outer, size, inner]`, best first:
  /// `positions` is `[outer, k, inner]`.
  case topKPositions(
    x: UnsafePointer<Scalar>, outer: Int, size: Int, inner: Int, k: Int, largest: Bool,
    positions: UnsafeMutablePointer<Int>)
  /// The flat index of the first of `count` scalars that is not finite,
  /// or `count`, into `index.pointee`.
  case firstNonFinite(x: UnsafePointer<Scalar>, count: Int, index: UnsafeMutablePointer<Int>)
  /// `out[o, j, i] = x[o, indices[o, j, i], i]`, the indices
  /// `[outer, picks, inner]`.
  case gather(
    x: UnsafePointer<Scalar>, size: Int, inner: Int, indices: [Int], picks: Int,
    out: UnsafeMutablePointer<Scalar>)
  /// The transpose of ``gather(x:size:inner:indices:picks:out:)``, added
  /// onto `out`.
  case scatterAdd(
    x: UnsafePointer<Scalar>, size: Int, inner: Int, indices: [Int], picks: Int,
    out: UnsafeMutablePointer<Scalar>)
  /// The slices at `indices` along the middle axis of `x`, in order.
  case selectSlices(
    x: UnsafePointer<Scalar>, outer: Int, size: Int, inner: Int, indices: [Int],
    out: UnsafeMutablePointer<Scalar>)
  /// The slices of `slices` added onto `base` at `indices` along its
  /// middle axis, or written over it when not `accumulate`.
  case writeSlices(
    slices: UnsafePointer<Scalar>, base: UnsafeMutablePointer<Scalar>, outer: Int, size: Int,
    inner: Int, indices: [Int], accumulate: Bool)
  /// Running sums along the middle axis, from its end when `reverse`.
  case cumulativeSum(
    x: UnsafePointer<Scalar>, outer: Int, size: Int, inner: Int, reverse: Bool,
    out: UnsafeMutablePointer<Scalar>)
  /// `x` at each of `count` flat indices, the max gate's winners.
  case gatherAtWinners(
    x: UnsafePointer<Scalar>, winners: UnsafePointer<Int32>, count: Int,
    out: UnsafeMutablePointer<Scalar>)
  /// The mean and biased variance of each channel (axis 1) of `x`, of
  /// `shape` `[N, C, ...]`.
  case channelMoments(
    x: UnsafePointer<Scalar>, shape: [Int], mean: UnsafeMutablePointer<Scalar>,
    variance: UnsafeMutablePointer<Scalar>)
  /// `factor[c] · (x − center[c]) + shift[c]` for each channel `c`.
  case normalizeChannels(
    x: UnsafePointer<Scalar>, shape: [Int], center: [Scalar], factor: [Scalar],
    shift: [Scalar], out: UnsafeMutablePointer<Scalar>)
  /// Per channel: `Σ upstream` and `Σ upstream · (x − center) · inverseDeviation`.
  case channelGradientSums(
    upstream: UnsafePointer<Scalar>, x: UnsafePointer<Scalar>, shape: [Int], center: [Scalar],
    inverseDeviation: [Scalar], sum: UnsafeMutablePointer<Scalar>,
    sumNormalized: UnsafeMutablePointer<Scalar>)
  /// Batch normalization's input gradient in training mode.
  case batchNormInputGradient(
    upstream: UnsafePointer<Scalar>, x: UnsafePointer<Scalar>, shape: [Int], center: [Scalar],
    inverseDeviation: [Scalar], factor: [Scalar], meanG: [Scalar], meanGNormalized: [Scalar],
    out: UnsafeMutablePointer<Scalar>)
  /// The softmax of each row of `logits` and the summed cross-entropy at
  /// `labels`, one label per row, into `loss.pointee`.
  case softmaxCrossEntropy(
    logits: UnsafePointer<Scalar>, labels: [Int], classes: Int,
    probabilities: UnsafeMutablePointer<Scalar>, loss: UnsafeMutablePointer<Scalar>)
  /// `(probabilities − onehot(labels)) · scale`.
  case softmaxCrossEntropyGradient(
    probabilities: UnsafePointer<Scalar>, labels: [Int], classes: Int, scale: Scalar,
    gradient: UnsafeMutablePointer<Scalar>)
  /// One optimizer step of `rule` in place on `count` elements of the
  /// parameter and of each of the rule's state buffers.
  case update(
    _ rule: ParameterUpdate<Scalar>, parameter: UnsafeMutablePointer<Scalar>,
    gradient: UnsafePointer<Scalar>, state: [UnsafeMutablePointer<Scalar>], count: Int)
  /// The softmax (or, when `logarithm`, the log-softmax) of each of `rows`
  /// rows of `length` scalars.
  case softmaxRows(
    x: UnsafePointer<Scalar>, out: UnsafeMutablePointer<Scalar>, rows: Int, length: Int,
    logarithm: Bool)
  /// The gradient through ``softmaxRows(x:out:rows:length:logarithm:)``
  /// from its output `y` and the upstream gradient.
  case softmaxRowsGradient(
    y: UnsafePointer<Scalar>, upstream: UnsafePointer<Scalar>, out: UnsafeMutablePointer<Scalar>,
    rows: Int, length: Int, logarithm: Bool)
  /// Layer normalization of `rows` rows of `length` scalars, keeping the
  /// normalized rows and each row's inverse deviation for the backward pass.
  case layerNormRows(
    x: UnsafePointer<Scalar>, weight: UnsafePointer<Scalar>, bias: UnsafePointer<Scalar>,
    out: UnsafeMutablePointer<Scalar>, normalized: UnsafeMutablePointer<Scalar>,
    inverseDeviation: UnsafeMutablePointer<Scalar>, rows: Int, length: Int, epsilon: Scalar)
  /// The input gradient of layer normalization from the upstream gradient,
  /// and the weight and bias gradients when their buffers are given (both
  /// or neither).
  case layerNormRowsGradient(
    upstream: UnsafePointer<Scalar>, normalized: UnsafePointer<Scalar>,
    inverseDeviation: UnsafePointer<Scalar>, weight: UnsafePointer<Scalar>,
    out: UnsafeMutablePointer<Scalar>, weightGradient: UnsafeMutablePointer<Scalar>?,
    biasGradient: UnsafeMutablePointer<Scalar>?, rows: Int, length: Int)
  /// Scaled dot-product attention of each group, with or without the
  /// causal mask, keeping the weights for the backward pass.
  case attention(
    query: UnsafePointer<Scalar>, key: UnsafePointer<Scalar>, value: UnsafePointer<Scalar>,
    output: UnsafeMutablePointer<Scalar>, weights: UnsafeMutablePointer<Scalar>,
    shape: AttentionShape, scale: Scalar, causal: Bool)
  /// The query, key and value gradients of an attention from the upstream
  /// gradient and the kept weights.
  case attentionGradients(
    upstream: UnsafePointer<Scalar>, query: UnsafePointer<Scalar>, key: UnsafePointer<Scalar>,
    value: UnsafePointer<Scalar>, weights: UnsafePointer<Scalar>,
    queryGradient: UnsafeMutablePointer<Scalar>, keyGradient: UnsafeMutablePointer<Scalar>,
    valueGradient: UnsafeMutablePointer<Scalar>, shape: AttentionShape, scale: Scalar,
    causal: Bool)
}
