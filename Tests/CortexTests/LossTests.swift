import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// `count` labels drawn uniformly from `0..<classes`.
private func randomLabels(_ count: Int, classes: Int, seed: UInt64) -> [Int] {
  var generator = SeededGenerator(seed: seed)
  return (0..<count).map { _ in Int(generator.next() % UInt64(classes)) }
}

/// The softmax cross-entropy of one row of logits, from its definition.
private func referenceCrossEntropy(_ row: [Double], label: Int) -> Double {
  let exponentials = row.map { Foundation.exp($0) }
  return -Foundation.log(exponentials[label] / exponentials.reduce(0, +))
}

@Suite struct SoftmaxCrossEntropyTests {
  @Test func valueMatchesTheDefinition() {
    let logits = Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 1, 1, 1])
    let loss = softmaxCrossEntropy(logits: logits, labels: [2, 0])
    #expect(loss.shape == [])
    #expect(Swift.abs(loss.scalar - 0.7531091265562453) < 1e-12)
    #expect(
      Swift.abs(
        loss.scalar
          - (referenceCrossEntropy([1, 2, 3], label: 2)
            + referenceCrossEntropy([1, 1, 1], label: 0))
          / 2) < 1e-12)
  }

  @Test(arguments: [(4, 3), (5, 10), (3, 7), (2, 1)])
  func gradientCheck(examples: Int, classes: Int) {
    // Logits of unit scale, as at initialization. A much wider spread makes
    // some probabilities, and so some derivatives, so small that central
    // differences in Double cannot resolve them to a relative error of 1e-7.
    let logits = Tensor<Double>.randomNormal(
      [examples, classes], seed: UInt64(examples * 100 + classes))
    let labels = randomLabels(examples, classes: classes, seed: UInt64(classes))
    let report = checkGradients(at: logits) { softmaxCrossEntropy(logits: $0, labels: labels) }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }

  @Test func gradientIsSoftmaxMinusOneHotOverN() {
    let logits = Tensor<Double>.randomNormal([4, 5], seed: 3)
    let labels = [1, 0, 4, 4]
    let computed = gradient(at: logits) { softmaxCrossEntropy(logits: $0, labels: labels) }
    var expected = softmax(logits, alongAxis: 1)
    for (example, label) in labels.enumerated() { expected[example, label] -= 1 }
    #expect(computed.isAlmostEqual(to: expected / 4, absoluteTolerance: 1e-15))
  }

  @Test func agreesWithLogSoftmaxAndCrossEntropyOfProbabilities() {
    let logits = Tensor<Double>.randomNormal([6, 4], seed: 11)
    let labels = randomLabels(6, classes: 4, seed: 12)
    let fused = softmaxCrossEntropy(logits: logits, labels: labels).scalar
    let logProbabilities = logSoftmax(logits, alongAxis: 1)
    let picked = labels.enumerated().map { -logProbabilities[$0.offset, $0.element] }
    #expect(Swift.abs(fused - picked.reduce(0, +) / 6) < 1e-12)
    let composed = crossEntropy(probabilities: softmax(logits, alongAxis: 1), labels: labels)
    #expect(Swift.abs(fused - composed.scalar) < 1e-12)
  }

  @Test func finiteForHugeLogits() {
    let logits = Tensor<Double>(shape: [2, 3], scalars: [1e4, -1e4, 0, -1e4, 1e4, 1e4])
    let (loss, gradient) = valueWithGradient(at: logits) {
      softmaxCrossEntropy(logits: $0, labels: [1, 2])
    }
    #expect(loss.scalar.isFinite)
    #expect(Swift.abs(loss.scalar - (2e4 + Foundation.log(2.0)) / 2) < 1e-9)
    #expect(gradient.scalars.allSatisfy { $0.isFinite })
  }

  @Test func worksInFloat() {
    let logits = Tensor<Float>.randomNormal([3, 4], seed: 5)
    let labels = [0, 3, 2]
    let report = checkGradients(at: logits) { softmaxCrossEntropy(logits: $0, labels: labels) }
    #expect(report.passed, "\(report)")
  }

  /// Rows of 8 classes or more run in vector registers, across threads:
  /// the loss and its gradient agree with the same computation in
  /// `Double`, and their bits depend on neither the thread count nor the
  /// instruction set (among those that fuse multiply-adds).
  @Test(arguments: [10, 50])
  func floatRowsAgreeWithDoubleAndKeepTheirBits(classes: Int) throws {
    let logits = Tensor<Float>.randomNormal([1000, classes], standardDeviation: 4, seed: 6)
    let labels = randomLabels(1000, classes: classes, seed: 7)
    func run() -> [[Float]] {
      let (loss, pullback) = valueWithPullback(at: logits) {
        softmaxCrossEntropy(logits: $0, labels: labels, reduction: .sum)
      }
      return [loss.scalars, pullback(Tensor(1)).scalars]
    }
    let reference = withThreadCount(1) { run() }
    let (wideLoss, widePullback) = valueWithPullback(at: logits.converted(to: Double.self)) {
      softmaxCrossEntropy(logits: $0, labels: labels, reduction: .sum)
    }
    #expect(Swift.abs(Double(reference[0][0]) - wideLoss.scalar) <= 1e-5 * wideLoss.scalar)
    let wideGradient = widePullback(Tensor(1)).scalars
    #expect(zip(reference[1], wideGradient).allSatisfy { Swift.abs(Double($0) - $1) <= 1e-6 })
    #expect(withThreadCount(2) { run() } == reference)
    let saved = ComputeSettings.instructionSet
    defer { try? ComputeSettings.setInstructionSet(saved) }
    for set in InstructionSet.supported.filter(\.fusesMultiplyAdd) {
      try ComputeSettings.setInstructionSet(set)
      #expect(withThreadCount(2) { run() } == reference, "\(set)")
    }
  }

  @Test func labelOutOfRangeTrapsNamingTheLabelAndClassCount() async {
    let result = await #expect(
      processExitsWith: .failure, observing: [\.standardErrorContent]
    ) {
      _ = softmaxCrossEntropy(logits: Tensor<Double>.zeros([2, 10]), labels: [3, 10])
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("label 10"))
    #expect(message.contains("10 classes"))
  }
}

@Suite struct CrossEntropyOfProbabilitiesTests {
  @Test(arguments: [(3, 4), (5, 2), (2, 9)])
  func gradientCheck(examples: Int, classes: Int) {
    let probabilities = Tensor<Double>.randomUniform(
      [examples, classes], lower: 0.05, upper: 1, seed: UInt64(examples + 10 * classes))
    let labels = randomLabels(examples, classes: classes, seed: 7)
    let report = checkGradients(at: probabilities) {
      crossEntropy(probabilities: $0, labels: labels)
    }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }

  @Test func valueMatchesTheDefinition() {
    let probabilities = Tensor<Double>(shape: [2, 3], scalars: [0.2, 0.5, 0.3, 0.1, 0.1, 0.8])
    let loss = crossEntropy(probabilities: probabilities, labels: [1, 2])
    let expected = -(Foundation.log(0.5) + Foundation.log(0.8)) / 2
    #expect(Swift.abs(loss.scalar - expected) < 1e-12)
  }

  @Test func finiteAtProbabilityZero() {
    let probabilities = Tensor<Double>(shape: [2, 2], scalars: [0, 1, 0.5, 0.5])
    let (loss, gradient) = valueWithGradient(at: probabilities) {
      crossEntropy(probabilities: $0, labels: [0, 1])
    }
    #expect(loss.scalar.isFinite)
    #expect(Swift.abs(loss.scalar - (-Foundation.log(1e-12) - Foundation.log(0.5)) / 2) < 1e-9)
    #expect(gradient.scalars.allSatisfy { $0.isFinite })
    // The clamped probability still gets pushed up: −1/(N·ε).
    #expect(gradient[0, 0] == -1 / (2 * 1e-12))
    #expect(gradient[0, 1] == 0)
  }
}

@Suite struct MulticlassHingeLossTests {
  /// The three-example cat/car/frog figure of the CS231n linear classifier
  /// notes: per-example losses 2.9, 0 and 12.9.
  @Test func lectureExample() {
    let scores = Tensor<Double>(
      shape: [3, 3], scalars: [3.2, 5.1, -1.7, 1.3, 4.9, 2.0, 2.2, 2.5, -3.1])
    let loss = multiclassHingeLoss(scores: scores, labels: [0, 1, 2])
    #expect(Swift.abs(loss.scalar - (2.9 + 0 + 12.9) / 3) < 1e-12)
  }

  @Test(arguments: [(4, 3), (5, 10), (3, 6)])
  func gradientCheck(examples: Int, classes: Int) throws {
    let scores = Tensor<Double>.randomNormal(
      [examples, classes], standardDeviation: 1.5, seed: UInt64(examples * 31 + classes))
    let labels = randomLabels(examples, classes: classes, seed: UInt64(examples))
    // Keep every margin away from the kink at 0, where the loss is not
    // differentiable, by far more than the difference step.
    var smallestSlack = Double.infinity
    for (example, label) in labels.enumerated() {
      for j in 0..<classes where j != label {
        let slack = scores[example, j] - scores[example, label] + 1
        smallestSlack = Swift.min(smallestSlack, Swift.abs(slack))
      }
    }
    try #require(smallestSlack > 1e-3)
    let report = checkGradients(at: scores) {
      multiclassHingeLoss(scores: $0, labels: labels)
    }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }

  @Test func gradientCountsViolations() {
    // Example 0 (label 0): class 1 violates by 2.5, class 2 does not.
    // Example 1 (label 2): both other classes violate.
    let scores = Tensor<Double>(shape: [2, 3], scalars: [1, 2.5, -3, 0, 0, 0.5])
    let (loss, gradient) = valueWithGradient(at: scores) {
      multiclassHingeLoss(scores: $0, labels: [0, 2], margin: 1)
    }
    #expect(Swift.abs(loss.scalar - (2.5 + 0.5 + 0.5) / 2) < 1e-12)
    #expect(gradient == Tensor(shape: [2, 3], scalars: [-0.5, 0.5, 0, 0.5, 0.5, -1]))
  }

  /// The hinge is the max gate against 0 with the one tie rule: a slack of
  /// exactly 0 passes its gradient (relu′(0) = 1), under every reduction.
  @Test(arguments: [LossReduction.mean, .sum, .none])
  func slackOfExactlyZeroPassesItsGradientUnderEveryReduction(_ reduction: LossReduction) {
    let scores = Tensor<Double>(shape: [2, 2], scalars: [1, 0, 0, 1])
    let (loss, gradient) = valueWithGradient(at: scores) {
      multiclassHingeLoss(scores: $0, labels: [0, 1], reduction: reduction).sum()
    }
    #expect(loss.scalar == 0)
    let scale = reduction == .mean ? 0.5 : 1
    #expect(gradient == scale * Tensor(shape: [2, 2], scalars: [-1, 1, 1, -1]))
  }
}

/// The sanity checks of the CS231n assignments: a linear classifier on
/// 3072-dimensional inputs (32×32×3 flattened) with tiny weights gives
/// near-uniform scores, so the softmax loss is about ln 10 and the SVM loss
/// about 9 (nine margins of about 1).
@Suite struct InitialLossSanityTests {
  let inputs = Tensor<Double>.randomNormal([50, 3, 32, 32], seed: 2024).flattened(fromAxis: 1)
  let weight = Tensor<Double>.randomNormal([10, 3072], standardDeviation: 1e-4, seed: 2025)
  let labels = randomLabels(50, classes: 10, seed: 2026)

  @Test func softmaxLossIsAboutLogTen() {
    let scores = linear(inputs, weight: weight, bias: .zeros([10]))
    let loss = softmaxCrossEntropy(logits: scores, labels: labels)
    #expect(Swift.abs(loss.scalar - Foundation.log(10.0)) < 0.01)
  }

  @Test func svmLossIsAboutNine() {
    let scores = linear(inputs, weight: weight)
    let loss = multiclassHingeLoss(scores: scores, labels: labels)
    #expect(Swift.abs(loss.scalar - 9) < 0.05)
  }
}
