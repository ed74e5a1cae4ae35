import CortexCore

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
/// `hidden.bias`, `output.weight`, `output.bias`. Discovery looks into
/// nested layers, arrays (`blocks.0.weight`), dictionaries (named by key:
/// `heads.left.weight`), tuples (`pair.0`, or the element's label), plain
/// structs and optionals. It does not look into other classes than
/// ``Parameter``.
///
/// A layer is a struct of references: `let m2 = m1` gives a second value
/// holding the *same* ``Parameter`` objects, so training one trains both.
/// `let m2 = try m1.copy()` (see ``copy()``) gives a deep copy whose
/// parameters are its own. A parameter held in two places (tied weights)
/// is one parameter: listed once, under the first name found, its
/// gradients from every use summed, decayed once.
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
  /// declaration order; both trainable ones and state. A parameter held in
  /// several places is listed once, under the first name.
  public var namedParameters: [(name: String, parameter: Parameter<Scalar>)] {
    var found: [(name: String, parameter: Parameter<Scalar>)] = []
    var seen = Set<ObjectIdentifier>()
    forEachStoredValue(in: self) { name, value in
      if let parameter = value as? Parameter<Scalar>,
        seen.insert(ObjectIdentifier(parameter)).inserted
      {
        found.append((name, parameter))
      }
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
/// looking into nested layers, arrays, dictionaries (by key, in key
/// order), tuples and structs; an optional keeps the name of its property.
/// Tensors and class instances are visited, not looked into.
func forEachStoredValue(in layer: Any, prefix: String = "", _ visit: (String, Any) -> Void) {
  let mirror = Mirror(reflecting: layer)
  var children = mirror.children.enumerated().map { offset, child in
    // Property wrappers store `_name`; unlabeled tuple elements are `.0`.
    (
      label: child.label.map {
        $0.hasPrefix("_") || $0.hasPrefix(".") ? String($0.dropFirst()) : $0
      } ?? String(offset),
      value: child.value
    )
  }
  if mirror.displayStyle == .dictionary {
    children = children.compactMap { entry in
      let pair = Mirror(reflecting: entry.value).children.map(\.value)
      return pair.count == 2 ? (label: "\(pair[0])", value: pair[1]) : nil
    }.sorted { $0.label < $1.label }
  }
  for (label, child) in children {
    var value = child
    // Optionals first: a dynamic cast would look through them.
    var mirror = Mirror(reflecting: value)
    while mirror.displayStyle == .optional {
      guard let wrapped = mirror.children.first?.value else { break }
      value = wrapped
      mirror = Mirror(reflecting: value)
    }
    if mirror.displayStyle == .optional { continue }
    let name = prefix.isEmpty ? label : prefix + "." + label
    let container: Bool
    switch mirror.displayStyle {
    case .collection, .dictionary, .tuple: container = true
    case .struct: container = !(value is any TensorValue)
    default: container = value is any Layer
    }
    if container {
      forEachStoredValue(in: value, prefix: name, visit)
    } else {
      visit(name, value)
    }
  }
}

/// Marks ``Tensor`` for parameter discovery, which does not look into it.
protocol TensorValue {}
extension Tensor: TensorValue {}

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
