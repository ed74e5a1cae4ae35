import Foundation
import Testing

@testable import CortexCore
@testable import CortexNN

/// `model(x, parameters:)`: any layer run with substituted weights,
/// differentiable with respect to them, leaving the model as it was.
@Suite struct FunctionalCallTests {
  static func mlp() -> Sequential<Double> {
    withRandomSeed(3) {
      try! Sequential<Double> {
        try Dense(inputSize: 1, outputSize: 16)
        Tanh()
        try Dense(inputSize: 16, outputSize: 1)
      }
    }
  }

  /// The same network on raw tensors, weights in `[W1, b1, W2, b2]`.
  static func rawMLP(_ w: [Tensor<Double>], _ x: Tensor<Double>) -> Tensor<Double> {
    linear(tanh(linear(x, weight: w[0], bias: w[1])), weight: w[2], bias: w[3])
  }

  static let support = (
    x: Tensor<Double>.randomUniform([10, 1], lower: -5, upper: 5, seed: 21),
    y: sin(Tensor<Double>.randomUniform([10, 1], lower: -5, upper: 5, seed: 21) + 0.5)
  )
  static let query = (
    x: Tensor<Double>.randomUniform([10, 1], lower: -5, upper: 5, seed: 22),
    y: sin(Tensor<Double>.randomUniform([10, 1], lower: -5, upper: 5, seed: 22) + 0.5)
  )

  @Test func mamlThroughASequentialEqualsTheRawComputation() {
    let model = Self.mlp()
    let weights = model.stateDictionary
    let innerRate = 0.01
    func loss(_ w: [String: Tensor<Double>], _ x: Tensor<Double>, _ y: Tensor<Double>)
      -> Tensor<Double>
    {
      meanSquaredError(predictions: model(x, parameters: w), targets: y)
    }
    let metaGradient = gradient(at: weights) { w in
      let inner = gradient(at: w) { w in loss(w, Self.support.x, Self.support.y) }
      let fast = w.merging(inner) { w, g in w - innerRate * g }
      return loss(fast, Self.query.x, Self.query.y)
    }

    let names = ["0.weight", "0.bias", "2.weight", "2.bias"]
    let raw = gradient(at: names.map { weights[$0]! }) { w in
      let inner = gradient(at: w) { w in
        meanSquaredError(predictions: Self.rawMLP(w, Self.support.x), targets: Self.support.y)
      }
      let fast = zip(w, inner).map { $0 - innerRate * $1 }
      return meanSquaredError(predictions: Self.rawMLP(fast, Self.query.x), targets: Self.query.y)
    }
    #expect(Set(metaGradient.keys) == Set(names))
    for (name, expected) in zip(names, raw) {
      expectClose(metaGradient[name]!, expected, tolerance: 1e-12)
    }
    // The second-order term matters: first-order MAML differs.
    let firstOrder = gradient(at: weights) { w in
      let inner = withoutRecording {
        gradient(at: w) { w in loss(w, Self.support.x, Self.support.y) }
      }
      return loss(w.merging(inner) { $0 - innerRate * $1 }, Self.query.x, Self.query.y)
    }
    #expect(
      !firstOrder["0.weight"]!.isAlmostEqual(
        to: metaGradient["0.weight"]!, absoluteTolerance: 1e-9, relativeTolerance: 0))
    // The model's own parameters did not move.
    #expect(model.stateDictionary == weights)
  }

  /// The meta-loss as a function of the weights passes the checker at its
  /// defaults: the meta-gradient is right, and the checker says so.
  @Test func theMetaGradientPassesTheChecker() {
    let model = Self.mlp()
    let weights = model.stateDictionary
    let names = weights.keys.sorted()
    let report = checkGradients(at: names.map { weights[$0]! }) { values in
      let w = Dictionary(uniqueKeysWithValues: zip(names, values))
      let inner = gradient(at: w) { w in
        meanSquaredError(predictions: model(Self.support.x, parameters: w), targets: Self.support.y)
      }
      let fast = w.merging(inner) { $0 - 0.01 * $1 }
      return meanSquaredError(
        predictions: model(Self.query.x, parameters: fast), targets: Self.query.y)
    }
    expectPasses(report)
  }

  @Test func theCallEqualsTheModelWithTheSameValuesAndPassesTheChecker() {
    let model = Self.mlp()
    let other = Self.mlp().stateDictionary.mapValues { $0 * 0.5 + 0.1 }
    let x = Self.support.x
    let expected = Self.rawMLP(
      ["0.weight", "0.bias", "2.weight", "2.bias"].map { other[$0]! }, x)
    expectClose(model(x, parameters: other), expected, tolerance: 0)
    let names = other.keys.sorted()
    let f: ([Tensor<Double>]) -> Tensor<Double> = { values in
      model(x, parameters: Dictionary(uniqueKeysWithValues: zip(names, values)))
    }
    expectPasses(checkGradients(at: names.map { other[$0]! }, of: f))
    expectPasses(checkGradients(at: names.map { other[$0]! }, order: 2, of: f))
  }

  /// A user struct holding a nested `Sequential` and a batch norm.
  struct Encoder: Layer {
    let stem: Conv2D<Double>
    let norm: BatchNorm2D<Double>
    let head: Sequential<Double>

    func callAsFunction(_ x: Tensor<Double>) -> Tensor<Double> {
      head(relu(norm(stem(x))))
    }

    func outputShape(for input: [Int]) throws(ShapeError) -> [Int] { [input[0], 3] }
  }

  static func encoder() -> Encoder {
    withRandomSeed(5) {
      try! Encoder(
        stem: Conv2D(inputChannels: 2, outputChannels: 4, filterSize: 3, padding: 1),
        norm: BatchNorm2D(channels: 4),
        head: Sequential {
          Flatten()
          try Dense(inputSize: 4 * 5 * 5, outputSize: 3)
        })
    }
  }

  @Test func nestedModelsTakeTheirWeightsByPathAndKeepTheirState() {
    let model = Self.encoder()
    let before = model.stateDictionary
    let trainable = model.namedParameters.filter(\.parameter.isTrainable).map(\.name)
    #expect(
      trainable == [
        "stem.weight", "stem.bias", "norm.weight", "norm.bias", "head.1.weight", "head.1.bias",
      ])
    let weights = Dictionary(uniqueKeysWithValues: trainable.map { ($0, before[$0]! * 2) })
    let x = random([2, 2, 5, 5], seed: 9)
    let y = withLearningPhase(.training) { model(x, parameters: weights) }
    // Against the model loaded with the same values, in a copy.
    let copy = try! model.copy()
    for (name, parameter) in copy.namedParameters where weights[name] != nil {
      parameter.value = weights[name]!
    }
    let expected = withLearningPhase(.training) { copy(x) }
    expectClose(y, expected, tolerance: 0)
    // The batch norm's running statistics, state, were not updated.
    #expect(model.stateDictionary == before)
    #expect(copy.stateDictionary["norm.running_mean"] != before["norm.running_mean"])
  }

  @Test func wrongWeightsAreErrorsNamingTheParameter() {
    let model = Self.mlp()
    var weights = model.stateDictionary
    weights["0.bias"] = nil
    #expect(throws: ShapeError.self) { try model.validate(parameters: weights) }
    do {
      try model.validate(parameters: weights)
    } catch {
      #expect(error.message.hasPrefix("no value for the parameter '0.bias' [16]"))
    }
    weights = model.stateDictionary
    weights["0.bias"] = .zeros([15])
    do {
      try model.validate(parameters: weights)
      Issue.record("a wrong shape was accepted")
    } catch {
      #expect(
        error.message == "the value for '0.bias' has shape [15], the parameter has shape [16]")
    }
    weights = model.stateDictionary
    weights["3.weight"] = .zeros([1])
    do {
      try model.validate(parameters: weights)
      Issue.record("an extra key was accepted")
    } catch {
      #expect(error.message.hasPrefix("'3.weight' is not a parameter of the layer"))
    }
    #expect(throws: Never.self) { try model.validate(parameters: model.stateDictionary) }
  }

  @Test func aCallWithAMissingKeyStopsNamingIt() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      let model = FunctionalCallTests.mlp()
      var weights = model.stateDictionary
      weights["2.weight"] = nil
      _ = model(Tensor<Double>.zeros([1, 1]), parameters: weights)
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains("Sequential(_:parameters:): no value for the parameter '2.weight' [1, 16]"))
  }

  @Test func treeGradientsEqualTheFlattenedOnes() {
    let tree = ["a": random([2, 3], seed: 1), "b": random([3], seed: 2)]
    let f: ([String: Tensor<Double>]) -> Tensor<Double> = { t in
      (tanh(t["a"]!) * t["b"]!).sum() * t["b"]!.sum()
    }
    let (value, g) = valueWithGradient(at: tree, of: f)
    let flat = gradient(at: [tree["a"]!, tree["b"]!]) { f(["a": $0[0], "b": $0[1]]) }
    #expect(value == f(tree))
    #expect(g["a"] == flat[0])
    #expect(g["b"] == flat[1])
  }
}
