import Testing

@testable import CortexCore
@testable import CortexNN
@testable import CortexTraining

/// Freezing and unfreezing at any time takes effect at the next step.
@Suite struct FreezingTests {
  static func model() throws -> Sequential<Double> {
    try withRandomSeed(21) {
      try Sequential<Double> {
        try Dense(inputSize: 4, outputSize: 3)
        Tanh()
        try Dense(inputSize: 3, outputSize: 2)
      }
    }
  }

  static let inputs = Tensor<Double>.randomUniform([5, 4], lower: -1, upper: 1, seed: 22)
  static let labels = [0, 1, 1, 0, 1]

  static func backbone(of model: Sequential<Double>) -> [Parameter<Double>] {
    model.namedParameters.filter { $0.name.hasPrefix("0.") }.map(\.parameter)
  }

  /// A backbone frozen before the trainer exists trains once unfrozen; its
  /// Adam state is created then, with a bias correction of its own: its
  /// first update is exactly a fresh Adam's first update.
  @Test func aBackboneFrozenFromTheStartTrainsOnceUnfrozen() throws {
    let model = try Self.model()
    let backbone = Self.backbone(of: model)
    for parameter in backbone { parameter.isTrainable = false }
    let optimizer = Adam<Double>(learningRate: 0.01)
    let trainer = Trainer(model: model, optimizer: optimizer)
    #expect(trainer.parameters.count == 4)
    let frozen = backbone.map(\.value)
    for _ in 0..<3 { trainer.step(inputs: Self.inputs, labels: Self.labels) }
    #expect(backbone.map(\.value) == frozen)
    #expect(optimizer.state.map(\.count) == [0, 0, 2, 2])
    #expect(optimizer.updateCounts == [0, 0, 3, 3])

    // What a fresh Adam does with the backbone's gradient at this point.
    let (_, gradients) = valueWithGradient(for: trainer.parameters) {
      softmaxCrossEntropy(logits: model(Self.inputs), labels: Self.labels)
    }
    let fresh = backbone.map { Parameter($0.value) }
    Adam<Double>(learningRate: 0.01).update(fresh, gradients: Array(gradients.prefix(2)))

    for parameter in backbone { parameter.isTrainable = true }
    trainer.step(inputs: Self.inputs, labels: Self.labels)
    #expect(optimizer.state.map(\.count) == [2, 2, 2, 2])
    #expect(optimizer.updateCounts == [1, 1, 4, 4])
    for ((trained, expected), before) in zip(zip(backbone, fresh), frozen) {
      #expect(trained.value != before)
      #expect(trained.value.isAlmostEqual(to: expected.value, absoluteTolerance: 1e-15))
    }
  }

  /// A trainer's steps with the backbone frozen equal the optimizer's
  /// updates with zero gradients for the frozen parameters, bit for bit.
  @Test func frozenParametersNeedNoGradient() throws {
    let (model, reference) = (try Self.model(), try Self.model())
    for parameter in Self.backbone(of: model) + Self.backbone(of: reference) {
      parameter.isTrainable = false
    }
    let sgd = { SGD<Double>(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01) }
    let trainer = Trainer(model: model, optimizer: sgd())
    let optimizer = sgd()
    let parameters = reference.namedParameters.map(\.parameter)
    for _ in 0..<3 {
      trainer.step(inputs: Self.inputs, labels: Self.labels)
      let (_, trainableGradients) = valueWithGradient(for: parameters.filter(\.isTrainable)) {
        softmaxCrossEntropy(logits: reference(Self.inputs), labels: Self.labels)
      }
      var next = trainableGradients.makeIterator()
      let gradients = parameters.map { $0.isTrainable ? next.next()! : Tensor.zeros($0.shape) }
      optimizer.update(parameters, gradients: gradients)
    }
    #expect(trainer.parameters.map(\.value) == parameters.map(\.value))
    #expect(
      trainer.parameters.map(\.value) != (try Self.model()).namedParameters.map(\.parameter.value))
  }

  /// Frozen later, a parameter keeps its value and its momentum; a
  /// checkpoint saved meanwhile restores an optimizer that goes on exactly
  /// as the original does.
  @Test func freezingLaterKeepsStateAndACheckpointCarriesIt() throws {
    let model = try Self.model()
    let optimizer = SGD<Double>(learningRate: 0.1, momentum: 0.9)
    let trainer = Trainer(model: model, optimizer: optimizer)
    trainer.step(inputs: Self.inputs, labels: Self.labels)
    let backbone = Self.backbone(of: model)
    let velocity = optimizer.state[0][0]
    for parameter in backbone { parameter.isTrainable = false }
    let frozen = backbone.map(\.value)
    trainer.step(inputs: Self.inputs, labels: Self.labels)
    #expect(backbone.map(\.value) == frozen)
    #expect(optimizer.state[0][0] == velocity)
    #expect(optimizer.updateCounts == [1, 1, 2, 2])

    let names = model.namedParameters.map(\.name)
    let saved = optimizer.stateDictionary(parameterNames: names)
    #expect(saved["optimizer.0.weight.step"]?.scalar == 1)
    // A parameter updated at every step needs no count of its own.
    #expect(saved["optimizer.2.weight.step"] == nil)
    #expect(saved["optimizer.step"]?.scalar == 2)
    let copy = try model.copy()
    let restored = SGD<Double>(learningRate: 0.1, momentum: 0.9)
    try restored.load(
      stateDictionary: saved, parameterNames: names,
      shapes: model.namedParameters.map(\.parameter.shape))
    #expect(restored.updateCounts == optimizer.updateCounts)
    #expect(restored.state == optimizer.state)

    for parameter in backbone + Self.backbone(of: copy) { parameter.isTrainable = true }
    trainer.step(inputs: Self.inputs, labels: Self.labels)
    Trainer(model: copy, optimizer: restored).step(inputs: Self.inputs, labels: Self.labels)
    #expect(copy.stateDictionary == model.stateDictionary)
    #expect(backbone.map(\.value) != frozen)
  }

  /// A parameter saved before its first update has no state in the
  /// checkpoint and gets it at its first update after loading.
  @Test func aParameterNeverUpdatedIsSavedWithoutState() throws {
    let model = try Self.model()
    let backbone = Self.backbone(of: model)
    for parameter in backbone { parameter.isTrainable = false }
    let optimizer = Adam<Double>()
    let trainer = Trainer(model: model, optimizer: optimizer)
    trainer.step(inputs: Self.inputs, labels: Self.labels)
    let names = model.namedParameters.map(\.name)
    let saved = optimizer.stateDictionary(parameterNames: names)
    #expect(saved["optimizer.0.weight.step"]?.scalar == 0)
    #expect(saved["optimizer.0.weight.m"] == nil)
    #expect(saved["optimizer.2.weight.m"] != nil)
    let restored = Adam<Double>()
    try restored.load(
      stateDictionary: saved, parameterNames: names,
      shapes: model.namedParameters.map(\.parameter.shape))
    #expect(restored.state.map(\.count) == [0, 0, 2, 2])
    // A count that is not a whole number is an error naming the entry.
    var broken = saved
    broken["optimizer.2.bias.step"] = Tensor(1.5)
    #expect(
      throws: ShapeError("optimizer.2.bias.step must be a non-negative whole scalar, found 1.5")
    ) {
      try restored.load(
        stateDictionary: broken, parameterNames: names,
        shapes: model.namedParameters.map(\.parameter.shape))
    }
  }
}
