import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// The transformer layers and the vision transformer: parameter counts,
/// gradients of every parameter, errors, and learning.
@Suite struct TransformerTests {
  @Test func encoderLayerAndViTParameterCounts() throws {
    // D = 64, F = 128: norms 4·64, attention 4·(64² + 64), MLP 2·64·128 + 128 + 64.
    let layer = try TransformerEncoderLayer<Float>(features: 64, heads: 4, hiddenSize: 128)
    #expect(layer.parameterCount == 4 * 64 + 4 * (64 * 64 + 64) + 2 * 64 * 128 + 128 + 64)
    #expect(layer.parameterCount == 33_472)
    #expect(try MultiHeadAttention<Float>(features: 64, heads: 8).parameterCount == 16_640)
    let vit: Sequential<Float> = ModelName.vitMNIST.build()
    // Patches 64·49 + 64, class token 64, positions 17·64, 4 layers, head 2·64 + 64·10 + 10.
    #expect(vit.parameterCount == 64 * 49 + 64 + 64 + 17 * 64 + 4 * 33_472 + 2 * 64 + 650)
    #expect(vit.parameterCount == 139_018)
    #expect(try vit.outputShape(for: [5, 1, 28, 28]) == [5, 10])
    #expect(
      vit.namedParameters.prefix(4).map(\.name) == [
        "0.projection.weight", "0.projection.bias", "0.classToken", "0.positions",
      ])
  }

  @Test func hyperparameterAndShapeErrorsNameTheLayer() throws {
    #expect(throws: HyperparameterError.self) {
      try MultiHeadAttention<Float>(features: 10, heads: 4)
    }
    #expect(throws: HyperparameterError.self) { try LayerNorm<Float>(features: 0) }
    #expect(throws: HyperparameterError.self) { try LayerNorm<Float>(features: 3, epsilon: 0) }
    #expect(throws: HyperparameterError.self) {
      try Embedding<Float>(vocabularySize: 0, features: 3)
    }
    #expect(throws: HyperparameterError.self) {
      try TransformerEncoderLayer<Float>(features: 8, heads: 2, hiddenSize: 16, dropout: 1.5)
    }
    #expect(throws: HyperparameterError.self) {
      try PatchEmbedding<Float>(imageSize: 28, channels: 1, patchSize: 5, features: 8)
    }
    #expect(throws: HyperparameterError.self) {
      try WarmupCosineSchedule(warmupEpochs: 3, epochs: 3)
    }
    do {
      _ = try MultiHeadAttention<Float>(features: 10, heads: 4)
    } catch {
      #expect(
        error.message
          == "MultiHeadAttention: heads must divide features, found 4 heads for 10 features")
    }
    let layer = try TransformerEncoderLayer<Float>(features: 8, heads: 2, hiddenSize: 16)
    #expect(
      throws: ShapeError(
        "TransformerEncoderLayer expects an input of shape [N, tokens, 8], found [2, 5, 6]")
    ) {
      try layer.outputShape(for: [2, 5, 6])
    }
    #expect(
      throws: ShapeError("LayerNorm expects 8 features on the last axis, found input shape [3, 4]")
    ) {
      try LayerNorm<Float>(features: 8).outputShape(for: [3, 4])
    }
    #expect(throws: ShapeError.self) {
      try PatchEmbedding<Float>(imageSize: 28, channels: 1, patchSize: 7, features: 8)
        .outputShape(for: [1, 1, 32, 32])
    }
  }

  @Test func everyParameterOfTheEncoderLayerIsGradientChecked() throws {
    let (layer, x, target) = try withRandomSeed(3) {
      (
        try TransformerEncoderLayer<Double>(features: 6, heads: 2, hiddenSize: 10, dropout: 0),
        Tensor<Double>.randomNormal([2, 3, 6], seed: 1),
        Tensor<Double>.randomNormal([2, 3, 6], seed: 2)
      )
    }
    #expect(layer.parameters.count == 16)
    let loss = { (layer(x) * target).sum() }
    // Adding one vector to every key moves all of a query's scores
    // equally, which the softmax ignores: the key bias's gradient is 0.
    let keyBias = layer.attention.key.bias!
    let checked = layer.parameters.filter { $0 !== keyBias }
    #expect(parameterGradientError(checked, loss) < 1e-6)
    let (_, keyBiasGradient) = valueWithGradient(for: [keyBias], of: loss)
    #expect(keyBiasGradient[0].scalars.allSatisfy { Swift.abs($0) < 1e-14 })
    let report = checkGradients(at: [x]) {
      meanSquaredError(predictions: layer($0[0]), targets: target)
    }
    #expect(report.passed, "\(report)")
  }

  @Test func embeddingLooksUpRowsAndAddsTheirGradients() throws {
    let embedding = try withRandomSeed(1) { try Embedding<Double>(vocabularySize: 5, features: 3) }
    let ids = IndexTensor(shape: [2, 2], scalars: [4, 1, 4, 0])
    let out = embedding(ids)
    #expect(out.shape == [2, 2, 3])
    #expect(Array(out.scalars[0..<3]) == Array(embedding.weight.value.scalars[12..<15]))
    #expect(embedding(Tensor<Double>(shape: [2, 2], scalars: [4, 1, 4, 0])) == out)
    let (_, gradients) = valueWithGradient(for: embedding.parameters) { embedding(ids).sum() }
    #expect(gradients[0].scalars == [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 2, 2, 2])
  }

  @Test func adamWDecaysWeightsApartFromTheGradient() {
    let parameter = Parameter(Tensor<Double>([1, -2]))
    let optimizer = AdamW<Double>(learningRate: 0.1, weightDecay: 0.5)
    optimizer.update([parameter], gradients: [Tensor([0.5, 0])])
    // p·(1 − ηλ), then the bias-corrected Adam step η·ĝ/(|ĝ| + ε) = ±η or 0.
    let step = 0.1 * 0.5 / (0.5 + 1e-8)
    #expect(Swift.abs(parameter.value.scalars[0] - (1 * 0.95 - step)) < 1e-12)
    #expect(parameter.value.scalars[1] == -2 * 0.95)
    let schedule = try! WarmupCosineSchedule(warmupEpochs: 2, epochs: 10)
    let rates = (0..<10).map { schedule.learningRate(epoch: $0, base: 0.3, metric: nil) }
    #expect(Swift.abs(rates[0] - 0.1) < 1e-15 && Swift.abs(rates[1] - 0.2) < 1e-15)
    #expect(rates[2] == 0.3)
    #expect(Swift.abs(rates[6] - 0.15) < 1e-15)
  }

  @Test func aVisionTransformerOverfitsTwoHundredDigits() throws {
    let digits = try MNIST.loadBundled(split: .train).prefix(200)
    let model: Sequential<Float> = try withRandomSeed(7) {
      try Zoo.visionTransformerMNIST(layers: 1, features: 24, heads: 2, hiddenSize: 48)
    }
    let trainer = Trainer(model: model, optimizer: AdamW<Float>(learningRate: 1e-2, weightDecay: 0))
    var first = 0.0
    var last = (loss: 0.0, correct: 0)
    for step in 0..<70 {
      last = trainer.step(inputs: digits.images, labels: digits.labels)
      if step == 0 { first = last.loss }
    }
    #expect(first > 2)
    #expect(last.loss < 0.1, "loss \(first) → \(last.loss)")
    let predictions = withoutRecording { model(digits.images).argmax(alongAxis: 1) }
    #expect(predictions == digits.labels)
    let maps = try #require(
      classTokenAttentionMaps(
        of: model,
        image: digits.images.sliced(alongAxis: 0, range: 0..<1).reshaped(to: [1, 28, 28])))
    #expect(maps.shape == [2, 4, 4])
    #expect(maps.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
  }
}
