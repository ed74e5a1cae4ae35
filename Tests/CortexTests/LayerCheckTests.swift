import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Every built-in layer, checked with respect to its input and each
/// trainable parameter, in full and fast mode.
@Suite struct LayerCheckTests {
  static let names = LayerCheck.all.map(\.name)

  @Test(arguments: LayerCheckTests.names)
  func layerPasses(name: String) throws {
    let check = try #require(LayerCheck.all.first { $0.name == name })
    for mode in [GradientCheckMode.full, .fast] {
      let report = check.run(mode, 1)
      #expect(report.passed, "\(name) \(check.shape) \(mode): \(report)")
    }
    let second = check.run(.fast, 2)
    #expect(second.passed, "\(name) \(check.shape) order 2: \(second)")
  }

  @Test func reportNamesTheInputAndEveryParameter() throws {
    let model = try withRandomSeed(1) {
      try Sequential<Double> {
        try Dense(inputSize: 3, outputSize: 4)
        Tanh()
        try Dense(inputSize: 4, outputSize: 2)
      }
    }
    let input = Tensor<Double>.randomUniform([2, 3], lower: -1, upper: 1, seed: 2)
    let before = model.namedParameters.map(\.parameter.value)
    let report = checkGradients(of: model, at: input)
    #expect(report.passed)
    #expect(
      report.inputs.map { $0.name ?? "" } == ["input", "0.weight", "0.bias", "2.weight", "2.bias"])
    #expect(report.inputs.map(\.shape) == [[2, 3], [4, 3], [4], [2, 4], [2]])
    // The parameters are restored.
    #expect(model.namedParameters.map(\.parameter.value) == before)
  }

  /// A layer whose pullback for its weight is wrong (the gradient doubled)
  /// fails, and the report names the weight.
  struct WrongWeightGradient: Layer {
    let weight = Parameter(Tensor<Double>([0.5, -1.5, 2]))
    func callAsFunction(_ input: Tensor<Double>) -> Tensor<Double> {
      let w = weight.value
      return record(
        "scale", inputs: [input, w], output: input.withoutDerivative * w.withoutDerivative
      ) {
        upstream, _ in [upstream * w, upstream * input * 2]
      }
    }
    func outputShape(for input: [Int]) throws(ShapeError) -> [Int] { input }
  }

  @Test func aWrongParameterGradientIsReportedByName() {
    let report = checkGradients(of: WrongWeightGradient(), at: Tensor([1, 2, 3]))
    #expect(!report.passed)
    let worst = report.inputs.max { $0.maxRelativeError < $1.maxRelativeError }
    #expect(worst?.name == "weight")
    #expect(report.inputs.first { $0.name == "input" }?.passed == true)
    #expect(!checkGradients(of: WrongWeightGradient(), at: Tensor([1, 2, 3]), mode: .fast).passed)
  }
}

/// Parameters are found wherever a layer keeps them, and a shared one is one
/// parameter.
@Suite struct ParameterDiscoveryTests {
  struct Helper {
    let scale: Parameter<Double>
    let inner: Dense<Double>
  }

  struct Holder: Layer {
    let heads: [String: Dense<Double>]
    let pair: (Parameter<Double>, offset: Parameter<Double>)
    let helper: Helper
    let constant = Tensor<Double>([1, 2])

    func callAsFunction(_ input: Tensor<Double>) -> Tensor<Double> {
      let a = heads["left"]!(input) + heads["right"]!(input)
      return helper.inner(a) * helper.scale.value * pair.0.value + pair.offset.value
    }
    func outputShape(for input: [Int]) throws(ShapeError) -> [Int] { [input[0], 2] }
  }

  static func holder() throws -> Holder {
    try withRandomSeed(3) {
      Holder(
        heads: [
          "right": try Dense(inputSize: 2, outputSize: 2),
          "left": try Dense(inputSize: 2, outputSize: 2),
        ],
        pair: (Parameter(Tensor([1.5])), Parameter(Tensor([0.25]))),
        helper: Helper(scale: Parameter(Tensor([2])), inner: try Dense(inputSize: 2, outputSize: 2))
      )
    }
  }

  @Test func dictionariesTuplesAndStructsAreSearched() throws {
    let model = try Self.holder()
    #expect(
      model.namedParameters.map(\.name) == [
        "heads.left.weight", "heads.left.bias", "heads.right.weight", "heads.right.bias",
        "pair.0", "pair.offset", "helper.scale", "helper.inner.weight", "helper.inner.bias",
      ])
    #expect(model.parameterCount == 3 * 6 + 3)
    // Every one of them trains: each gets a nonzero gradient.
    let input = Tensor<Double>([[0.5, -1]].flatMap { $0 }).reshaped(to: [1, 2])
    let (_, gradients) = valueWithGradient(for: model.parameters) { model(input).sum() }
    #expect(gradients.allSatisfy { $0.scalars.contains { $0 != 0 } })
    #expect(checkGradients(of: model, at: input).passed)
  }

  struct Tied: Layer {
    let encoder: Dense<Double>
    let decoder: Dense<Double>
    func callAsFunction(_ input: Tensor<Double>) -> Tensor<Double> { decoder(tanh(encoder(input))) }
    func outputShape(for input: [Int]) throws(ShapeError) -> [Int] { input }
  }

  @Test func aSharedParameterIsOneParameter() throws {
    let layer = try withRandomSeed(4) { try Dense<Double>(inputSize: 3, outputSize: 3) }
    let tied = Tied(encoder: layer, decoder: layer)
    #expect(tied.namedParameters.map(\.name) == ["encoder.weight", "encoder.bias"])
    #expect(tied.parameterCount == 12)
    let input = Tensor<Double>.randomUniform([2, 3], lower: -1, upper: 1, seed: 5)
    // Its gradient is the sum over both uses, which the check confirms.
    #expect(checkGradients(of: tied, at: input).passed)
    // Decayed once: one step of plain weight decay shrinks it by (1 − lr·λ).
    let before = layer.weight.value
    let optimizer = SGD<Double>(learningRate: 0.1, weightDecay: 0.5)
    optimizer.update(tied.parameters, gradients: tied.parameters.map { Tensor.zeros($0.shape) })
    #expect(layer.weight.value.isAlmostEqual(to: before * 0.95, absoluteTolerance: 1e-15))
  }

  @Test func aFrozenParameterIsLeftAlone() throws {
    let model = try withRandomSeed(6) {
      try Sequential<Double> {
        try Dense(inputSize: 4, outputSize: 3)
        Tanh()
        try Dense(inputSize: 3, outputSize: 2)
      }
    }
    let optimizer = SGD<Double>(learningRate: 0.1, momentum: 0.9)
    let trainer = Trainer(model: model, optimizer: optimizer)
    let inputs = Tensor<Double>.randomUniform([5, 4], lower: -1, upper: 1, seed: 7)
    let labels = [0, 1, 1, 0, 1]
    trainer.step(inputs: inputs, labels: labels)
    // Freeze the first layer (the backbone) after construction.
    let backbone = model.namedParameters.filter { $0.name.hasPrefix("0.") }.map(\.parameter)
    for parameter in backbone { parameter.isTrainable = false }
    #expect(model.parameters.count == 2)
    let frozen = backbone.map(\.value)
    let head = model.namedParameters.last!.parameter.value
    for _ in 0..<3 { trainer.step(inputs: inputs, labels: labels) }
    #expect(backbone.map(\.value) == frozen)
    #expect(model.namedParameters.last!.parameter.value != head)
    // And unfrozen again, it trains.
    for parameter in backbone { parameter.isTrainable = true }
    trainer.step(inputs: inputs, labels: labels)
    #expect(backbone.map(\.value) != frozen)
  }
}
