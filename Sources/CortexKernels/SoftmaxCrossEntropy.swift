/// The fused softmax cross-entropy over rows of logits `[examples,
/// classes]`, and its gradient.

extension KernelSet {
  /// The softmax of each row of `logits` into `probabilities`, and the
  /// summed cross-entropy `Σᵢ (log Σⱼ exp(zᵢⱼ) − zᵢ,yᵢ)` into `loss.pointee`.
  /// Each row is shifted by its largest logit before the exponentials.
  @inlinable
  static func softmaxCrossEntropy<S: KernelScalar>(
    _ logits: UnsafePointer<S>, labels: [Int], classes: Int,
    probabilities: UnsafeMutablePointer<S>, loss: UnsafeMutablePointer<S>
  ) {
    var total: S = 0
    for (example, label) in labels.enumerated() {
      let row = logits + example * classes
      let probability = probabilities + example * classes
      var largest = row[0]
      for j in 1..<classes where row[j] > largest { largest = row[j] }
      var sum: S = 0
      for j in 0..<classes {
        probability[j] = S.exp(row[j] - largest)
        sum += probability[j]
      }
      for j in 0..<classes { probability[j] /= sum }
      total += largest + S.log(sum) - row[label]
    }
    loss.pointee = total
  }

  /// `gradient = (probabilities − onehot(labels)) · scale`, the softmax
  /// cross-entropy's gradient, for rows of `classes` scalars.
  @inlinable
  static func softmaxCrossEntropyGradient<S: BinaryFloatingPoint>(
    _ probabilities: UnsafePointer<S>, labels: [Int], classes: Int, scale: S,
    _ gradient: UnsafeMutablePointer<S>
  ) {
    for i in 0..<labels.count * classes { gradient[i] = probabilities[i] * scale }
    for (example, label) in labels.enumerated() { gradient[example * classes + label] -= scale }
  }
}
