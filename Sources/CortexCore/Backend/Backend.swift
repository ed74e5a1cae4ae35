import CortexKernels
import Synchronization

/// The seam between the operations and the memory their tensors live in.
///
/// An operation checks shapes, computes output shapes and records its
/// pullback; everything that reads or writes scalars is one call to a
/// primitive of the backend that owns its inputs' device. ``CPUBackend``
/// is the first implementation: it runs the kernels of the current
/// instruction set on host memory. A second backend (a GPU through its
/// driver API) implements the same primitives on its own memory and
/// registers itself under its device's backend name with
/// ``Backends/register(_:)``. The protocol, the types its primitives take
/// and ``Backends/register(_:)`` are `package`, so that a backend can live
/// in a target of its own: `CortexReferenceBackend` is one.
///
/// Every primitive takes and returns whole tensors (never pointers), with
/// shapes and geometry already validated by the operation. Elementwise
/// work is described by values (``UnaryFunction``, ``BinaryFunction``), not
/// closures, so that a backend can compile each case for its device.
package protocol Backend: AnyObject, Sendable {
  /// The name that ``Device/backend`` carries for this backend's devices,
  /// such as `"cpu"`.
  var name: String { get }

  // MARK: Elementwise

  /// `f(x)` elementwise. Returns: the shape of `x`.
  func unary<S: TensorScalar>(_ f: UnaryFunction<S>, _ x: Tensor<S>) -> Tensor<S>

  /// `f(a, b)` elementwise with NumPy broadcasting.
  ///
  /// - Parameter shape: the broadcast shape of `a` and `b`, checked by the
  ///   caller. Returns: `shape`.
  func binary<S: TensorScalar>(
    _ f: BinaryFunction<S>, _ a: Tensor<S>, _ b: Tensor<S>, shape: [Int]
  ) -> Tensor<S>

  /// `a` where `condition` is nonzero, `b` elsewhere; the three of one
  /// shape. Returns: that shape.
  func select<S: TensorScalar>(_ condition: Tensor<S>, _ a: Tensor<S>, _ b: Tensor<S>) -> Tensor<S>

  // MARK: Matrix products

  /// `op(a) · op(b)` for matrices `[m, k]·[k, n]`, or batch by batch for
  /// `[B, m, k]·[B, k, n]`, where `op` transposes the last two axes when
  /// its flag is set. Returns: `[m, n]` or `[B, m, n]`.
  func matmul<S: TensorScalar>(
    _ a: Tensor<S>, transposeA: Bool, _ b: Tensor<S>, transposeB: Bool
  ) -> Tensor<S>

  // MARK: Reductions

  /// Sums along `axes` (sorted, distinct), keeping them with size 1.
  func sum<S: TensorScalar>(_ x: Tensor<S>, alongAxes axes: [Int]) -> Tensor<S>

  /// The largest (or smallest) element of each row of `x`, viewed as
  /// `[groups, size]` with `size > 0`, and its flat index in `x` (the first
  /// on a tie). Returns: `[groups]` and `groups` winners.
  func extremum<S: TensorScalar>(_ x: Tensor<S>, groups: Int, size: Int, largest: Bool) -> (
    Tensor<S>, MaxGateWinners
  )

  /// For each row of `x`, viewed as `[groups, size]` with `size > 0`, the
  /// position in `0..<size` of its largest (or smallest) element, the first
  /// on a tie, read back to the host. Returns: `groups` positions.
  func extremumPositions<S: TensorScalar>(_ x: Tensor<S>, groups: Int, size: Int, largest: Bool)
    -> [Int]

  /// The positions along `axis` of the `k` largest (or smallest) elements
  /// of each line of `x` along it, best first, the earlier position first
  /// on a tie; `k` is at most `x.shape[axis]`. Returns: the shape of `x`
  /// with `k` along `axis`.
  func topKPositions<S: TensorScalar>(_ x: Tensor<S>, k: Int, along axis: Int, largest: Bool)
    -> IndexTensor

  /// The first element of `x` (row-major) that is a NaN or an infinity,
  /// with its flat index, or `nil` when every element is finite.
  func firstNonFinite<S: TensorScalar>(_ x: Tensor<S>) -> (index: Int, value: S)?

  // MARK: The max gate's routing

  /// A tensor of `inputShape`, zero except that each element of
  /// `upstream` is added at its winner (the max gate's backward).
  func scatter<S: TensorScalar>(
    _ upstream: Tensor<S>, toWinners winners: MaxGateWinners, route: MaxGateRoute,
    inputShape: [Int]
  ) -> Tensor<S>

  /// `x` at each winner, in the winners' order. Returns: `shape`.
  func gather<S: TensorScalar>(_ x: Tensor<S>, atWinners winners: MaxGateWinners, shape: [Int])
    -> Tensor<S>

  // MARK: Convolution and pooling

  /// The convolution of `input` `[N, C, H, W]` with `filters`
  /// `[K, C, Fh, Fw]` plus `bias` `[K]`. Returns: `[N, K, H2, W2]`.
  func convolution<S: TensorScalar>(
    _ input: Tensor<S>, filters: Tensor<S>, bias: Tensor<S>?, _ g: ConvolutionGeometry
  ) -> Tensor<S>

  /// The gradients of a convolution for the input, the filters and the
  /// bias, each computed only when its flag in `needs` is set.
  func convolutionGradients<S: TensorScalar>(
    _ upstream: Tensor<S>, input: Tensor<S>, filters: Tensor<S>, needs: [Bool],
    _ g: ConvolutionGeometry
  ) -> [Tensor<S>?]

  /// The patches of each image of `input` `[N, C, H, W]` as columns
  /// (im2col). Returns: `[N, C·Fh·Fw, H2·W2]`.
  func patches<S: TensorScalar>(_ input: Tensor<S>, _ g: ConvolutionGeometry) -> Tensor<S>

  /// The adjoint of ``patches(_:_:)``: each column added back onto the
  /// positions it came from (col2im). Returns: `[N, C, H, W]`.
  func foldedPatches<S: TensorScalar>(_ columns: Tensor<S>, _ g: ConvolutionGeometry) -> Tensor<S>

  /// Max pooling over `planes` planes of `x` `[N, C, H, W]`, with each
  /// output's winner and the route its backward takes.
  func maxPool<S: TensorScalar>(_ x: Tensor<S>, planes: Int, _ g: WindowGeometry) -> (
    Tensor<S>, MaxGateWinners, MaxGateRoute
  )

  /// Average pooling (padding counts as zeros, divisor `Fh·Fw`).
  func averagePool<S: TensorScalar>(_ x: Tensor<S>, planes: Int, _ g: WindowGeometry) -> Tensor<S>

  /// The adjoint of ``averagePool(_:planes:_:)``. Returns: `inputShape`.
  func averagePoolGradient<S: TensorScalar>(
    _ upstream: Tensor<S>, inputShape: [Int], planes: Int, _ g: WindowGeometry
  ) -> Tensor<S>

  /// The largest of each group of `pieces` consecutive features of `z`
  /// (axis 1), with its winner. Returns: `shape`.
  func maxout<S: TensorScalar>(_ z: Tensor<S>, pieces: Int, shape: [Int]) -> (
    Tensor<S>, MaxGateWinners
  )

  // MARK: Copies

  /// A permuted contiguous copy: axis `i` of the result is axis
  /// `permutation[i]` of `x`.
  func permute<S: TensorScalar>(_ x: Tensor<S>, _ permutation: [Int]) -> Tensor<S>

  /// `x` repeated along its broadcast axes to `shape` (NumPy's rules).
  func broadcast<S: TensorScalar>(_ x: Tensor<S>, to shape: [Int]) -> Tensor<S>

  /// A tensor of `shape`, zero (or undefined, when `zeroFilled` is false
  /// and the blocks cover it) except for the rectangular blocks copied in.
  func assemble<S: TensorScalar>(_ shape: [Int], zeroFilled: Bool, blocks: [BlockCopy<S>])
    -> Tensor<S>

  // MARK: Indexing

  /// `out[o, j, i] = x[o, indices[o, j, i], i]` with `x` viewed as
  /// `[outer, size, inner]` around the indexed axis (PyTorch's `gather`).
  func gather<S: TensorScalar>(_ x: Tensor<S>, along axis: Int, indices: IndexTensor) -> Tensor<S>

  /// The transpose of ``gather(_:along:indices:)``: zeros of `shape` with
  /// each element of `x` added at its index (PyTorch's `scatter_add`).
  func scatterAdd<S: TensorScalar>(
    _ x: Tensor<S>, along axis: Int, indices: IndexTensor, into shape: [Int]
  ) -> Tensor<S>

  /// The slices at `indices` along `axis`, in order (PyTorch's
  /// `index_select`).
  func selectSlices<S: TensorScalar>(_ x: Tensor<S>, _ indices: [Int], along axis: Int)
    -> Tensor<S>

  /// `base` with each slice of `slices` along `axis` added at its index
  /// when `accumulate` (PyTorch's `index_add`), or written over it
  /// otherwise (`index_copy`; the indices are then distinct).
  func writeSlices<S: TensorScalar>(
    _ slices: Tensor<S>, into base: Tensor<S>, at indices: [Int], along axis: Int,
    accumulate: Bool
  ) -> Tensor<S>

  /// Running sums along `axis`, from the end when `reverse`.
  func cumulativeSum<S: TensorScalar>(_ x: Tensor<S>, along axis: Int, reverse: Bool) -> Tensor<S>

  // MARK: Softmax and layer normalization

  /// The softmax of `x` along its last axis, or its log-softmax when
  /// `logarithm`, one pass per row.
  func softmaxLastAxis<S: TensorScalar>(_ x: Tensor<S>, logarithm: Bool) -> Tensor<S>

  /// Layer normalization of each row of `x`, a row being the last
  /// `weight.scalarCount` scalars: the output `x̂·γ + β`, the normalized
  /// rows `x̂` and each row's inverse deviation `1/√(σ² + ε)` (one per row,
  /// in the shape of `x` without the rows' axes).
  func layerNormRows<S: TensorScalar>(
    _ x: Tensor<S>, weight: Tensor<S>, bias: Tensor<S>, epsilon: S
  ) -> (output: Tensor<S>, normalized: Tensor<S>, inverseDeviation: Tensor<S>)

  /// The input gradient of ``layerNormRows(_:weight:bias:epsilon:)`` from
  /// the upstream gradient and what its forward pass kept.
  func layerNormRowsGradient<S: TensorScalar>(
    _ upstream: Tensor<S>, normalized: Tensor<S>, inverseDeviation: Tensor<S>, weight: Tensor<S>
  ) -> Tensor<S>

  /// The gradient through ``softmaxLastAxis(_:logarithm:)`` from its output
  /// `y` and the upstream gradient: `y·(g − Σ g·y)` along the last axis, or
  /// `g − e^y·Σ g` for the log-softmax.
  func softmaxLastAxisGradient<S: TensorScalar>(
    _ y: Tensor<S>, upstream: Tensor<S>, logarithm: Bool
  ) -> Tensor<S>

  // MARK: Optional fused primitives

  /// Scaled dot-product attention of `groups` groups, `query`
  /// `[G, Lq, D]`, `key` `[G, Lk, D]` and `value` `[G, Lk, Dv]`: the
  /// weights `softmax(scale · q·kᵀ)` along the keys (with `causal`, key `j`
  /// is visible to query `i` only when `j ≤ i`, and weighs 0 otherwise) and
  /// the output `weights · value`. Returns: `[G, Lq, Dv]` and the weights
  /// `[G, Lq, Lk]`, or `nil` when the backend has no fused kernel for it
  /// (the default): the operation then composes it from other primitives.
  func attention<S: TensorScalar>(
    query: Tensor<S>, key: Tensor<S>, value: Tensor<S>, scale: S, causal: Bool
  ) -> (output: Tensor<S>, weights: Tensor<S>)?

  /// The query, key and value gradients of
  /// ``attention(query:key:value:scale:causal:)`` from the upstream
  /// gradient of its output and its weights, or `nil` (the default).
  func attentionGradients<S: TensorScalar>(
    _ upstream: Tensor<S>, query: Tensor<S>, key: Tensor<S>, value: Tensor<S>,
    weights: Tensor<S>, scale: S, causal: Bool
  ) -> [Tensor<S>]?

  /// The input, weight and bias gradients of
  /// ``layerNormRows(_:weight:bias:epsilon:)`` in one pass over the rows:
  /// the weight gradient `Σ g·x̂` and the bias gradient `Σ g` over the
  /// rows, shaped like `weight`. Returns `nil` by default: the operation
  /// then takes the input gradient from
  /// ``layerNormRowsGradient(_:normalized:inverseDeviation:weight:)`` and
  /// sums the other two.
  func layerNormGradients<S: TensorScalar>(
    _ upstream: Tensor<S>, normalized: Tensor<S>, inverseDeviation: Tensor<S>, weight: Tensor<S>
  ) -> (input: Tensor<S>, weight: Tensor<S>, bias: Tensor<S>)?

  /// The softmax of each row of `logits` `[N, classes]` and the summed
  /// cross-entropy `Σᵢ (log Σⱼ exp(zᵢⱼ) − zᵢ,yᵢ)`, one pass per row, or
  /// `nil` (the default): the operation then composes it from the
  /// log-softmax.
  func softmaxCrossEntropy<S: TensorScalar>(_ logits: Tensor<S>, labels: [Int]) -> (
    loss: S, probabilities: Tensor<S>
  )?

  /// `(probabilities − onehot(labels)) · scale`: the gradient of
  /// ``softmaxCrossEntropy(_:labels:)``, or `nil` (the default).
  func softmaxCrossEntropyGradient<S: TensorScalar>(
    _ probabilities: Tensor<S>, labels: [Int], scale: S
  ) -> Tensor<S>?

  /// The mean and biased variance of each channel (axis 1) of `x`
  /// `[N, C, ...]`, over the batch and every position: the first of batch
  /// normalization's four fused passes. Each returns `nil` by default, and
  /// the operation then composes batch normalization from other
  /// primitives; a backend offers all four or none.
  func channelMoments<S: TensorScalar>(_ x: Tensor<S>) -> (mean: [S], variance: [S])?

  /// `factor[c] · (x − center[c]) + shift[c]` for each channel `c` (axis 1),
  /// or `nil` (the default).
  func normalizeChannels<S: TensorScalar>(
    _ x: Tensor<S>, center: [S], factor: [S], shift: [S]
  ) -> Tensor<S>?

  /// Per channel of the batch norm's upstream gradient `g`: `Σ g` and
  /// `Σ g · (x − center) · inverseDeviation`, or `nil` (the default).
  func channelGradientSums<S: TensorScalar>(
    _ g: Tensor<S>, _ x: Tensor<S>, center: [S], inverseDeviation: [S]
  ) -> (sum: [S], sumNormalized: [S])?

  /// The batch norm's input gradient in training mode:
  /// `factor · (g − meanG − x̂ · meanGNormalized)` per channel, with
  /// `x̂ = (x − center) · inverseDeviation`, or `nil` (the default).
  func batchNormInputGradient<S: TensorScalar>(
    _ g: Tensor<S>, _ x: Tensor<S>, center: [S], inverseDeviation: [S], factor: [S],
    meanG: [S], meanGNormalized: [S]
  ) -> Tensor<S>?

  // MARK: Optimizer updates

  /// One step of `update` in place: `parameter` and each tensor of `state`
  /// (as many as the rule keeps) are rewritten from `gradient`; all have
  /// one shape, checked by the caller.
  func apply<S: TensorScalar>(
    _ update: ParameterUpdate<S>, to parameter: inout Tensor<S>, gradient: Tensor<S>,
    state: inout [Tensor<S>]
  )
}

/// The fused primitives a backend may leave out: the operations then
/// compose them from the required ones.
extension Backend {
  package func attention<S: TensorScalar>(
    query: Tensor<S>, key: Tensor<S>, value: Tensor<S>, scale: S, causal: Bool
  ) -> (output: Tensor<S>, weights: Tensor<S>)? { nil }

  package func attentionGradients<S: TensorScalar>(
    _ upstream: Tensor<S>, query: Tensor<S>, key: Tensor<S>, value: Tensor<S>,
    weights: Tensor<S>, scale: S, causal: Bool
  ) -> [Tensor<S>]? { nil }

  package func layerNormGradients<S: TensorScalar>(
    _ upstream: Tensor<S>, normalized: Tensor<S>, inverseDeviation: Tensor<S>, weight: Tensor<S>
  ) -> (input: Tensor<S>, weight: Tensor<S>, bias: Tensor<S>)? { nil }

  package func softmaxCrossEntropy<S: TensorScalar>(_ logits: Tensor<S>, labels: [Int]) -> (
    loss: S, probabilities: Tensor<S>
  )? { nil }

  package func softmaxCrossEntropyGradient<S: TensorScalar>(
    _ probabilities: Tensor<S>, labels: [Int], scale: S
  ) -> Tensor<S>? { nil }

  package func channelMoments<S: TensorScalar>(_ x: Tensor<S>) -> (mean: [S], variance: [S])? {
    nil
  }

  package func normalizeChannels<S: TensorScalar>(
    _ x: Tensor<S>, center: [S], factor: [S], shift: [S]
  ) -> Tensor<S>? { nil }

  package func channelGradientSums<S: TensorScalar>(
    _ g: Tensor<S>, _ x: Tensor<S>, center: [S], inverseDeviation: [S]
  ) -> (sum: [S], sumNormalized: [S])? { nil }

  package func batchNormInputGradient<S: TensorScalar>(
    _ g: Tensor<S>, _ x: Tensor<S>, center: [S], inverseDeviation: [S], factor: [S],
    meanG: [S], meanGNormalized: [S]
  ) -> Tensor<S>? { nil }
}

/// The result of an optional fused backward pass, which a backend that ran
/// the fused forward pass of `operation` must offer; traps otherwise.
func fusedBackward<T>(_ result: T?, _ operation: String) -> T {
  guard let result else {
    preconditionFailure(
      "\(operation): the backend ran the fused forward pass but has no fused backward")
  }
  return result
}

/// A rectangular block to copy: `region` elements starting at
/// `sourceOrigin` in `source`, written at `destinationOrigin`.
package struct BlockCopy<S: TensorScalar> {
  package var source: Tensor<S>
  package var sourceOrigin: [Int]
  package var region: [Int]
  package var destinationOrigin: [Int]

  package init(source: Tensor<S>, sourceOrigin: [Int], region: [Int], destinationOrigin: [Int]) {
    self.source = source
    self.sourceOrigin = sourceOrigin
    self.region = region
    self.destinationOrigin = destinationOrigin
  }
}

/// How the max gate's backward takes the upstream gradient to the winners.
package enum MaxGateRoute: Sendable {
  /// Any grouping: the gradient is cleared, then each output's gradient is
  /// added at its winner.
  case general
  /// 2×2 pooling windows that tile `planes` planes: each element of the
  /// input's gradient is written once from the upstream gradient and the
  /// winners.
  case pooling2x2(planes: Int, WindowGeometry)
}

// MARK: - Choosing a backend

/// The registered backends, by the name their devices carry.
package enum Backends {
  private static let registered = Mutex<[String: any Backend]>([
    CPUBackend.shared.name: CPUBackend.shared, MetaBackend.shared.name: MetaBackend.shared,
  ])

  /// Makes `backend` serve every device whose ``Device/backend`` is its
  /// name, replacing one registered before under that name.
  package static func register(_ backend: any Backend) {
    registered.withLock { $0[backend.name] = backend }
  }

  /// The backend that serves `device`; traps, naming the device and the
  /// operation, when none is registered.
  @inline(__always)
  static func backend(for device: Device, _ operation: String) -> any Backend {
    if device.backend == "cpu" { return CPUBackend.shared }
    guard let backend = registered.withLock({ $0[device.backend] }) else {
      preconditionFailure("\(operation): no backend serves device \(device)")
    }
    return backend
  }
}

extension Tensor {
  /// The backend that owns this tensor's storage, or for a tensor that
  /// `vmap` batched, the batching backend of its innermost level.
  @inline(__always)
  func backend(_ operation: String) -> any Backend {
    if let axis = batch.last { return BatchingBackend(level: axis.level) }
    return Backends.backend(for: device, operation)
  }
}

/// The backend of `tensors`, after checking that they are on one device:
/// tensors on two devices trap with the operation's name and both devices.
/// A shape-only (``Device/meta``) tensor among them makes it the meta
/// backend. A tensor that `vmap` batched among them makes it the batching
/// backend of the innermost level among them.
@inline(__always)
func commonBackend<Scalar>(_ operation: String, _ a: Tensor<Scalar>, _ b: Tensor<Scalar>)
  -> any Backend
{
  if a.device == b.device && a.batch.isEmpty && b.batch.isEmpty { return a.backend(operation) }
  return commonBackend(operation, [a, b])
}

/// The backend of `tensors`; see ``commonBackend(_:_:_:)``.
func commonBackend<Scalar>(_ operation: String, _ tensors: Tensor<Scalar>...) -> any Backend {
  commonBackend(operation, tensors)
}

/// The backend of `tensors`; see ``commonBackend(_:_:_:)``.
func commonBackend<Scalar>(_ operation: String, _ tensors: [Tensor<Scalar>]) -> any Backend {
  requireOneDevice(operation, tensors)
  let level = tensors.reduce(0) { Swift.max($0, $1.batchLevel) }
  if level > 0 { return BatchingBackend(level: level) }
  if let meta = tensors.first(where: { $0.device == .meta }) { return meta.backend(operation) }
  return tensors[0].backend(operation)
}
