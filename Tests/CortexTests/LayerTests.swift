import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// A custom layer like the documentation's, a struct of layers, with tanh
/// (smooth everywhere, for gradient checks) and its own `outputShape`.
struct TwoLayerNet: Layer {
  let hidden: Dense<Double>
  let output: Dense<Double>

  init(inputs: Int = 784, hiddenUnits: Int = 100, classes: Int = 10) throws {
    hidden = try Dense(inputSize: inputs, outputSize: hiddenUnits)
    output = try Dense(inputSize: hiddenUnits, outputSize: classes)
  }

  func callAsFunction(_ x: Tensor<Double>) -> Tensor<Double> {
    output(tanh(hidden(x)))
  }

  func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    try output.outputShape(for: hidden.outputShape(for: input))
  }
}

/// The gradient of `loss` with respect to each parameter, against central
/// differences on every element; returns the largest relative error.
func parameterGradientError(
  _ parameters: [Parameter<Double>], _ loss: () -> Tensor<Double>
) -> Double {
  let (_, analytic) = valueWithGradient(for: parameters, of: loss)
  var worst = 0.0
  let h = 1e-6
  for (parameter, gradient) in zip(parameters, analytic) {
    let original = parameter.value
    for i in 0..<original.scalarCount {
      var scalars = original.scalars
      scalars[i] += h
      parameter.value = Tensor(shape: original.shape, scalars: scalars)
      let up = withoutRecording { loss().scalar }
      scalars[i] -= 2 * h
      parameter.value = Tensor(shape: original.shape, scalars: scalars)
      let down = withoutRecording { loss().scalar }
      parameter.value = original
      let numeric = (up - down) / (2 * h)
      let a = gradient.scalars[i]
      worst = max(worst, abs(a - numeric) / max(abs(a) + abs(numeric), 1e-8))
    }
  }
  return worst
}

@Suite struct LayerTests {
  @Test func aCustomLayerFindsItsParametersByPropertyName() throws {
    let net = try TwoLayerNet(inputs: 6, hiddenUnits: 4, classes: 3)
    #expect(
      net.namedParameters.map(\.name) == [
        "hidden.weight", "hidden.bias", "output.weight", "output.bias",
      ])
    #expect(net.parameterCount == 6 * 4 + 4 + 4 * 3 + 3)
    #expect(try net.outputShape(for: [5, 6]) == [5, 3])
    #expect(throws: ShapeError("Dense expects 6 input features, found 7 (input shape [5, 7])")) {
      try net.outputShape(for: [5, 7])
    }
  }

  @Test func aCustomLayerIsGradientChecked() throws {
    let net = try withRandomSeed(21) { try TwoLayerNet(inputs: 5, hiddenUnits: 4, classes: 3) }
    let x = Tensor<Double>.randomNormal([2, 5], seed: 2)
    let labels = [2, 0]
    let error = parameterGradientError(net.parameters) {
      softmaxCrossEntropy(logits: net(x), labels: labels)
    }
    #expect(error < 1e-7)
    #expect(checkGradients(at: x) { net($0) }.passed)
  }

  @Test func layersInsideSequentialsAreGradientChecked() throws {
    let model = try withRandomSeed(8) {
      try Sequential<Double> {
        try Conv2D(inputChannels: 2, outputChannels: 3, filterSize: 3, stride: 2, padding: 1)
        Tanh()
        try Residual {
          try Conv2D(inputChannels: 3, outputChannels: 3, filterSize: 3, padding: 1)
          Sigmoid()
        }
        try AvgPool2D(size: 2)
        Flatten()
        try Maxout(inputSize: 12, units: 2, pieces: 3)
      }
    }
    let x = Tensor<Double>.randomNormal([2, 2, 7, 7], seed: 4)
    #expect(try model.outputShape(for: [2, 2, 7, 7]) == [2, 2])
    #expect(model(x).shape == [2, 2])
    let error = parameterGradientError(model.parameters) { square(model(x)).sum() }
    #expect(error < 1e-6)
  }

  @Test func nestedSequentialsNameParametersByPosition() throws {
    let model = try Sequential<Float> {
      try Sequential {
        try Dense(inputSize: 3, outputSize: 2, useBias: false)
        ReLU()
      }
      try BatchNorm2D(channels: 2)
    }
    #expect(
      model.namedParameters.map(\.name) == [
        "0.0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var",
      ])
    // Running statistics are state: saved, never trained.
    #expect(model.parameters.count == 3)
    #expect(model.stateDictionary.count == 5)
  }

  @Test func impossibleHyperparametersAreThrownErrors() {
    #expect(throws: HyperparameterError("Conv2D: outputChannels must be positive, found 0")) {
      try Conv2D<Float>(inputChannels: 3, outputChannels: 0, filterSize: 5)
    }
    #expect(throws: HyperparameterError("Conv2D: stride must be positive, found 0")) {
      try Conv2D<Float>(inputChannels: 3, outputChannels: 4, filterSize: 5, stride: 0)
    }
    #expect(throws: HyperparameterError("Conv2D: padding must not be negative, found -1")) {
      try Conv2D<Float>(inputChannels: 3, outputChannels: 4, filterSize: 5, padding: -1)
    }
    #expect(
      throws: HyperparameterError(
        "MaxPool2D: padding 2 is more than half of the 3×3 window")
    ) {
      try MaxPool2D<Float>(size: 3, stride: 1, padding: 2)
    }
    #expect(throws: HyperparameterError("AvgPool2D: size must be positive, found 0")) {
      try AvgPool2D<Float>(size: 0)
    }
    #expect(throws: HyperparameterError("Dense: inputSize must be positive, found -3")) {
      try Dense<Float>(inputSize: -3, outputSize: 4)
    }
    #expect(throws: HyperparameterError("Maxout: pieces must be positive, found 0")) {
      try Maxout<Float>(inputSize: 3, units: 4, pieces: 0)
    }
    #expect(throws: HyperparameterError("Dropout: probability must be in 0.0...1.0, found 1.5")) {
      try Dropout<Float>(probability: 1.5)
    }
    #expect(throws: HyperparameterError("BatchNorm2D: momentum must be in 0.0...1.0, found -0.1")) {
      try BatchNorm2D<Float>(channels: 4, momentum: -0.1)
    }
    #expect(throws: HyperparameterError.self) { try Zoo.lenet5(classes: 0) as Sequential<Float> }
  }

  @Test func aFilterThatDoesNotFitIsFoundBeforeRunning() throws {
    let model = try Sequential<Float> {
      try Conv2D(inputChannels: 1, outputChannels: 2, filterSize: 3, stride: 3)
    }
    #expect(
      throws: ShapeError(
        "layer 0 (Conv2D): (7 − 3 + 2·0)/3 + 1 = 2.33: a 3×3 filter with stride 3 does not fit a 7×7 input"
      )
    ) {
      try model.outputShape(for: [1, 1, 7, 7])
    }
  }

  @Test func dropoutDropsInTrainingOnlyAndReseedsReproducibly() throws {
    let dropout = try Dropout<Float>(probability: 0.5)
    let x = Tensor<Float>.ones([1000])
    let first = withLearningPhase(.training) { dropout(x) }
    let zeros = first.scalars.filter { $0 == 0 }.count
    #expect((400...600).contains(zeros))
    #expect(first.scalars.allSatisfy { $0 == 0 || $0 == 2 })
    #expect(withLearningPhase(.inference) { dropout(x) } == x)
    let model = Sequential<Float>([dropout])
    model.reseedRandomLayers(seed: 9)
    let a = withLearningPhase(.training) { model(x) }
    model.reseedRandomLayers(seed: 9)
    let b = withLearningPhase(.training) { model(x) }
    #expect(a == b)
  }
}

@Suite struct InitializerTests {
  @Test func seededWeightsAreReproducible() throws {
    let a = try withRandomSeed(42) {
      try Conv2D<Float>(inputChannels: 3, outputChannels: 8, filterSize: 3)
    }
    let b = try withRandomSeed(42) {
      try Conv2D<Float>(inputChannels: 3, outputChannels: 8, filterSize: 3)
    }
    let c = try withRandomSeed(43) {
      try Conv2D<Float>(inputChannels: 3, outputChannels: 8, filterSize: 3)
    }
    #expect(a.weight.value == b.weight.value)
    #expect(a.bias?.value == b.bias?.value)
    #expect(a.weight.value != c.weight.value)
  }

  @Test(arguments: [
    (Initializer.glorotUniform, (6.0 / 500).squareRoot()),
    (.heUniform, (6.0 / 200).squareRoot()),
    (.lecunUniform, 1 / 200.0.squareRoot()),
  ])
  func uniformInitializersFillTheirRange(initializer: Initializer, bound: Double) {
    var generator = SeededGenerator(seed: 1)
    let w: Tensor<Double> = initializer.make(
      [300, 200], fanIn: 200, fanOut: 300, using: &generator)
    let scalars = w.scalars
    #expect(scalars.allSatisfy { abs($0) <= bound })
    #expect(scalars.max()! > 0.99 * bound)
    #expect(scalars.min()! < -0.99 * bound)
    #expect(abs(w.mean().scalar) < 0.01 * bound)
  }

  @Test(arguments: [
    (Initializer.glorotNormal, (2.0 / 500).squareRoot()),
    (.heNormal, (2.0 / 200).squareRoot()),
    (.normal(standardDeviation: 0.01), 0.01),
  ])
  func normalInitializersHaveTheirDeviation(initializer: Initializer, deviation: Double) {
    var generator = SeededGenerator(seed: 2)
    let w: Tensor<Double> = initializer.make(
      [300, 200], fanIn: 200, fanOut: 300, using: &generator)
    let measured = sqrt(square(w - w.mean()).mean().scalar)
    #expect(abs(measured / deviation - 1) < 0.02)
  }

  @Test func constantsAndZeros() {
    var generator = SeededGenerator(seed: 3)
    let c: Tensor<Float> = Initializer.constant(0.25).make(
      [2, 3], fanIn: 3, fanOut: 2, using: &generator)
    let z: Tensor<Float> = Initializer.zeros.make([4], fanIn: 1, fanOut: 1, using: &generator)
    #expect(c == Tensor(repeating: 0.25, shape: [2, 3]))
    #expect(z == Tensor.zeros([4]))
  }
}

@Suite struct OptimizerTests {
  /// Two steps on p = 1 with the constant gradient 0.5, by hand:
  /// g' = g + λp, v = μv + g', p −= ηv (Nesterov: p −= η(g' + μv)).
  @Test func sgdWithMomentumAndWeightDecayMatchesTheFormula() {
    let p = Parameter(Tensor<Double>([1]))
    let sgd = SGD<Double>(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
    sgd.update([p], gradients: [Tensor([0.5])])
    #expect(abs(p.value.scalars[0] - 0.949) < 1e-15)
    sgd.update([p], gradients: [Tensor([0.5])])
    #expect(abs(p.value.scalars[0] - 0.852151) < 1e-15)
  }

  @Test func nesterovLooksAhead() {
    let p = Parameter(Tensor<Double>([1]))
    let sgd = SGD<Double>(learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01)
    sgd.update([p], gradients: [Tensor([0.5])])
    #expect(abs(p.value.scalars[0] - 0.9031) < 1e-15)
  }

  /// With bias correction, Adam's first steps on a constant gradient move
  /// each parameter by the learning rate; without it the first step
  /// would be 3.2 times larger.
  @Test func adamCorrectsTheBiasOfItsMoments() {
    let p = Parameter(Tensor<Double>([1, -2]))
    let adam = Adam<Double>(learningRate: 0.1)
    adam.update([p], gradients: [Tensor([0.5, -3])])
    #expect(p.value.isAlmostEqual(to: Tensor([0.9, -1.9]), absoluteTolerance: 1e-7))
    adam.update([p], gradients: [Tensor([0.5, -3])])
    #expect(p.value.isAlmostEqual(to: Tensor([0.8, -1.8]), absoluteTolerance: 1e-7))
  }

  @Test func rmspropAndAdadeltaFirstSteps() {
    // RMSProp: v = (1 − α)g², p −= ηg/(√v + ε).
    let p = Parameter(Tensor<Double>([1]))
    RMSProp<Double>(learningRate: 0.01, alpha: 0.99, epsilon: 0).update(
      [p], gradients: [Tensor([2])])
    #expect(abs(p.value.scalars[0] - (1 - 0.01 * 2 / (0.01 * 4).squareRoot())) < 1e-15)
    // Adadelta: v = (1 − ρ)g², Δ = √ε/√(v + ε)·g.
    let q = Parameter(Tensor<Double>([1]))
    Adadelta<Double>(learningRate: 1, rho: 0.9, epsilon: 1e-6).update([q], gradients: [Tensor([2])])
    let delta = (1e-6).squareRoot() / (0.1 * 4 + 1e-6).squareRoot() * 2
    #expect(abs(q.value.scalars[0] - (1 - delta)) < 1e-15)
  }

  /// Each optimizer lowers the loss of a small least-squares problem.
  @Test(arguments: OptimizerKind.allCases)
  func everyOptimizerDescends(kind: OptimizerKind) {
    let w = Parameter(Tensor<Float>([0.5, -0.5, 0.25]))
    let x = Tensor<Float>(shape: [4, 3], scalars: [1, 2, 0, -1, 0, 1, 0.5, 0.5, 0.5, 2, -1, 1])
    let y = Tensor<Float>([1, 0, 0.5, -1])
    let optimizer = kind.make(learningRate: kind == .adadelta ? 1 : 0.01)
    let loss = { square(matmul(x, w.value) - y).mean() }
    let before = loss().scalar
    for _ in 0..<50 {
      let (_, gradients) = valueWithGradient(for: [w], of: loss)
      optimizer.update([w], gradients: gradients)
    }
    #expect(loss().scalar < before)
  }
}

@Suite struct ScheduleTests {
  @Test func stepDecayDividesEveryStep() {
    let schedule = StepDecay(stepSize: 3, factor: 0.1)
    let rates = (0..<7).map { schedule.learningRate(epoch: $0, base: 1, metric: nil) }
    let expected = [1, 1, 1, 0.1, 0.1, 0.1, 0.01]
    #expect(zip(rates, expected).allSatisfy { abs($0 - $1) < 1e-15 })
  }

  @Test func cosineGoesFromTheBaseToTheMinimum() {
    let schedule = CosineSchedule(epochs: 4, minimum: 0.1)
    #expect(schedule.learningRate(epoch: 0, base: 1, metric: nil) == 1)
    #expect(abs(schedule.learningRate(epoch: 2, base: 1, metric: nil) - 0.55) < 1e-15)
    #expect(abs(schedule.learningRate(epoch: 4, base: 1, metric: nil) - 0.1) < 1e-15)
  }

  /// ResNet's recipe: divide by 10 once the metric has failed to improve
  /// for more than `patience` epochs.
  @Test func plateauDividesByTenAfterPatienceRunsOut() {
    let schedule = DivideOnPlateau(patience: 2)
    let metrics = [1, 0.9, 0.95, 0.95, 0.95, 0.95, 0.8]
    let rates = metrics.enumerated().map {
      schedule.learningRate(epoch: $0.offset, base: 1, metric: $0.element)
    }
    #expect(rates.map { ($0 * 1000).rounded() / 1000 } == [1, 1, 1, 1, 0.1, 0.1, 0.1])
  }
}
