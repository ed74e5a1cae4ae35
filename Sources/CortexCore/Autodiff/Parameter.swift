/// A tensor a model learns (a weight or a bias) or keeps as state (batch
/// norm's running statistics).
///
/// Parameters are reference types because their identity matters: a layer
/// holds one, an optimizer updates it in place, and a checkpoint names it.
/// While a gradient is being computed for a parameter, reading ``value``
/// inside the computation gives the recorded version of it.
public final class Parameter<Scalar: TensorScalar>: @unchecked Sendable {
  var stored: Tensor<Scalar>
  /// Whether optimizers update it; `false` for state such as running means
  /// (PyTorch's buffers), which checkpoints still save, and for a frozen
  /// weight. It can be changed at any time: an optimizer leaves a parameter
  /// that is not trainable untouched (no step, no momentum, no decay), and
  /// a ``Trainer`` computes no gradient for it.
  public var isTrainable: Bool

  public init(_ value: Tensor<Scalar>, trainable: Bool = true) {
    stored = value.withoutDerivative
    isTrainable = trainable
  }

  /// The current value, or, inside ``valueWithGradient(for:of:)``, the
  /// value as recorded on the active tape.
  public var value: Tensor<Scalar> {
    get {
      if let tape = ActiveTape.current as? Tape<Scalar>, let bound = tape.binding(of: self) {
        return bound
      }
      return stored
    }
    set { stored = newValue.withoutDerivative }
  }

  public var shape: [Int] { stored.shape }
}

extension Tape {
  func binding(of parameter: Parameter<Scalar>) -> Tensor<Scalar>? {
    bindings[ObjectIdentifier(parameter)]
  }
}

/// The value of `f` and its gradient with respect to each parameter, in
/// order. `f` reads the parameters' values (typically by running a model)
/// and must return one scalar. Like ``valueWithGradient(at:of:)-([Tensor<Scalar>],_)``,
/// it nests inside another gradient computation.
public func valueWithGradient<Scalar>(
  for parameters: [Parameter<Scalar>], of f: () throws -> Tensor<Scalar>
) rethrows -> (value: Tensor<Scalar>, gradients: [Tensor<Scalar>]) {
  let (output, pullback) = try recordForBackward(at: [], parameters: parameters) { _ in try f() }
  precondition(
    output.scalarCount == 1,
    "gradient: the function must return one scalar, found a tensor of shape \(output.shape)")
  return (output, pullback(Tensor(repeating: 1, shape: output.shape)))
}

/// Runs `body` with each parameter reading the given value: bound on the
/// active tape when one is recording, so that gradients flow to `values`,
/// or stored in the parameter otherwise.
package func withParameters<Scalar, R>(
  _ parameters: [Parameter<Scalar>], at values: [Tensor<Scalar>], _ body: () -> R
) -> R {
  if let tape = ActiveTape.current as? Tape<Scalar> {
    let previous = parameters.map { tape.bindings[ObjectIdentifier($0)] }
    for (parameter, value) in zip(parameters, values) {
      tape.bindings[ObjectIdentifier(parameter)] = value
    }
    defer {
      for (parameter, value) in zip(parameters, previous) {
        tape.bindings[ObjectIdentifier(parameter)] = value
      }
    }
    return body()
  }
  for (parameter, value) in zip(parameters, values) { parameter.value = value }
  return body()
}
