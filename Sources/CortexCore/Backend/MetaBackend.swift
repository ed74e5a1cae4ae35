import CortexKernels
import Foundation

/// The backend of ``Device/meta``: it allocates nothing and runs no
/// kernel, and every primitive returns a shape-only tensor of the shape
/// the CPU backend's would have. With ``traceShape(_:_:)`` it validates a
/// model's shapes by running the model itself.
final class MetaBackend: Backend {
  /// The one meta backend.
  static let shared = MetaBackend()

  var name: String { Device.meta.backend }

  /// A tensor of `shape` that holds no scalars.
  private func meta<S>(_ shape: [Int]) -> Tensor<S> {
    Tensor(
      shape: shape, storage: TensorStorage(uninitializedCount: shape.reduce(1, *), device: .meta))
  }

  /// Winners that are never read: a gate over a meta tensor is never
  /// differentiated.
  private func winners(_ count: Int) -> MaxGateWinners { MaxGateWinners(unreadCount: count) }

  func unary<S: TensorScalar>(_ f: UnaryFunction<S>, _ x: Tensor<S>) -> Tensor<S> { meta(x.shape) }

  func binary<S: TensorScalar>(
    _ f: BinaryFunction<S>, _ a: Tensor<S>, _ b: Tensor<S>, shape: [Int]
  ) -> Tensor<S> { meta(shape) }

  func select<S: TensorScalar>(_ condition: Tensor<S>, _ a: Tensor<S>, _ b: Tensor<S>)
    -> Tensor<S>
  { meta(a.shape) }

  func matmul<S: TensorScalar>(
    _ a: Tensor<S>, transposeA: Bool, _ b: Tensor<S>, transposeB: Bool
  ) -> Tensor<S> {
    let m = a.shape[a.rank - (transposeA ? 1 : 2)]
    let n = b.shape[b.rank - (transposeB ? 2 : 1)]
    return meta(a.rank == 3 ? [a.shape[0], m, n] : [m, n])
  }

  func sum<S: TensorScalar>(_ x: Tensor<S>, alongAxes axes: [Int]) -> Tensor<S> {
    meta(x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element })
  }

  func extremum<S: TensorScalar>(_ x: Tensor<S>, groups: Int, size: Int, largest: Bool) -> (
    Tensor<S>, MaxGateWinners
  ) { (meta([groups]), winners(groups)) }

  /// The first position of each row: a shape-only tensor has no values to
  /// compare.
  func extremumPositions<S: TensorScalar>(_ x: Tensor<S>, groups: Int, size: Int, largest: Bool)
    -> [Int]
  { [Int](repeating: 0, count: groups) }

  /// The first `k` positions of each line, in order: a shape-only tensor
  /// has no values to sort.
  func topKPositions<S: TensorScalar>(_ x: Tensor<S>, k: Int, along axis: Int, largest: Bool)
    -> IndexTensor
  {
    let (outer, _, inner) = extents(x.shape, at: axis)
    var shape = x.shape
    shape[axis] = k
    let positions = (0..<outer * k * inner).map { $0 / inner % k }
    return IndexTensor(shape: shape, scalars: positions)
  }

  /// A shape-only tensor holds no values to find.
  func firstNonFinite<S: TensorScalar>(_ x: Tensor<S>) -> (index: Int, value: S)? { nil }

  func scatter<S: TensorScalar>(
    _ upstream: Tensor<S>, toWinners winners: MaxGateWinners, route: MaxGateRoute,
    inputShape: [Int]
  ) -> Tensor<S> { meta(inputShape) }

  func gather<S: TensorScalar>(_ x: Tensor<S>, atWinners winners: MaxGateWinners, shape: [Int])
    -> Tensor<S>
  { meta(shape) }

  func convolution<S: TensorScalar>(
    _ input: Tensor<S>, filters: Tensor<S>, bias: Tensor<S>?, _ g: ConvolutionGeometry
  ) -> Tensor<S> { meta([g.batch, g.filters, g.plane.output.height, g.plane.output.width]) }

  func convolutionGradients<S: TensorScalar>(
    _ upstream: Tensor<S>, input: Tensor<S>, filters: Tensor<S>, needs: [Bool],
    _ g: ConvolutionGeometry
  ) -> [Tensor<S>?] {
    zip([input.shape, filters.shape, [g.filters]], needs).map { $1 ? meta($0) : nil }
  }

  func patches<S: TensorScalar>(_ input: Tensor<S>, _ g: ConvolutionGeometry) -> Tensor<S> {
    meta([g.batch, g.patchSize, g.plane.outputCount])
  }

  func foldedPatches<S: TensorScalar>(_ columns: Tensor<S>, _ g: ConvolutionGeometry) -> Tensor<S> {
    meta([g.batch, g.channels, g.plane.input.height, g.plane.input.width])
  }

  func maxPool<S: TensorScalar>(_ x: Tensor<S>, planes: Int, _ g: WindowGeometry) -> (
    Tensor<S>, MaxGateWinners, MaxGateRoute
  ) {
    let shape = [x.shape[0], x.shape[1], g.output.height, g.output.width]
    return (meta(shape), winners(shape.reduce(1, *)), .general)
  }

  func averagePool<S: TensorScalar>(_ x: Tensor<S>, planes: Int, _ g: WindowGeometry) -> Tensor<S> {
    meta([x.shape[0], x.shape[1], g.output.height, g.output.width])
  }

  func averagePoolGradient<S: TensorScalar>(
    _ upstream: Tensor<S>, inputShape: [Int], planes: Int, _ g: WindowGeometry
  ) -> Tensor<S> { meta(inputShape) }

  func maxout<S: TensorScalar>(_ z: Tensor<S>, pieces: Int, shape: [Int]) -> (
    Tensor<S>, MaxGateWinners
  ) { (meta(shape), winners(shape.reduce(1, *))) }

  func permute<S: TensorScalar>(_ x: Tensor<S>, _ permutation: [Int]) -> Tensor<S> {
    meta(permutation.map { x.shape[$0] })
  }

  func broadcast<S: TensorScalar>(_ x: Tensor<S>, to shape: [Int]) -> Tensor<S> { meta(shape) }

  func assemble<S: TensorScalar>(_ shape: [Int], zeroFilled: Bool, blocks: [BlockCopy<S>])
    -> Tensor<S>
  { meta(shape) }

  func gather<S: TensorScalar>(_ x: Tensor<S>, along axis: Int, indices: IndexTensor) -> Tensor<S> {
    meta(indices.shape)
  }

  func scatterAdd<S: TensorScalar>(
    _ x: Tensor<S>, along axis: Int, indices: IndexTensor, into shape: [Int]
  ) -> Tensor<S> { meta(shape) }

  func selectSlices<S: TensorScalar>(_ x: Tensor<S>, _ indices: [Int], along axis: Int)
    -> Tensor<S>
  {
    var shape = x.shape
    shape[axis] = indices.count
    return meta(shape)
  }

  func writeSlices<S: TensorScalar>(
    _ slices: Tensor<S>, into base: Tensor<S>, at indices: [Int], along axis: Int,
    accumulate: Bool
  ) -> Tensor<S> { meta(base.shape) }

  func cumulativeSum<S: TensorScalar>(_ x: Tensor<S>, along axis: Int, reverse: Bool) -> Tensor<S> {
    meta(x.shape)
  }

  func layerNormRows<S: TensorScalar>(
    _ x: Tensor<S>, weight: Tensor<S>, bias: Tensor<S>, epsilon: S
  ) -> (output: Tensor<S>, normalized: Tensor<S>, inverseDeviation: Tensor<S>) {
    (meta(x.shape), meta(x.shape), meta(Array(x.shape.dropLast(weight.rank))))
  }

  func layerNormRowsGradient<S: TensorScalar>(
    _ upstream: Tensor<S>, normalized: Tensor<S>, inverseDeviation: Tensor<S>, weight: Tensor<S>
  ) -> Tensor<S> { meta(upstream.shape) }

  func softmaxLastAxis<S: TensorScalar>(_ x: Tensor<S>, logarithm: Bool) -> Tensor<S> {
    meta(x.shape)
  }

  func softmaxLastAxisGradient<S: TensorScalar>(
    _ y: Tensor<S>, upstream: Tensor<S>, logarithm: Bool
  ) -> Tensor<S> { meta(y.shape) }

  func softmaxCrossEntropy<S: TensorScalar>(_ logits: Tensor<S>, labels: [Int]) -> (
    loss: S, probabilities: Tensor<S>
  )? { (0, meta(logits.shape)) }

  func softmaxCrossEntropyGradient<S: TensorScalar>(
    _ probabilities: Tensor<S>, labels: [Int], scale: S
  ) -> Tensor<S>? { meta(probabilities.shape) }

  func channelMoments<S: TensorScalar>(_ x: Tensor<S>) -> (mean: [S], variance: [S])? {
    let zeros = [S](repeating: 0, count: x.shape[1])
    return (zeros, zeros)
  }

  func normalizeChannels<S: TensorScalar>(
    _ x: Tensor<S>, center: [S], factor: [S], shift: [S]
  ) -> Tensor<S>? { meta(x.shape) }

  func channelGradientSums<S: TensorScalar>(
    _ g: Tensor<S>, _ x: Tensor<S>, center: [S], inverseDeviation: [S]
  ) -> (sum: [S], sumNormalized: [S])? {
    let zeros = [S](repeating: 0, count: x.shape[1])
    return (zeros, zeros)
  }

  func batchNormInputGradient<S: TensorScalar>(
    _ g: Tensor<S>, _ x: Tensor<S>, center: [S], inverseDeviation: [S], factor: [S],
    meanG: [S], meanGNormalized: [S]
  ) -> Tensor<S>? { meta(x.shape) }

  /// A shape-only parameter has no scalars to update.
  func apply<S: TensorScalar>(
    _ update: ParameterUpdate<S>, to parameter: inout Tensor<S>, gradient: Tensor<S>,
    state: inout [Tensor<S>]
  ) {}
}

/// A shape-only run of `body` on an input of `shape`: the shape of its
/// result, or the message of the first shape check that failed in it.
///
/// The input and every result of an operation on it are on
/// ``Device/meta``: no scalar is allocated or computed (the parameters and
/// constants the body combines them with are read only for their shapes).
/// The run takes a thread of its own, which a failed check ends (see
/// ``ShapeTrace``).
package func traceShape<Scalar: TensorScalar>(
  _ shape: [Int], _ body: @escaping (Tensor<Scalar>) -> Tensor<Scalar>
) -> Result<[Int], ShapeError> {
  guard shape.allSatisfy({ $0 >= 0 }) else {
    return .failure(ShapeError("negative dimension in input shape \(shape)"))
  }
  let run = TracedRun(body)
  let trace = ShapeTrace()
  let thread = Thread {
    ShapeTrace.$current.withValue(trace) {
      let input = Tensor<Scalar>(
        shape: shape,
        storage: TensorStorage(uninitializedCount: shape.reduce(1, *), device: .meta))
      run.output = run.body(input).shape
    }
    trace.ended.signal()
  }
  thread.stackSize = 16 << 20
  thread.start()
  trace.ended.wait()
  if let message = trace.failure.withLock({ $0 }) { return .failure(ShapeError(message)) }
  return .success(run.output)
}

/// The body of a shape-only run and the shape it produced, handed to the
/// thread that runs it.
private final class TracedRun<Scalar: TensorScalar>: @unchecked Sendable {
  let body: (Tensor<Scalar>) -> Tensor<Scalar>
  var output: [Int] = []

  init(_ body: @escaping (Tensor<Scalar>) -> Tensor<Scalar>) { self.body = body }
}
