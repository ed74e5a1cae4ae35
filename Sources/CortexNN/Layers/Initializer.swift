import CortexCore
import Synchronization

/// How a layer's weights start, as a value:
/// `Conv2D(..., weightInitializer: .heNormal)`.
///
/// `fanIn` is the number of inputs of one output unit (`C·F·F` for a
/// convolution, `in` for a dense layer), `fanOut` the number of outputs of
/// one input unit (`K·F·F`, `out`).
public enum Initializer: Sendable, Equatable {
  /// Glorot & Bengio: uniform on ±√(6 / (fanIn + fanOut)).
  case glorotUniform
  /// Glorot & Bengio: normal with standard deviation √(2 / (fanIn + fanOut)).
  case glorotNormal
  /// He et al.: uniform on ±√(6 / fanIn), for ReLU networks.
  case heUniform
  /// He et al.: normal with standard deviation √(2 / fanIn), for ReLU networks.
  case heNormal
  /// PyTorch's default for linear and convolution layers: uniform on ±1/√fanIn.
  case lecunUniform
  /// Normal with the given standard deviation.
  case normal(standardDeviation: Double)
  /// All zeros.
  case zeros
  /// Every element equal to the value.
  case constant(Double)

  /// A tensor of `shape` drawn from this distribution (left undrawn
  /// inside ``withUndrawnWeights(_:)``).
  public func make<Scalar: TensorScalar>(
    _ shape: [Int], fanIn: Int, fanOut: Int, using generator: inout SeededGenerator
  ) -> Tensor<Scalar> {
    if UndrawnWeights.isOn { return .uninitialized(shape) }
    let fanIn = Double(Swift.max(fanIn, 1))
    let fanOut = Double(Swift.max(fanOut, 1))
    func uniform(_ limit: Double) -> Tensor<Scalar> {
      .randomUniform(shape, lower: Scalar(-limit), upper: Scalar(limit), using: &generator)
    }
    func normal(_ deviation: Double) -> Tensor<Scalar> {
      .randomNormal(shape, standardDeviation: Scalar(deviation), using: &generator)
    }
    switch self {
    case .glorotUniform: return uniform((6 / (fanIn + fanOut)).squareRoot())
    case .glorotNormal: return normal((2 / (fanIn + fanOut)).squareRoot())
    case .heUniform: return uniform((6 / fanIn).squareRoot())
    case .heNormal: return normal((2 / fanIn).squareRoot())
    case .lecunUniform: return uniform(1 / fanIn.squareRoot())
    case .normal(let deviation): return normal(deviation)
    case .zeros: return .zeros(shape)
    case .constant(let value): return Tensor(repeating: Scalar(value), shape: shape)
    }
  }

  /// A tensor drawn with the library's global generator (see ``setRandomSeed(_:)``).
  public func make<Scalar: TensorScalar>(_ shape: [Int], fanIn: Int, fanOut: Int) -> Tensor<Scalar>
  {
    withGlobalGenerator { make(shape, fanIn: fanIn, fanOut: fanOut, using: &$0) }
  }
}

/// Runs `body`, in which layers get weights that are neither drawn nor
/// written: for a model built only to read its shapes and parameter counts
/// (a summary). The operating system backs memory only once it is written,
/// so even VGG16's 138 million weights cost no resident memory and no time.
/// The weights' values are undefined: never run such a model.
public func withUndrawnWeights<R>(_ body: () throws -> R) rethrows -> R {
  try UndrawnWeights.$isOn.withValue(true) { try body() }
}

enum UndrawnWeights {
  @TaskLocal static var isOn = false
}

private let globalGenerator = Mutex(SeededGenerator(seed: 0))

/// Reseeds the generator layers draw their initial weights from, so that
/// building the same model after the same seed gives the same weights.
public func setRandomSeed(_ seed: UInt64) {
  globalGenerator.withLock { $0 = SeededGenerator(seed: seed) }
}

/// Runs `body` with a generator of its own, seeded with `seed`, for the
/// layers it builds: the same seed gives the same weights whatever other
/// threads build or draw meanwhile.
///
/// ```swift
/// let model = try withRandomSeed(7) { try Zoo.lenet5() as Sequential<Float> }
/// ```
public func withRandomSeed<R>(_ seed: UInt64, _ body: () throws -> R) rethrows -> R {
  try ScopedGenerator.$current.withValue(ScopedGenerator(seed: seed)) { try body() }
}

/// The generator of a ``withRandomSeed(_:_:)`` scope. Only the scope's own
/// thread or task reaches it, one draw at a time.
final class ScopedGenerator: @unchecked Sendable {
  @TaskLocal static var current: ScopedGenerator?
  var generator: SeededGenerator

  init(seed: UInt64) { generator = SeededGenerator(seed: seed) }
}

/// Runs `body` with exclusive use of the generator in effect: the scope's
/// own inside ``withRandomSeed(_:_:)``, else the global one.
func withGlobalGenerator<R>(_ body: (inout SeededGenerator) -> R) -> R {
  if let scoped = ScopedGenerator.current { return body(&scoped.generator) }
  return globalGenerator.withLock { body(&$0) }
}
