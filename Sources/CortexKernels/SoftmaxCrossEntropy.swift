/// The fused softmax cross-entropy over rows of logits `[examples,
/// classes]`, and its gradient.

extension KernelSet {
  /// The softmax of each row of `logits` into `probabilities`, and the
  /// summed cross-entropy `Σᵢ (log Σⱼ exp(zᵢⱼ) − zᵢ,yᵢ)` into `loss.pointee`.
  /// Each row is shifted by its largest logit before the exponentials.
  ///
  /// In single precision, rows of 8 classes or more run as the fused
  /// softmax's rows do (vector `exp`, the same bits on every set that fuses
  /// multiply-adds), shared out among the pool's threads; the rows' losses
  /// are then added in row order, so the sum does not depend on the thread
  /// count.
  @inlinable
  static func softmaxCrossEntropy<S: KernelScalar>(
    _ logits: UnsafePointer<S>, labels: [Int], classes: Int,
    probabilities: UnsafeMutablePointer<S>, loss: UnsafeMutablePointer<S>
  ) {
    if S.self == Float.self && classes >= 8 {
      let floats = (
        UnsafeRawPointer(logits).assumingMemoryBound(to: Float.self),
        UnsafeMutableRawPointer(probabilities).assumingMemoryBound(to: Float.self)
      )
      let total =
        classes >= 16
        ? softmaxCrossEntropyFloat(
          SIMD16<Float>.self, floats.0, labels: labels, classes: classes, floats.1)
        : softmaxCrossEntropyFloat(
          SIMD8<Float>.self, floats.0, labels: labels, classes: classes, floats.1)
      loss.pointee = S(total)
      return
    }
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
      total += (largest - row[label]) + S.log(sum)
    }
    loss.pointee = total
  }

  /// The single-precision rows of
  /// ``softmaxCrossEntropy(_:labels:classes:probabilities:loss:)``, each
  /// at least `V.scalarCount` long: the summed loss.
  @inlinable
  static func softmaxCrossEntropyFloat<V: FloatLanes>(
    _: V.Type, _ logits: UnsafePointer<Float>, labels: [Int], classes: Int,
    _ probabilities: UnsafeMutablePointer<Float>
  ) -> Float {
    let losses = UnsafeMutableBufferPointer<Float>.allocate(capacity: labels.count)
    defer { losses.deallocate() }
    forEachChunk(of: labels.count, costPerItem: 8 * classes) { _, range in
      for example in range {
        let row = logits + example * classes
        let (largest, sum) = softmaxRowFloat(
          V.self, row, probabilities + example * classes, length: classes, logarithm: false)
        losses[example] = (largest - row[labels[example]]) + Float.log(sum)
      }
    }
    var total: Float = 0
    for example in losses.indices { total += losses[example] }
    return total
  }

  /// `gradient = (probabilities − onehot(labels)) · scale`, the softmax
  /// cross-entropy's gradient, for rows of `classes` scalars.
  @inlinable
  static func softmaxCrossEntropyGradient<S: BinaryFloatingPoint>(
    _ probabilities: UnsafePointer<S>, labels: [Int], classes: Int, scale: S,
    _ gradient: UnsafeMutablePointer<S>
  ) {
    forEachChunk(of: labels.count, costPerItem: classes) { _, range in
      let rows = range.lowerBound * classes..<range.upperBound * classes
      for i in rows { gradient[i] = probabilities[i] * scale }
      for example in range { gradient[example * classes + labels[example]] -= scale }
    }
  }
}
