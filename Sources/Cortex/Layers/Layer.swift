/// A building block of a model: a function of one tensor, with parameters
/// that are discovered, never listed by hand.
///
/// A user-defined layer is a struct of layers with a `callAsFunction`:
///
/// ```swift
/// struct TwoLayerNet: Layer {
///   let hidden: Dense<Float>
///   let output: Dense<Float>
///
///   init(inputs: Int = 784, hiddenUnits: Int = 100, classes: Int = 10) throws {
///     hidden = try Dense(inputSize: inputs, outputSize: hiddenUnits)
///     output = try Dense(inputSize: hiddenUnits, outputSize: classes)
///   }
///
///   func callAsFunction(_ x: Tensor<Float>) -> Tensor<Float> {
///     output(relu(hidden(x)))
///   }
///
///   func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
///     try output.outputShape(for: hidden.outputShape(for: input))
///   }
/// }
/// ```
///
/// Its parameters are found by reflection and named after the properties
/// that hold them, like PyTorch's state dicts: `hidden.weight`,
/// `hidden.bias`, `output.weight`, `output.bias`.
public protocol Layer<Scalar> {
  associatedtype Scalar: TensorScalar

  /// Applies the layer.
  func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar>

  /// The shape of the output for an input of the given shape, or a thrown
  /// error saying why that input cannot work. Runs no computation.
  func outputShape(for input: [Int]) throws(ShapeError) -> [Int]

  /// Whether the layer's output is computed elementwise in place of its
  /// input in memory accounting (activations, dropout): a summary counts
  /// no activation memory for it.
  var isElementwise: Bool { get }

  /// The name a summary shows.
  var summaryName: String { get }
}

extension Layer {
  public var isElementwise: Bool { false }
  public var summaryName: String {
    String(describing: type(of: self)).components(separatedBy: "<")[0]
  }

  /// The parameters, named by the properties that hold them, in
  /// declaration order; both trainable ones and state.
  public var namedParameters: [(name: String, parameter: Parameter<Scalar>)] {
    var found: [(name: String, parameter: Parameter<Scalar>)] = []
    forEachStoredValue(in: self) { name, value in
      if let parameter = value as? Parameter<Scalar> { found.append((name, parameter)) }
    }
    return found
  }

  /// The trainable parameters, in declaration order.
  public var parameters: [Parameter<Scalar>] {
    namedParameters.map(\.parameter).filter(\.isTrainable)
  }

  /// The number of trainable scalars.
  public var parameterCount: Int {
    parameters.map { $0.shape.reduce(1, *) }.reduce(0, +)
  }

  /// The values of all parameters and state by name, for a checkpoint.
  public var stateDictionary: [String: Tensor<Scalar>] {
    Dictionary(
      namedParameters.map { ($0.name, $0.parameter.value) }, uniquingKeysWith: { a, _ in a })
  }

  /// Loads values by name; every parameter must be present with its shape.
  public func load(stateDictionary: [String: Tensor<Scalar>]) throws(ShapeError) {
    for (name, parameter) in namedParameters {
      guard let value = stateDictionary[name] else {
        throw ShapeError("checkpoint has no tensor named '\(name)'")
      }
      guard value.shape == parameter.shape else {
        throw ShapeError(
          "tensor '\(name)' has shape \(value.shape) in the checkpoint, the model expects \(parameter.shape)"
        )
      }
      parameter.value = value
    }
  }
}

/// Calls `visit(name, value)` for every value stored in `layer`, named by
/// the path of properties that holds it (`0.weight`, `body.1.bias`),
/// looking into nested layers and arrays; an optional keeps the name of its
/// property.
func forEachStoredValue(in layer: Any, prefix: String = "", _ visit: (String, Any) -> Void) {
  for (offset, child) in Mirror(reflecting: layer).children.enumerated() {
    let label =
      child.label.map { $0.hasPrefix("_") ? String($0.dropFirst()) : $0 } ?? String(offset)
    var value = child.value
    // Optionals first: a dynamic cast would look through them.
    var mirror = Mirror(reflecting: value)
    while mirror.displayStyle == .optional {
      guard let wrapped = mirror.children.first?.value else { break }
      value = wrapped
      mirror = Mirror(reflecting: value)
    }
    if mirror.displayStyle == .optional { continue }
    let name = prefix.isEmpty ? label : prefix + "." + label
    if value is any Layer || mirror.displayStyle == .collection {
      forEachStoredValue(in: value, prefix: name, visit)
    } else {
      visit(name, value)
    }
  }
}

/// Whether layers run for training (dropout drops, batch norm uses batch
/// statistics) or for inference.
public enum LearningPhase: Sendable {
  case training
  case inference

  @TaskLocal static var taskLocal: LearningPhase = .training

  /// The phase in effect on the current thread or task; `.training` unless
  /// set by ``withLearningPhase(_:_:)``.
  public static var current: LearningPhase { taskLocal }
}

/// Runs `body` with the given learning phase.
public func withLearningPhase<R>(_ phase: LearningPhase, _ body: () throws -> R) rethrows -> R {
  try LearningPhase.$taskLocal.withValue(phase) { try body() }
}
