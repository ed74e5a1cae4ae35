import Foundation

/// Regression and likelihood losses, and the ``LossReduction`` every loss
/// takes. Each loss is composed of recorded operations (or, for the binary
/// cross-entropy, has a pullback written in them), so its gradient can be
/// differentiated again.

/// How a loss turns its per-element (or per-example) values into a result,
/// as PyTorch's `reduction=`.
public enum LossReduction: String, Sendable, CaseIterable {
  /// The mean: a 0-d tensor (the default everywhere).
  case mean
  /// The sum: a 0-d tensor.
  case sum
  /// No reduction: one loss per element (regression losses) or per example
  /// (classification losses).
  case none

  /// `losses` reduced.
  func apply<Scalar>(_ losses: Tensor<Scalar>) -> Tensor<Scalar> {
    switch self {
    case .mean: return losses.mean()
    case .sum: return losses.sum()
    case .none: return losses
    }
  }
}

/// Traps unless `predictions` and `targets` have one shape.
private func requireSameShape<Scalar>(
  _ predictions: Tensor<Scalar>, _ targets: Tensor<Scalar>, _ name: String
) {
  precondition(
    predictions.shape == targets.shape,
    "\(name): predictions of shape \(predictions.shape) and targets of shape \(targets.shape) differ"
  )
}

/// The squared error `(pᵢ − tᵢ)²` of each element, reduced (by default the
/// mean over every element, PyTorch's `MSELoss`).
///
/// - Parameters:
///   - predictions: any shape.
///   - targets: the shape of `predictions`; may be differentiated too.
///   - reduction: `.mean` (default), `.sum` or `.none`.
/// - Returns: a 0-d tensor, or the shape of `predictions` for `.none`.
public func meanSquaredError<Scalar>(
  predictions: Tensor<Scalar>, targets: Tensor<Scalar>, reduction: LossReduction = .mean
) -> Tensor<Scalar> {
  requireSameShape(predictions, targets, "meanSquaredError")
  return reduction.apply(square(predictions - targets))
}

/// The absolute error `|pᵢ − tᵢ|` of each element, reduced. At an exact
/// match the gradient is 0 (`abs′(0) = 0`, as PyTorch's `L1Loss`).
///
/// - Parameters:
///   - predictions: any shape.
///   - targets: the shape of `predictions`.
///   - reduction: `.mean` (default), `.sum` or `.none`.
/// - Returns: a 0-d tensor, or the shape of `predictions` for `.none`.
public func l1Loss<Scalar>(
  predictions: Tensor<Scalar>, targets: Tensor<Scalar>, reduction: LossReduction = .mean
) -> Tensor<Scalar> {
  requireSameShape(predictions, targets, "l1Loss")
  return reduction.apply(abs(predictions - targets))
}

/// The binary cross-entropy of a logit `z` against a target probability
/// `t`, `−t·log σ(z) − (1 − t)·log(1 − σ(z))`, for each element, reduced
/// (PyTorch's `BCEWithLogitsLoss`).
///
/// Computed as `max(z, 0) − z·t + log1p(e^(−|z|))`, which never forms
/// `σ(z)`: at `z = ±100` the loss is finite (100 for a wrong confident
/// logit) and the gradient is exact. Pullbacks: `upstream · (σ(z) − t)` for
/// the logits and `−upstream · z` for the targets.
///
/// - Parameters:
///   - logits: any shape.
///   - targets: the shape of `logits`, each in `[0, 1]`.
///   - reduction: `.mean` (default), `.sum` or `.none`.
/// - Returns: a 0-d tensor, or the shape of `logits` for `.none`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func binaryCrossEntropy<Scalar>(
  logits: Tensor<Scalar>, targets: Tensor<Scalar>, reduction: LossReduction = .mean
) -> Tensor<Scalar> {
  requireSameShape(logits, targets, "binaryCrossEntropy")
  let losses = Tensor.broadcasting("binaryCrossEntropy", logits, targets, .logisticLoss)
  let elementwise = record(
    "binaryCrossEntropy", logits, targets, output: losses,
    pullbackX: { g in g * (sigmoid(logits) - targets) },
    pullbackY: { g in -(g * logits) })
  return reduction.apply(elementwise)
}

/// The negative log-likelihood of each example's label,
/// `−log pᵢ,yᵢ`, reduced over the batch (PyTorch's `NLLLoss`). Give it
/// log-probabilities, for example from ``logSoftmax(_:alongAxis:)``.
///
/// Pullback: the upstream gradient, negated, at each label's position
/// (through ``gather(_:alongAxis:indices:)``).
///
/// - Parameters:
///   - logProbabilities: `[N, classes]`.
///   - labels: `N` class indices, each in `0..<classes`.
///   - reduction: `.mean` (default) over the batch, `.sum` or `.none`.
/// - Returns: a 0-d tensor, or `[N]` for `.none`.
public func negativeLogLikelihood<Scalar>(
  logProbabilities: Tensor<Scalar>, labels: [Int], reduction: LossReduction = .mean
) -> Tensor<Scalar> {
  precondition(
    logProbabilities.rank == 2 && logProbabilities.shape[0] == labels.count,
    "negativeLogLikelihood: expected log-probabilities of shape [\(labels.count), classes] for \(labels.count) labels, found \(logProbabilities.shape)"
  )
  let picked = gather(
    logProbabilities, alongAxis: 1, indices: IndexTensor(shape: [labels.count, 1], scalars: labels))
  return reduction.apply(-picked.reshaped(to: [labels.count]))
}

/// The softmax cross-entropy against target distributions ("soft labels"):
/// `Lᵢ = −Σⱼ tᵢⱼ · log softmax(zᵢ)ⱼ`, reduced over the batch (PyTorch's
/// `cross_entropy` with probability targets).
///
/// Pullback: `upstream · (softmax(z)·Σⱼtᵢⱼ − t)` for the logits (through
/// ``logSoftmax(_:alongAxis:)``), and `−upstream · log softmax(z)` for the
/// targets.
///
/// - Parameters:
///   - logits: `[N, classes]` unnormalized scores.
///   - probabilities: `[N, classes]`, each row a distribution.
///   - reduction: `.mean` (default) over the batch, `.sum` or `.none`.
/// - Returns: a 0-d tensor, or `[N]` for `.none`.
public func softmaxCrossEntropy<Scalar>(
  logits: Tensor<Scalar>, probabilities: Tensor<Scalar>, reduction: LossReduction = .mean
) -> Tensor<Scalar> {
  precondition(
    logits.rank == 2 && logits.shape == probabilities.shape,
    "softmaxCrossEntropy: expected logits and probabilities of one shape [N, classes], found \(logits.shape) and \(probabilities.shape)"
  )
  return reduction.apply(-(probabilities * logSoftmax(logits)).sum(alongAxes: 1))
}

/// One-hot rows for `labels`, smoothed: `(1 − ε)·onehot + ε / classes`.
func smoothedTargets<Scalar>(labels: [Int], classes: Int, smoothing: Scalar) -> Tensor<Scalar> {
  precondition(
    smoothing >= 0 && smoothing <= 1, "labelSmoothing must be in 0...1, found \(smoothing)")
  let off = smoothing / Scalar(classes)
  var targets = [Scalar](repeating: off, count: labels.count * classes)
  for (example, label) in labels.enumerated() {
    precondition(
      label >= 0 && label < classes,
      "softmaxCrossEntropy: label \(label) of example \(example) is out of range for \(classes) classes"
    )
    targets[example * classes + label] += 1 - smoothing
  }
  return Tensor(shape: [labels.count, classes], scalars: targets)
}
