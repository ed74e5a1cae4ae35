/// Batch normalization: each channel (feature) is normalized to zero mean
/// and unit variance over the batch (and the spatial positions), then
/// scaled by γ and shifted by β. Conventions follow PyTorch's
/// `BatchNorm1d`/`BatchNorm2d`.

/// The running estimates of each channel's mean and variance that batch
/// normalization uses at inference. A layer holds one and passes it
/// `inout` to ``batchNorm(_:scale:offset:statistics:training:momentum:epsilon:)``,
/// which updates it at every training step.
public struct BatchNormStatistics<Scalar: TensorScalar>: Sendable, Equatable {
  /// The running mean, `[C]`.
  public var mean: Tensor<Scalar>
  /// The running unbiased variance, `[C]`.
  public var variance: Tensor<Scalar>

  /// Statistics for `channels` channels before any training: mean 0 and
  /// variance 1, as in PyTorch.
  public init(channels: Int) {
    precondition(
      channels > 0, "BatchNormStatistics: channel count must be positive, found \(channels)")
    mean = .zeros([channels])
    variance = .ones([channels])
  }

  /// Statistics with the given running mean and variance, both `[C]`.
  public init(mean: Tensor<Scalar>, variance: Tensor<Scalar>) {
    precondition(
      mean.rank == 1 && mean.shape == variance.shape,
      "BatchNormStatistics: mean of shape \(mean.shape) and variance of shape \(variance.shape) must both be [C]"
    )
    self.mean = mean.withoutDerivative
    self.variance = variance.withoutDerivative
  }
}

/// Batch normalization over the batch (and spatial) positions of each
/// channel: `y = γ · (x − μ) / √(σ² + ε) + β`, per channel.
///
/// In training, `μ` and `σ²` are the batch's mean and biased variance, and
/// the running statistics move toward the batch's:
/// `running = (1 − momentum) · running + momentum · batch`, with the
/// unbiased variance (`σ² · m/(m − 1)` over `m` values per channel). At
/// inference the running mean and variance are used and left unchanged.
///
/// Pullback, in closed form per channel over its `m` values, with
/// `x̂ = (x − μ)/√(σ² + ε)`: `∂β = Σg`, `∂γ = Σ g·x̂`, and in training
/// `∂x = γ/√(σ² + ε) · (g − Σg/m − x̂ · Σ(g·x̂)/m)` (at inference
/// `∂x = γ/√(σ² + ε) · g`). A channel with zero variance gives `y = β` and
/// finite gradients, since `ε > 0`.
///
/// - Parameters:
///   - x: `[N, C]` (features) or `[N, C, H, W]` (channels); any
///     `[N, C, ...]` works, normalizing over every axis but 1.
///   - scale: `γ`, `[C]`.
///   - offset: `β`, `[C]`.
///   - statistics: the running mean and variance, each `[C]`; updated in
///     training, read at inference.
///   - training: whether to use the batch's statistics (and update the
///     running ones) or the running ones.
///   - momentum: the weight of the batch's statistics in the update (0.1).
///   - epsilon: `ε`, added to the variance (1e-5).
/// - Returns: the shape of `x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func batchNorm<Scalar>(
  _ x: Tensor<Scalar>, scale: Tensor<Scalar>, offset: Tensor<Scalar>,
  statistics: inout BatchNormStatistics<Scalar>, training: Bool,
  momentum: Scalar = 0.1, epsilon: Scalar = 1e-5
) -> Tensor<Scalar> {
  precondition(x.rank >= 2, "batchNorm: expected an input of shape [N, C, ...], found \(x.shape)")
  let (batch, channels) = (x.shape[0], x.shape[1])
  let spatial = x.shape[2...].reduce(1, *)
  let count = batch * spatial
  precondition(
    scale.shape == [channels] && offset.shape == [channels],
    "batchNorm: scale of shape \(scale.shape) and offset of shape \(offset.shape) do not match input of shape \(x.shape) (expected [\(channels)])"
  )
  precondition(
    statistics.mean.shape == [channels] && statistics.variance.shape == [channels],
    "batchNorm: running mean of shape \(statistics.mean.shape) and variance of shape \(statistics.variance.shape) do not match input of shape \(x.shape) (expected [\(channels)])"
  )
  precondition(epsilon > 0, "batchNorm: epsilon must be positive, found \(epsilon)")
  precondition(
    momentum >= 0 && momentum <= 1, "batchNorm: momentum must be in 0...1, found \(momentum)")

  func runComposed(_ statistics: inout BatchNormStatistics<Scalar>) -> Tensor<Scalar> {
    composedBatchNorm(
      x, scale: scale, offset: offset, statistics: &statistics, training: training,
      momentum: momentum, epsilon: epsilon)
  }
  if [x, scale, offset, statistics.mean, statistics.variance].contains(where: \.isBatched) {
    return runComposed(&statistics)
  }
  let backend = commonBackend("batchNorm", x, scale, offset)
  let mean: [Scalar]
  let variance: [Scalar]
  if training {
    precondition(
      count > 1,
      "batchNorm: training needs more than one value per channel, found input of shape \(x.shape)")
    // A backend without the fused passes gets the composed form.
    guard let moments = backend.channelMoments(x) else { return runComposed(&statistics) }
    (mean, variance) = moments
    let correction = Scalar(count) / Scalar(count - 1)
    // A shape-only run has no moments and leaves the running ones alone.
    if x.device != .meta {
      statistics.mean = Tensor(
        zip(statistics.mean.scalars, mean).map { (1 - momentum) * $0 + momentum * $1 })
      statistics.variance = Tensor(
        zip(statistics.variance.scalars, variance).map {
          (1 - momentum) * $0 + momentum * correction * $1
        })
    }
  } else {
    mean = statistics.mean.scalars
    variance = statistics.variance.scalars
  }
  let inverseDeviation = variance.map { 1 / ($0 + epsilon).squareRoot() }
  let gamma = scale.scalars
  let beta = offset.scalars

  let factor = zip(gamma, inverseDeviation).map(*)
  guard let output = backend.normalizeChannels(x, center: mean, factor: factor, shift: beta) else {
    precondition(
      !training, "batchNorm: the backend offers channelMoments but not normalizeChannels")
    return runComposed(&statistics)
  }

  let composed = { (inputs: [Tensor<Scalar>]) -> Tensor<Scalar> in
    let (x, scale, offset) = (inputs[0], inputs[1], inputs[2])
    let perChannel = [channels] + [Int](repeating: 1, count: x.rank - 2)
    let normalized: Tensor<Scalar>
    if training {
      let axes = [0] + Array(2..<x.rank)
      let centered = x - x.mean(alongAxes: axes, keepDims: true)
      let variance = (centered * centered).mean(alongAxes: axes, keepDims: true)
      normalized = centered / sqrt(variance + epsilon)
    } else {
      normalized =
        (x - Tensor(shape: perChannel, scalars: mean))
        * Tensor(shape: perChannel, scalars: inverseDeviation)
    }
    return normalized * scale.reshaped(to: perChannel) + offset.reshaped(to: perChannel)
  }
  return recordFused(
    "batchNorm", inputs: [x, scale, offset], output: output, composed: composed
  ) { g, needs in
    // Per channel: Σg (the gradient of β) and Σ g·x̂ (the gradient of γ).
    let (sumG, sumGNormalized) = fusedBackward(
      backend.channelGradientSums(g, x, center: mean, inverseDeviation: inverseDeviation),
      "batchNorm")
    var inputGradient: Tensor<Scalar>?
    if needs[0] && training {
      inputGradient = fusedBackward(
        backend.batchNormInputGradient(
          g, x, center: mean, inverseDeviation: inverseDeviation, factor: factor,
          meanG: sumG.map { $0 / Scalar(count) },
          meanGNormalized: sumGNormalized.map { $0 / Scalar(count) }), "batchNorm")
    } else if needs[0] {
      let zeros = [Scalar](repeating: 0, count: channels)
      inputGradient = fusedBackward(
        backend.normalizeChannels(g, center: zeros, factor: factor, shift: zeros), "batchNorm")
    }
    return [
      inputGradient,
      needs[1] ? Tensor(sumGNormalized) : nil,
      needs[2] ? Tensor(sumG) : nil,
    ]
  }
}

/// Batch normalization in recorded tensor operations, on a backend without
/// the fused passes and inside `vmap`. Inside `vmap` each example's batch
/// has its own statistics, and in training the running statistics become
/// one value per example (kept by a caller's local statistics; a layer's
/// running statistics refuse them).
private func composedBatchNorm<Scalar>(
  _ x: Tensor<Scalar>, scale: Tensor<Scalar>, offset: Tensor<Scalar>,
  statistics: inout BatchNormStatistics<Scalar>, training: Bool, momentum: Scalar, epsilon: Scalar
) -> Tensor<Scalar> {
  let channels = x.shape[1]
  let perChannel = [channels] + [Int](repeating: 1, count: x.rank - 2)
  let count = x.scalarCount / channels
  let normalized: Tensor<Scalar>
  if training {
    precondition(
      count > 1,
      "batchNorm: training needs more than one value per channel, found input of shape \(x.shape)")
    let axes = [0] + Array(2..<x.rank)
    let centered = x - x.mean(alongAxes: axes, keepDims: true)
    let variance = (centered * centered).mean(alongAxes: axes, keepDims: true)
    normalized = centered / sqrt(variance + epsilon)
    withoutRecording {
      let correction = Scalar(count) / Scalar(count - 1)
      let batchMean = x.withoutDerivative.mean(alongAxes: axes)
      statistics.mean = (1 - momentum) * statistics.mean + momentum * batchMean
      statistics.variance =
        (1 - momentum) * statistics.variance
        + momentum * correction * variance.withoutDerivative.reshaped(to: [channels])
    }
  } else {
    normalized =
      (x - statistics.mean.reshaped(to: perChannel))
      / sqrt(statistics.variance.reshaped(to: perChannel) + epsilon)
  }
  return normalized * scale.reshaped(to: perChannel) + offset.reshaped(to: perChannel)
}
