import Testing

@testable import CortexCore
@testable import CortexNN
@testable import CortexTraining

/// `copy()` gives a model with parameters of its own, ties kept.
@Suite struct LayerCopyTests {
  struct Helper {
    let scale: Parameter<Double>
    let label: String
  }

  /// Parameters in every kind of place: a dictionary, a tuple, a helper
  /// struct, an optional, an array of layers, and a tied pair.
  struct Everything: Layer {
    let heads: [String: Dense<Double>]
    let pair: (Dense<Double>, gate: Parameter<Double>)
    let helper: Helper
    let encoder: Dense<Double>
    let decoder: Dense<Double>
    let extra: Dense<Double>?
    let missing: Dense<Double>?
    let blocks: [any Layer<Double>]

    func callAsFunction(_ input: Tensor<Double>) -> Tensor<Double> {
      var x = heads["left"]!(input) + heads["right"]!(input) * helper.scale.value
      x = pair.0(tanh(x)) * pair.gate.value
      x = decoder(tanh(encoder(x)))
      x = extra!(x)
      return blocks.reduce(x) { $1($0) }
    }
    func outputShape(for input: [Int]) throws(ShapeError) -> [Int] { input }
  }

  static func everything() throws -> Everything {
    try withRandomSeed(11) {
      let tied = try Dense<Double>(inputSize: 3, outputSize: 3)
      return Everything(
        heads: [
          "left": try Dense(inputSize: 3, outputSize: 3),
          "right": try Dense(inputSize: 3, outputSize: 3),
        ],
        pair: (try Dense(inputSize: 3, outputSize: 3), gate: Parameter(Tensor([0.5]))),
        helper: Helper(scale: Parameter(Tensor([1.5]), trainable: false), label: "scale"),
        encoder: tied, decoder: tied, extra: try Dense(inputSize: 3, outputSize: 3), missing: nil,
        blocks: [Tanh(), try Dense(inputSize: 3, outputSize: 3)])
    }
  }

  @Test func aCopyTrainsAloneAndKeepsItsTies() throws {
    let model = try Self.everything()
    let copy = try model.copy()
    let input = Tensor<Double>.randomUniform([4, 3], lower: -1, upper: 1, seed: 12)

    // The same structure and values, in objects of its own.
    #expect(copy.namedParameters.map(\.name) == model.namedParameters.map(\.name))
    #expect(copy.parameterCount == model.parameterCount)
    #expect(copy.parameters.count == model.parameters.count)
    #expect(copy.stateDictionary == model.stateDictionary)
    let originals = Set(model.namedParameters.map { ObjectIdentifier($0.parameter) })
    #expect(copy.namedParameters.allSatisfy { !originals.contains(ObjectIdentifier($0.parameter)) })
    #expect(copy.encoder.weight === copy.decoder.weight)
    #expect(copy.encoder.bias === copy.decoder.bias)
    #expect(copy.helper.scale.isTrainable == false && copy.helper.label == "scale")
    #expect(copy.missing == nil)
    #expect(copy(input) == model(input))

    // One step of training moves the copy and leaves the original bit for bit.
    let before = model.stateDictionary
    let (_, gradients) = valueWithGradient(for: copy.parameters) { square(copy(input)).sum() }
    SGD<Double>(learningRate: 0.1, momentum: 0.9).update(copy.parameters, gradients: gradients)
    #expect(model.stateDictionary == before)
    let moved = copy.namedParameters.filter { before[$0.name] != $0.parameter.value }.map(\.name)
    #expect(Set(moved) == Set(model.namedParameters.filter(\.parameter.isTrainable).map(\.name)))
    #expect(copy.encoder.weight === copy.decoder.weight)
    #expect(copy(input) != model(input))
  }

  @Test func aZooModelCopiesWithItsStateAndItsDropoutGenerator() throws {
    let model = try withRandomSeed(13) { try Zoo.fashionCNN() as Sequential<Float> }
    let copy = try model.copy()
    #expect(copy.namedParameters.map(\.name) == model.namedParameters.map(\.name))
    #expect(copy.parameterCount == model.parameterCount)
    let images = Tensor<Float>.randomUniform([2, 1, 28, 28], lower: 0, upper: 1, seed: 14)
    // Dropout draws the same masks from the copied generator.
    #expect(copy(images) == model(images))
    #expect(withLearningPhase(.inference) { copy(images) == model(images) })

    let before = model.stateDictionary
    Trainer(model: copy, optimizer: SGD<Float>(learningRate: 0.1, momentum: 0.9))
      .step(inputs: images, labels: [3, 7])
    #expect(model.stateDictionary == before)
    // Weights and batch norm's running statistics moved in the copy alone.
    #expect(copy.stateDictionary["0.weight"] != before["0.weight"])
    #expect(copy.stateDictionary["1.running_mean"] != before["1.running_mean"])
  }

  @Test(arguments: ModelName.allCases)
  func everyZooModelCopies(name: ModelName) throws {
    let model = withUndrawnWeights { name.build(Float.self) }
    let copy = try model.copy()
    #expect(copy.namedParameters.map(\.name) == model.namedParameters.map(\.name))
    #expect(copy.parameterCount == model.parameterCount)
    let originals = Set(model.namedParameters.map { ObjectIdentifier($0.parameter) })
    #expect(copy.namedParameters.allSatisfy { !originals.contains(ObjectIdentifier($0.parameter)) })
  }

  struct Activated: Layer {
    let dense: Dense<Double>
    let activation: (Tensor<Double>) -> Tensor<Double>
    func callAsFunction(_ input: Tensor<Double>) -> Tensor<Double> { activation(dense(input)) }
    func outputShape(for input: [Int]) throws(ShapeError) -> [Int] { input }
  }

  struct Observed: Layer {
    let dense: Dense<Double>
    weak var observer: Parameter<Double>?
    unowned let owner: Parameter<Double>
    func callAsFunction(_ input: Tensor<Double>) -> Tensor<Double> { dense(input) }
    func outputShape(for input: [Int]) throws(ShapeError) -> [Int] { input }
  }

  @Test func weakAndUnownedReferencesAreKept() throws {
    let outside = Parameter(Tensor<Double>([1]))
    let layer = Observed(
      dense: try withRandomSeed(16) { try Dense(inputSize: 2, outputSize: 2) }, observer: outside,
      owner: outside)
    let copy = try layer.copy()
    #expect(copy.observer === outside && copy.owner === outside)
    #expect(copy.dense.weight !== layer.dense.weight)
    #expect(copy.dense.weight.value == layer.dense.weight.value)
  }

  @Test func aClosureIsKeptAsItIs() throws {
    let layer = Activated(
      dense: try withRandomSeed(15) { try Dense(inputSize: 2, outputSize: 2) }, activation: tanh)
    let copy = try layer.copy()
    let input = Tensor<Double>(shape: [1, 2], scalars: [0.5, -2])
    #expect(copy(input) == layer(input))
    #expect(copy.dense.weight !== layer.dense.weight)
  }

  enum Head {
    case dense(Dense<Double>)
    case none
  }

  struct Switched: Layer {
    let head: Head
    func callAsFunction(_ input: Tensor<Double>) -> Tensor<Double> { input }
    func outputShape(for input: [Int]) throws(ShapeError) -> [Int] { input }
  }

  @Test func anEnumHoldingAParameterIsRefusedAndOneWithoutIsKept() throws {
    let dense = try withRandomSeed(17) { try Dense<Double>(inputSize: 2, outputSize: 2) }
    #expect {
      _ = try Switched(head: .dense(dense)).copy()
    } throws: { error in
      (error as? CopyError)?.message.hasPrefix("cannot copy 'head': ") == true
        && (error as? CopyError)?.message.contains("Head holds objects") == true
    }
    let copy = try Switched(head: .none).copy()
    guard case .none = copy.head else {
      Issue.record("the enumeration changed")
      return
    }
  }

  final class Counter: Layer {
    let weight = Parameter(Tensor<Double>([1]))
    func callAsFunction(_ input: Tensor<Double>) -> Tensor<Double> { input * weight.value }
    func outputShape(for input: [Int]) throws(ShapeError) -> [Int] { input }
  }

  @Test func aClassLayerIsRefusedWithItsPlace() throws {
    let model = Sequential<Double>([Tanh(), Counter()])
    #expect {
      _ = try model.copy()
    } throws: { error in
      let message = (error as? CopyError)?.message ?? ""
      return message.hasPrefix("cannot copy 'layers.1': ") && message.contains("Counter is a class")
    }
  }
}
