import CortexCore
import Synchronization

/// Inverted dropout: in training, each element is zeroed with probability
/// `p` and the rest scaled by 1/(1 − p); at inference, the identity.
public struct Dropout<Scalar: TensorScalar>: Layer {
  public let probability: Double
  private let generator: SharedGenerator

  /// The mask's generator is seeded from the library's global generator
  /// (see ``setRandomSeed(_:)``), so runs are reproducible.
  public init(probability: Double) throws(HyperparameterError) {
    try HyperparameterError.require(probability, in: 0...1, "probability", of: "Dropout")
    self.probability = probability
    let seed = withGlobalGenerator { $0.next() }
    generator = SharedGenerator(seed: seed)
  }

  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    let training = LearningPhase.current == .training
    guard training && probability > 0 else { return input }
    return generator.draw {
      dropout(input, probability: Scalar(probability), training: true, generator: &$0)
    }
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] { input }
  public var isElementwise: Bool { true }
}

/// A seeded generator shared by the copies of a layer's value (a deep
/// ``Layer/copy()`` gets a generator of its own), used by one thread at a
/// time.
final class SharedGenerator: Sendable {
  private let state: Mutex<SeededGenerator>

  init(seed: UInt64) {
    state = Mutex(SeededGenerator(seed: seed))
  }

  private init(_ generator: SeededGenerator) {
    state = Mutex(generator)
  }

  func draw<R>(_ body: (inout SeededGenerator) -> R) -> R {
    state.withLock { body(&$0) }
  }

  func reseed(_ seed: UInt64) {
    state.withLock { $0 = SeededGenerator(seed: seed) }
  }
}

extension SharedGenerator: DeepCopyable {
  /// A generator of its own, in this one's current state.
  func deepCopy() -> AnyObject { SharedGenerator(state.withLock { $0 }) }
}

extension Layer {
  /// Reseeds the generators of the layers that draw random numbers
  /// (dropout), each from `seed` and its position in the model, so that a
  /// run resumed at an epoch boundary draws what an uninterrupted run
  /// would have drawn.
  public func reseedRandomLayers(seed: UInt64) {
    var seeds = SeededGenerator(seed: seed)
    forEachStoredValue(in: self) { _, value in
      (value as? SharedGenerator)?.reseed(seeds.next())
    }
  }
}

/// Batch normalization over the channels of `[N, C, H, W]` (or the
/// features of `[N, C]`): batch statistics in training, updating running
/// statistics with `momentum`; the running statistics at inference.
///
/// Its state dict entries follow PyTorch's `BatchNorm2d`: `weight`, `bias`,
/// `running_mean`, `running_var`.
public struct BatchNorm2D<Scalar: TensorScalar>: Layer, CustomReflectable {
  /// γ, `[C]`, starting at 1.
  public let weight: Parameter<Scalar>
  /// β, `[C]`, starting at 0.
  public let bias: Parameter<Scalar>
  public let runningMean: Parameter<Scalar>
  public let runningVariance: Parameter<Scalar>
  public let momentum: Double
  public let epsilon: Double

  public init(channels: Int, momentum: Double = 0.1, epsilon: Double = 1e-5)
    throws(HyperparameterError)
  {
    try HyperparameterError.requirePositive(channels, "channels", of: "BatchNorm2D")
    try HyperparameterError.require(momentum, in: 0...1, "momentum", of: "BatchNorm2D")
    guard epsilon > 0 && epsilon.isFinite else {
      throw HyperparameterError("BatchNorm2D: epsilon must be positive, found \(epsilon)")
    }
    weight = Parameter(.ones([channels]))
    bias = Parameter(.zeros([channels]))
    runningMean = Parameter(.zeros([channels]), trainable: false)
    runningVariance = Parameter(.ones([channels]), trainable: false)
    self.momentum = momentum
    self.epsilon = epsilon
  }

  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    var statistics = BatchNormStatistics(mean: runningMean.value, variance: runningVariance.value)
    let training = LearningPhase.current == .training
    let output = batchNorm(
      input, scale: weight.value, offset: bias.value, statistics: &statistics, training: training,
      momentum: Scalar(momentum), epsilon: Scalar(epsilon))
    if training {
      runningMean.updateState(statistics.mean)
      runningVariance.updateState(statistics.variance)
    }
    return output
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    guard input.count >= 2, input[1] == weight.shape[0] else {
      throw ShapeError(
        "BatchNorm2D expects \(weight.shape[0]) channels on axis 1, found input shape \(input)")
    }
    return input
  }

  public var customMirror: Mirror {
    Mirror(
      self,
      children: [
        (label: "weight", value: weight as Any), (label: "bias", value: bias as Any),
        (label: "running_mean", value: runningMean as Any),
        (label: "running_var", value: runningVariance as Any),
      ])
  }
}
