import Testing

@testable import CortexCore
@testable import CortexNN
@testable import CortexReferenceBackend

/// The reference backend (plain loops, in a target of its own) against the
/// CPU backend (the optimized kernels): every operation of the catalog,
/// forward and gradient, and a training step, give the same numbers on
/// both devices.
///
/// Tolerance: `|reference − cpu| ≤ 1e-12 · max(1, max |cpu|)`, relative to
/// the largest element of the tensor. Both backends call the same C
/// library functions on the same Double inputs, so they differ only in
/// the order of their additions (the CPU's GEMM, convolutions and sums
/// block, vectorize and split their loops; the reference adds in index
/// order): a few ulps of the largest partial sum, about 1e-15 for these
/// sizes. 1e-12 leaves a margin of a thousand, while a wrong index or a
/// wrong formula is off by the size of the values themselves. Scaling by
/// the tensor's largest element keeps an element that cancels to nearly 0
/// (a gradient summed from terms of both signs) from failing on its
/// rounding alone.
@Suite struct ReferenceBackendTests {
  static func expectClose(
    _ actual: Tensor<Double>, _ expected: Tensor<Double>, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(
      actual.device == .reference, "\(what): on \(actual.device)", sourceLocation: sourceLocation)
    #expect(
      expected.device == .cpu, "\(what): on \(expected.device)", sourceLocation: sourceLocation)
    #expect(actual.shape == expected.shape, "\(what): shapes", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let (a, b) = (actual.scalars, expected.scalars)
    let scale = Swift.max(1, b.map(abs).max() ?? 0)
    let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
    #expect(
      worst <= 1e-12 * scale,
      "\(what): differs by \(worst) (scale \(scale)): \(a.prefix(6)) vs \(b.prefix(6))",
      sourceLocation: sourceLocation)
  }

  /// The row's output weighted by a ramp (so that every element counts
  /// differently), summed: what its gradient is taken of.
  static func weightedSum(_ y: Tensor<Double>) -> Tensor<Double> {
    (y * Tensor.linspace(from: 0.5, to: 1.5, count: y.scalarCount).reshaped(to: y.shape)).sum()
  }

  @Test(arguments: OperationCheck.all.map(\.name))
  func everyCatalogOperationMatchesTheCPU(_ name: String) {
    let row = OperationCheck.all.first { $0.name == name }!
    let points = row.points.map { $0.moved(to: .reference) }
    let (value, gradients) = withDefaultDevice(.reference) {
      (
        row.function(points),
        gradient(at: points) { Self.weightedSum(row.function($0)) }
      )
    }
    Self.expectClose(value, row.function(row.points), name)
    let expected = gradient(at: row.points) { Self.weightedSum(row.function($0)) }
    for (k, (actual, expected)) in zip(gradients, expected).enumerated() {
      Self.expectClose(actual, expected, "∇\(k) \(name)")
    }
  }

  /// Tensors reach the device and come back unchanged; creating one inside
  /// the device's scope puts it there.
  @Test func tensorsMoveToTheDeviceAndBack() {
    let x = Tensor<Double>(shape: [2, 3], scalars: [1, -2, 3, 0.5, 0, -7])
    let there = x.moved(to: .reference)
    #expect(there.device == .reference)
    #expect(Device.reference.description == "reference:0")
    #expect(there.moved(to: .cpu) == x)
    #expect(withDefaultDevice(.reference) { Tensor<Double>.zeros([2]) }.device == .reference)
    #expect((there * there).moved(to: .cpu).scalars == (x * x).scalars)
  }

  /// Three updates of every optimizer rule on each device: the same
  /// parameters and state after each.
  @Test(arguments: OptimizerUpdateTests.Configuration.allCases)
  func everyOptimizerUpdatesLikeTheCPU(_ configuration: OptimizerUpdateTests.Configuration) {
    let start = Tensor<Double>.randomUniform([3, 5], lower: -1, upper: 1, seed: 40)
    let gradients = (0..<3).map {
      Tensor<Double>.randomUniform([3, 5], lower: -1, upper: 1, seed: 41 + UInt64($0))
    }
    func run(on device: Device) -> (Parameter<Double>, any Optimizer<Double>) {
      let parameter = Parameter(start.moved(to: device))
      let optimizer = configuration.optimizer(Double.self)
      for g in gradients { optimizer.update([parameter], gradients: [g.moved(to: device)]) }
      return (parameter, optimizer)
    }
    let (parameter, optimizer) = run(on: .reference)
    let (expected, expectedOptimizer) = run(on: .cpu)
    Self.expectClose(parameter.value, expected.value, "\(configuration) parameter")
    for (state, expectedState) in zip(optimizer.state[0], expectedOptimizer.state[0]) {
      Self.expectClose(state, expectedState, "\(configuration) state")
    }
  }

  /// A small convolutional network with batch normalization, built from
  /// one seed on each device.
  static func model() throws -> Sequential<Double> {
    try withRandomSeed(31) {
      try Sequential<Double> {
        try Conv2D(inputChannels: 2, outputChannels: 4, filterSize: 3, padding: 1)
        try BatchNorm2D(channels: 4)
        ReLU()
        try MaxPool2D(size: 2)
        Flatten()
        try Dense(inputSize: 4 * 3 * 3, outputSize: 3)
      }
    }
  }

  /// Three steps of SGD with momentum on each device: the same losses, and
  /// the same weights after them.
  @Test func aTrainingStepGivesTheSameLossOnBothDevices() throws {
    let inputs = Tensor<Double>.randomUniform([4, 2, 6, 6], lower: -1, upper: 1, seed: 32)
    let labels = [0, 2, 1, 2]
    /// The losses of three steps and the trained parameters.
    func train(on device: Device) throws -> ([Double], [Tensor<Double>]) {
      try withDefaultDevice(device) {
        let model = try Self.model()
        let parameters = model.parameters
        let optimizer = SGD<Double>(learningRate: 0.1, momentum: 0.9)
        let x = inputs.moved(to: device)
        var losses: [Double] = []
        for _ in 0..<3 {
          let (loss, gradients) = valueWithGradient(for: parameters) {
            softmaxCrossEntropy(logits: model(x), labels: labels)
          }
          #expect(loss.device == device)
          losses.append(loss.scalar)
          optimizer.update(parameters, gradients: gradients)
        }
        return (losses, parameters.map(\.value))
      }
    }
    let (referenceLosses, referenceWeights) = try train(on: .reference)
    let (losses, weights) = try train(on: .cpu)
    for (step, (actual, expected)) in zip(referenceLosses, losses).enumerated() {
      #expect(abs(actual - expected) <= 1e-12 * abs(expected), "loss at step \(step)")
    }
    #expect(losses[2] < losses[0])
    for (k, (actual, expected)) in zip(referenceWeights, weights).enumerated() {
      Self.expectClose(actual, expected, "parameter \(k)")
    }
  }
}
