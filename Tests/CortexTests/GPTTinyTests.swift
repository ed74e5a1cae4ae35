import Foundation
import Testing

@testable import CortexCLI
@testable import CortexCore
@testable import CortexNN
@testable import CortexTraining

/// The zoo's `gpt-tiny`: its parameter count, causality, a training step,
/// its gradients, its bench row, and the error `cortex train` gives it.
@Suite struct GPTTinyTests {
  @Test func parameterCountFollowsPyTorchsLayers() throws {
    let model: Sequential<Float> = withRandomSeed(1) { ModelName.gptTiny.build() }
    // Embeddings 128·64 + 64·64; per block the norms 2·2·64, attention
    // 4·(64² + 64) and MLP 64·256 + 256 + 256·64 + 64; the final norm 2·64;
    // the head 64·128 + 128.
    let block = 2 * 2 * 64 + 4 * (64 * 64 + 64) + 64 * 256 + 256 + 256 * 64 + 64
    #expect(block == 49_984)
    #expect(model.parameterCount == 128 * 64 + 64 * 64 + 2 * block + 2 * 64 + 64 * 128 + 128)
    #expect(model.parameterCount == 120_704)
    #expect(try model.outputShape(for: [2, 64]) == [2, 64, 128])
    #expect(try ModelName.gptTiny.summary().totalParameters == 120_704)
    #expect(
      model.namedParameters.prefix(4).map(\.name) == [
        "0.tokens.weight", "0.positions", "1.norm1.weight", "1.norm1.bias",
      ])
    let blocks = model.layers.compactMap { $0 as? TransformerEncoderLayer<Float> }
    #expect(blocks.count == 2 && blocks.allSatisfy { $0.causal })
    let languageModels = ModelName.allCases.filter { $0.isLanguageModel }
    #expect(languageModels == [.gptTiny])
    #expect(
      throws: ShapeError(
        "layer 0 (TokenEmbedding): TokenEmbedding expects token ids of shape [N, tokens ≤ 64], found [1, 65]"
      )
    ) {
      try model.outputShape(for: [1, 65])
    }
  }

  @Test func changingALaterTokenLeavesEveryEarlierLogit() {
    let model: Sequential<Float> = withRandomSeed(2) { ModelName.gptTiny.build() }
    let (tokens, _) = BenchRow.nextTokenBatch(sequences: 2, length: 64, vocabularySize: 128)
    // Tokens 40 to 63 of each sequence become the next token id.
    var scalars = tokens.scalars
    for row in 0..<2 {
      for position in 40..<64 {
        scalars[row * 64 + position] = Float((Int(scalars[row * 64 + position]) + 1) % 128)
      }
    }
    let changed = Tensor(shape: tokens.shape, scalars: scalars)
    let (before, after) = withoutRecording { (model(tokens), model(changed)) }
    #expect(
      after.sliced(alongAxis: 1, range: 0..<40) == before.sliced(alongAxis: 1, range: 0..<40))
    #expect(
      !after.sliced(alongAxis: 1, range: 40..<64).isAlmostEqual(
        to: before.sliced(alongAxis: 1, range: 40..<64), absoluteTolerance: 1e-4,
        relativeTolerance: 0))
  }

  @Test func oneAdamWStepLowersTheLossOnItsBatch() {
    let model: Sequential<Float> = withRandomSeed(3) { ModelName.gptTiny.build() }
    let (tokens, labels) = BenchRow.nextTokenBatch(sequences: 4, length: 64, vocabularySize: 128)
    let loss = {
      withoutRecording { Double(softmaxCrossEntropy(logits: model(tokens), labels: labels).scalar) }
    }
    let before = loss()
    let logits = withoutRecording { model(tokens) }
    let right = zip(logits.argmax(alongAxis: -1), labels).filter { $0 == $1 }.count
    let step = Trainer(model: model, optimizer: AdamW<Float>(learningRate: 1e-3))
      .step(inputs: tokens, labels: labels)
    // Every one of the 4·64 positions is an example.
    #expect(Swift.abs(step.loss - before) < 1e-5)
    #expect(step.correct == right)
    #expect(loss() < before - 0.01, "loss \(before) → \(loss())")
  }

  /// Every trainable parameter of a small GPT of the same layout, in
  /// Double, against central differences. The keys' biases are frozen:
  /// adding one vector to every key moves all of a query's scores
  /// equally, which the softmax ignores, so their gradient is exactly 0.
  @Test func everyParameterOfASmallGPTIsGradientChecked() throws {
    let model: Sequential<Double> = try withRandomSeed(4) {
      try Zoo.gptTiny(vocabularySize: 7, context: 5, features: 4, heads: 2, hiddenSize: 8)
    }
    for block in model.layers.compactMap({ $0 as? TransformerEncoderLayer<Double> }) {
      block.attention.key.bias?.isTrainable = false
    }
    let parameters = model.parameters.filter(\.isTrainable)
    #expect(parameters.count == 2 + 2 * 15 + 2 + 2)
    let ids = Tensor<Double>(shape: [2, 4], scalars: [3, 0, 6, 3, 1, 5, 2, 2])
    let target = random([2, 4, 7], seed: 5)
    let report = checkGradients(at: parameters.map(\.value), step: 1e-5) { values in
      withParameters(parameters, at: values) { (model(ids) * target).sum() }
    }
    expectPasses(report)
  }

  @Test func theBenchRowRunsOnOneThread() throws {
    let row = try #require(BenchRow.all(threads: 1).first { $0.name == "gpt_tiny_step_b32" })
    #expect(row.threads == 1)
    let result = row.measure(repeats: 1)
    #expect((result.medianMilliseconds ?? 0) > 0)
    let (tokens, labels) = BenchRow.nextTokenBatch(sequences: 32, length: 64, vocabularySize: 128)
    #expect(tokens.shape == [32, 64] && labels.count == 32 * 64)
    // Each label is the token after its input position.
    #expect(Array(tokens.scalars[1..<64].map(Int.init)) == Array(labels[0..<63]))
    #expect(tokens.scalars.allSatisfy { (0..<128).contains(Int($0)) })
  }

  @Test func trainingRunsRefuseALanguageModel() {
    let message =
      "model gpt-tiny is a language model: it takes sequences of 64 token ids and needs token "
      + "data, not images with class labels; train it in code (see the CharGPT playground)"
    #expect(throws: TrainingError(message)) {
      try TrainCommand().run(["--model", "gpt-tiny", "--limit", "10"])
    }
    var configuration = TrainingConfiguration(model: .gptTiny)
    configuration.dataset = .npy
    #expect(throws: TrainingError(message)) { try configuration.validate() }
    #expect(!TrainCommand().trainableModels.contains(.gptTiny))
  }
}
