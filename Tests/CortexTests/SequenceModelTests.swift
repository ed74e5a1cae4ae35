import Foundation
import Testing

@testable import CortexCore
@testable import CortexNN

/// The pieces of a GPT: a causal encoder layer, dense maps and the loss on
/// `[batch, tokens, features]`, the identity matrix, and sampling.
@Suite struct SequenceModelTests {
  @Test func aCausalLayersEarlierOutputsDoNotMoveWhenALaterTokenChanges() throws {
    let layer = try withRandomSeed(4) {
      try TransformerEncoderLayer<Double>(
        features: 8, heads: 2, hiddenSize: 16, dropout: 0, causal: true)
    }
    #expect(layer.causal)
    let x = random([2, 5, 8], seed: 5)
    var changed = x
    changed[alongAxis: 1, 3..<5] = random([2, 2, 8], seed: 6)
    let (before, after) = (layer(x), layer(changed))
    expectClose(
      after.sliced(alongAxis: 1, range: 0..<3), before.sliced(alongAxis: 1, range: 0..<3),
      tolerance: 0)
    #expect(
      !after.sliced(alongAxis: 1, range: 3..<5).isAlmostEqual(
        to: before.sliced(alongAxis: 1, range: 3..<5), absoluteTolerance: 1e-6, relativeTolerance: 0
      ))
    // Not causal: the first token sees the last.
    let open = try withRandomSeed(4) {
      try TransformerEncoderLayer<Double>(features: 8, heads: 2, hiddenSize: 16, dropout: 0)
    }
    #expect(
      !open(changed).sliced(alongAxis: 1, range: 0..<1).isAlmostEqual(
        to: open(x).sliced(alongAxis: 1, range: 0..<1), absoluteTolerance: 1e-6,
        relativeTolerance: 0))
    expectPasses(checkGradients(of: layer, at: x))
  }

  @Test func aPaddingMaskHidesTheMaskedKeys() throws {
    let layer = try withRandomSeed(7) {
      try TransformerEncoderLayer<Double>(features: 8, heads: 2, hiddenSize: 16, dropout: 0)
    }
    let x = random([1, 4, 8], seed: 8)
    var changed = x
    changed[alongAxis: 1, 3..<4] = random([1, 1, 8], seed: 9)
    // Key 3 hidden from every query.
    let mask = Tensor<Double>(shape: [1, 1, 1, 4], scalars: [0, 0, 0, -.infinity])
    expectClose(
      layer(changed, mask: mask).sliced(alongAxis: 1, range: 0..<3),
      layer(x, mask: mask).sliced(alongAxis: 1, range: 0..<3), tolerance: 1e-15)
  }

  @Test func denseOnRank3EqualsDenseOnTheRows() throws {
    let dense = try withRandomSeed(1) { try Dense<Double>(inputSize: 4, outputSize: 3) }
    let x = random([2, 5, 4], seed: 2)
    let y = dense(x)
    #expect(y.shape == [2, 5, 3])
    expectClose(y.reshaped(to: [10, 3]), dense(x.reshaped(to: [10, 4])), tolerance: 0)
    #expect(try dense.outputShape(for: [2, 5, 4]) == [2, 5, 3])
    #expect(try dense.outputShape(for: [4]) == [3])
    #expect(throws: ShapeError.self) { try dense.outputShape(for: [2, 5, 3]) }
    expectPasses(
      checkGradients(at: [x, dense.weight.value]) { t in
        linear(t[0], weight: t[1], bias: dense.bias!.value)
      })
    let single = linear(Tensor<Double>([1, 2, 3, 4]), weight: dense.weight.value)
    #expect(single.shape == [3])
  }

  @Test func crossEntropyOverEveryPositionEqualsTheFlattenedLoss() {
    let logits = random([2, 3, 5], seed: 3)
    let labels = [0, 4, 2, 1, 3, 3]
    let flat = softmaxCrossEntropy(logits: logits.reshaped(to: [6, 5]), labels: labels)
    expectClose(softmaxCrossEntropy(logits: logits, labels: labels), flat, tolerance: 1e-15)
    let each = softmaxCrossEntropy(logits: logits, labels: labels, reduction: .none)
    #expect(each.shape == [2, 3])
    expectPasses(
      checkGradients(at: logits) { softmaxCrossEntropy(logits: $0, labels: labels) })
  }

  @Test func eye() {
    #expect(Tensor<Float>.eye(3) == Tensor(shape: [3, 3], scalars: [1, 0, 0, 0, 1, 0, 0, 0, 1]))
    #expect(
      Tensor<Double>.eye(rows: 2, columns: 3)
        == Tensor(shape: [2, 3], scalars: [1, 0, 0, 0, 1, 0]))
    let m = random([3, 3], seed: 1)
    #expect(matmul(m, Tensor.eye(3)) == m)
  }

  @Test func categoricalSamplesFollowTheSoftmaxAndTheSeed() {
    let probabilities = [0.1, 0.2, 0.7]
    let logits = Tensor<Double>(shape: [1, 3], scalars: probabilities.map { Foundation.log($0) })
    let rows = Tensor<Double>(
      shape: [20_000, 3], scalars: Array(repeating: logits.scalars, count: 20_000).flatMap { $0 })
    let samples = rows.sampledCategories(seed: 42)
    #expect(samples.shape == [20_000])
    for (k, p) in probabilities.enumerated() {
      let frequency = Double(samples.scalars.filter { $0 == k }.count) / 20_000
      #expect(Swift.abs(frequency - p) < 0.015, "class \(k): \(frequency) against \(p)")
    }
    #expect(rows.sampledCategories(seed: 42) == samples)
    #expect(rows.sampledCategories(seed: 43) != samples)
    // Temperature 0 takes the most likely class; a low one nearly always.
    #expect(rows.sampledCategories(temperature: 0, seed: 1).scalars.allSatisfy { $0 == 2 })
    let cold = rows.sampledCategories(temperature: 0.1, seed: 1).scalars
    #expect(Double(cold.filter { $0 == 2 }.count) / 20_000 > 0.99)
  }
}
