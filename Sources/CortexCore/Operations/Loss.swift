/// Classification losses over a batch of scores `[N, classes]` and one
/// integer label per example, each averaged over the batch and returned as
/// a 0-d tensor. Each has a fused pullback written in closed form.

/// Traps unless `labels` holds one label in `0..<classes` per example.
private func validate(labels: [Int], examples: Int, classes: Int, _ name: String) {
  precondition(
    labels.count == examples,
    "\(name): \(labels.count) labels for a batch of \(examples) examples")
  for (example, label) in labels.enumerated() {
    precondition(
      label >= 0 && label < classes,
      "\(name): label \(label) of example \(example) is out of range for \(classes) classes")
  }
}

/// Traps unless `scores` is a non-empty `[N, classes]` matrix.
private func validate<Scalar>(scores: Tensor<Scalar>, _ name: String) {
  precondition(
    scores.rank == 2 && scores.shape[0] > 0 && scores.shape[1] > 0,
    "\(name): expected scores of shape [N, classes] with N, classes > 0, found \(scores.shape)")
}

/// The softmax cross-entropy loss (the softmax classifier), averaged over
/// the batch: `L = (1/N) Σᵢ (log Σⱼ exp(zᵢⱼ) − zᵢ,yᵢ)`.
///
/// Computed through log-sum-exp with the row maximum subtracted, so it
/// stays finite for logits of any size. Pullback, fused:
/// `∂z = (softmax(z) − onehot(y)) / N`, times the upstream gradient. With
/// tiny random weights and `C` classes the loss starts near `ln C`
/// (≈ 2.303 for 10 classes).
///
/// Logits of higher rank, `[..., classes]` (a language model's
/// `[batch, tokens, vocabulary]`), count every position as an example:
/// the labels are in row-major order of the leading axes, the mean is over
/// all positions, and `.none` returns the leading shape.
///
/// - Parameters:
///   - logits: `[N, classes]` unnormalized scores, or `[..., classes]`.
///   - labels: one class index per row, each in `0..<classes`; one out of
///     range traps with a message naming it and the class count.
///   - labelSmoothing: `ε` in `0...1`: the target puts `1 − ε + ε/classes`
///     on the label and `ε/classes` on every other class (default 0).
///   - reduction: `.mean` (default) over the batch, `.sum` or `.none`.
/// - Returns: a 0-d tensor, or `[N]` (the leading shape) for `.none`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func softmaxCrossEntropy<Scalar>(
  logits: Tensor<Scalar>, labels: [Int], labelSmoothing: Scalar = 0,
  reduction: LossReduction = .mean
) -> Tensor<Scalar> {
  if logits.rank > 2 {
    // [..., classes]: every position is an example.
    let classes = logits.shape[logits.rank - 1]
    let rows = logits.reshaped(to: [logits.scalarCount / Swift.max(classes, 1), classes])
    precondition(
      labels.count == rows.shape[0],
      "softmaxCrossEntropy: \(labels.count) labels for logits of shape \(logits.shape), expected one per position (\(rows.shape[0]))"
    )
    let loss = softmaxCrossEntropy(
      logits: rows, labels: labels, labelSmoothing: labelSmoothing, reduction: reduction)
    return reduction == .none ? loss.reshaped(to: Array(logits.shape.dropLast())) : loss
  }
  validate(scores: logits, "softmaxCrossEntropy")
  let (examples, classes) = (logits.shape[0], logits.shape[1])
  validate(labels: labels, examples: examples, classes: classes, "softmaxCrossEntropy")
  if labelSmoothing != 0 || reduction != .mean {
    let targets = smoothedTargets(labels: labels, classes: classes, smoothing: labelSmoothing)
    return softmaxCrossEntropy(logits: logits, probabilities: targets, reduction: reduction)
  }
  let oneHot = Tensor<Scalar>(oneHot: labels, classes: classes)
  let definition = { (z: Tensor<Scalar>) in
    -(logSoftmax(z, alongAxis: 1) * oneHot).sum() / Scalar(examples)
  }
  // Inside vmap, and on a backend without the fused primitive, the
  // definition: its operations are batched, or composed on the backend.
  let backend = logits.backend("softmaxCrossEntropy")
  guard !logits.isBatched, let fused = backend.softmaxCrossEntropy(logits, labels: labels) else {
    return definition(logits)
  }
  let (total, probabilities) = (fused.loss, fused.probabilities)
  let loss = Tensor(shape: [], scalars: [total / Scalar(examples)], on: logits.device)
  return recordFused(
    "softmaxCrossEntropy", inputs: [logits], output: loss,
    composed: { definition($0[0]) }
  ) { g, _ in
    let scale = g.scalar / Scalar(examples)
    return [
      fusedBackward(
        backend.softmaxCrossEntropyGradient(probabilities, labels: labels, scale: scale),
        "softmaxCrossEntropy")
    ]
  }
}

/// The cross-entropy of given class probabilities, averaged over the batch:
/// `L = −(1/N) Σᵢ log max(pᵢ,yᵢ, ε)`.
///
/// The probability of the true class is clamped from below at `epsilon`,
/// so a probability of 0 gives the finite loss `−log ε` instead of +∞. The
/// gradient is `−1 / (N · max(pᵢ,yᵢ, ε))` at the true class and 0
/// elsewhere: the clamp passes the gradient straight through, so a true
/// class with probability 0 still receives a (large, finite) push upward.
/// Prefer ``softmaxCrossEntropy(logits:labels:labelSmoothing:reduction:)`` when the probabilities
/// come from a softmax: it never forms them and needs no clamp.
///
/// - Parameters:
///   - probabilities: `[N, classes]`, each row a distribution.
///   - labels: `N` class indices, each in `0..<classes`.
///   - epsilon: the smallest probability the logarithm sees (default 1e-12).
///   - reduction: `.mean` (default) over the batch, `.sum` or `.none`.
/// - Returns: a 0-d tensor, or `[N]` for `.none`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func crossEntropy<Scalar>(
  probabilities: Tensor<Scalar>, labels: [Int], epsilon: Scalar = 1e-12,
  reduction: LossReduction = .mean
) -> Tensor<Scalar> {
  validate(scores: probabilities, "crossEntropy")
  let (examples, classes) = (probabilities.shape[0], probabilities.shape[1])
  validate(labels: labels, examples: examples, classes: classes, "crossEntropy")
  precondition(epsilon > 0, "crossEntropy: epsilon must be positive, found \(epsilon)")
  if reduction != .mean {
    return negativeLogLikelihood(
      logProbabilities: log(max(probabilities, epsilon)), labels: labels, reduction: reduction)
  }
  let oneHot = Tensor<Scalar>(oneHot: labels, classes: classes)
  let definition = { (p: Tensor<Scalar>) in
    -(log(max(p, epsilon)) * oneHot).sum() / Scalar(examples)
  }
  if probabilities.isBatched { return definition(probabilities) }
  let indices = IndexTensor(shape: [examples, 1], scalars: labels)
  let backend = probabilities.backend("crossEntropy")
  let clamped = backend.unary(
    .maximum(epsilon), backend.gather(probabilities, along: 1, indices: indices))
  // −Σ log p / N on the backend: the loss stays on the probabilities'
  // device.
  let logSum = backend.sum(backend.unary(.log, clamped), alongAxes: [0, 1])
  let loss = backend.binary(
    .divide, Tensor(shape: [], storage: logSum.storage),
    Tensor(shape: [], scalars: [-Scalar(examples)], on: probabilities.device), shape: [])
  return recordFused(
    "crossEntropy", inputs: [probabilities], output: loss,
    composed: { definition($0[0]) }
  ) { g, _ in
    let scale = g.scalar / Scalar(examples)
    let perExample = backend.binary(
      .divide, Tensor(shape: [], scalars: [-scale], on: probabilities.device), clamped,
      shape: clamped.shape)
    return [backend.scatterAdd(perExample, along: 1, indices: indices, into: probabilities.shape)]
  }
}

/// The multiclass hinge loss (the multiclass SVM), averaged over the batch:
/// `L = (1/N) Σᵢ Σ_{j≠yᵢ} max(0, sᵢⱼ − sᵢ,yᵢ + Δ)`.
///
/// Each term is `relu(slack)`, the max gate against 0, so its pullback is
/// the gate's: each slack that is positive adds `1/N` to its class score's
/// gradient and subtracts `1/N` from the true class's. A slack of exactly 0
/// passes its gradient, as `relu′(0) = 1` (<doc:ErrorsAndGuarantees#Ties-and-kinks>),
/// under every reduction. With tiny
/// random weights every margin is about `Δ`, so the loss starts near
/// `(C − 1)·Δ` (≈ 9 for 10 classes).
///
/// - Parameters:
///   - scores: `[N, classes]` class scores.
///   - labels: `N` class indices, each in `0..<classes`.
///   - margin: `Δ`, the margin the true class must win by (default 1).
///   - reduction: `.mean` (default) over the batch, `.sum` or `.none`.
/// - Returns: a 0-d tensor, or `[N]` for `.none`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func multiclassHingeLoss<Scalar>(
  scores: Tensor<Scalar>, labels: [Int], margin: Scalar = 1, reduction: LossReduction = .mean
) -> Tensor<Scalar> {
  validate(scores: scores, "multiclassHingeLoss")
  let (examples, classes) = (scores.shape[0], scores.shape[1])
  validate(labels: labels, examples: examples, classes: classes, "multiclassHingeLoss")
  // The hinge is relu of the slack, the max gate against 0: one tie rule
  // (a slack of exactly 0 passes its gradient) under every reduction.
  let indices = IndexTensor(shape: [examples, 1], scalars: labels)
  let slack = relu(scores - gather(scores, alongAxis: 1, indices: indices) + margin)
  let others = Tensor<Scalar>(shape: scores.shape) {
    $0 % classes != labels[$0 / classes] ? 1 : 0
  }
  return reduction.apply((slack * others).sum(alongAxes: 1))
}
