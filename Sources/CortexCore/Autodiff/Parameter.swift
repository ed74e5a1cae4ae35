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
  /// weight. It can be changed at any time, and the change takes effect at
  /// the next step: an optimizer leaves a parameter that is not trainable
  /// untouched (no step, no momentum, no decay), a trainer computes no
  /// gradient for it, and one unfrozen later is trained from then on.
  public var isTrainable: Bool

  public init(_ value: Tensor<Scalar>, trainable: Bool = true) {
    stored = value.withoutDerivative
    isTrainable = trainable
  }

  /// The current value: the value a functional call substitutes for it
  /// (`model(x, parameters:)`), or, inside ``valueWithGradient(for:of:)``,
  /// the value as recorded on the active tape, or else its own.
  ///
  /// Setting it replaces its own value (without derivative: a parameter is
  /// a leaf).
  ///
  /// - Precondition: no gradient of its scalar type is being recorded, and
  ///   no functional call substitutes it: the new value would silently
  ///   leave the tape (a meta-gradient through "fast weights" assigned
  ///   here comes out wrong). Run the layer with other weights through
  ///   `model(x, parameters: weights)`, which is differentiable, or set it
  ///   inside ``withoutRecording(_:)`` for a value that is not
  ///   differentiated.
  public var value: Tensor<Scalar> {
    get {
      if let substitute = ParameterSubstitution.value(of: self) { return substitute }
      if let tape = ActiveTape.current as? Tape<Scalar>, let bound = tape.binding(of: self) {
        return bound
      }
      return stored
    }
    set {
      if ActiveTape.current is Tape<Scalar> {
        preconditionFailure(
          "Parameter.value: a parameter of shape \(shape) was set while a gradient is being recorded, so the new value would leave the tape; run the layer with other weights through model(x, parameters: weights), which is differentiable, or set it inside withoutRecording { } if it is not differentiated"
        )
      }
      precondition(
        !newValue.isBatched,
        "Parameter.value: a parameter of shape \(shape) was set to a value inside vmap, which holds one value per example; return the values from vmap and set the parameter outside it"
      )
      if ParameterSubstitution.value(of: self) != nil {
        preconditionFailure(
          "Parameter.value: a parameter of shape \(shape) was set inside a functional call that substitutes it; the call's weights are its value there"
        )
      }
      stored = newValue.withoutDerivative
    }
  }

  /// Replaces the value of state that the forward pass updates (batch
  /// norm's running statistics), also while a gradient is being recorded:
  /// state is not differentiated. Inside a functional call it does
  /// nothing, so that the call leaves the model as it was.
  package func updateState(_ newValue: Tensor<Scalar>) {
    guard !ParameterSubstitution.isActive else { return }
    precondition(
      !newValue.isBatched,
      "Parameter: state of shape \(shape) (batch norm's running statistics) was updated inside vmap, which would give it one value per example; run the layer in inference mode inside vmap, or outside vmap"
    )
    stored = newValue.withoutDerivative
  }

  public var shape: [Int] { stored.shape }
}

extension Tape {
  /// The recorded value of `parameter` on this tape, recorded now if the
  /// tape binds parameters on their first read.
  func binding(of parameter: Parameter<Scalar>) -> Tensor<Scalar>? {
    let key = ObjectIdentifier(parameter)
    if let bound = bindings[key] { return bound }
    guard let bind = bindOnFirstRead, let bound = bind(key, parameter.stored) else { return nil }
    bindings[key] = bound
    return bound
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

/// The value of `f` and its gradient with respect to each parameter, each
/// handed to `ready(index, gradient)` as soon as the backward pass has
/// finished it, while the pass goes on through what ran before: for work
/// that can start on one gradient while the others are computed (a
/// distributed all-reduce).
///
/// Each parameter is recorded on the tape when `f` first reads its value,
/// followed by an identity entry. Every use of the parameter comes after
/// that entry, so when the backward walk reaches it, the gradient is
/// complete. Gradients therefore arrive in the reverse order of first
/// reads: a model's last layer first. A parameter `f` does not use gets
/// zeros after the walk. `ready` is called once per parameter, on the
/// calling thread, with `index` its position in `parameters`.
///
/// The computation runs on a tape of its own, so it cannot be nested
/// inside another gradient computation of the same scalar type (that
/// traps, rather than giving the outer gradient a silent zero).
///
/// - Parameters:
///   - parameters: the parameters to differentiate, each listed once.
///   - f: reads the parameters (typically by running a model) and returns
///     one scalar.
///   - ready: receives each parameter's index and gradient (its shape).
/// - Returns: the value of `f`, without derivatives.
public func valueWithGradientStream<Scalar>(
  for parameters: [Parameter<Scalar>], of f: () throws -> Tensor<Scalar>,
  ready: @escaping (_ index: Int, _ gradient: Tensor<Scalar>) -> Void
) rethrows -> Tensor<Scalar> {
  precondition(
    !(ActiveTape.current is Tape<Scalar>),
    "valueWithGradientStream: it runs on a tape of its own and cannot be nested inside another gradient computation"
  )
  let tape = Tape<Scalar>()
  var position: [ObjectIdentifier: Int] = [:]
  for (index, parameter) in parameters.enumerated() {
    precondition(
      position.updateValue(index, forKey: ObjectIdentifier(parameter)) == nil,
      "valueWithGradientStream: parameter \(index) is listed twice")
  }
  var delivered = [Bool](repeating: false, count: parameters.count)
  var leaves: [Int] = []
  tape.bindOnFirstRead = { [unowned tape] key, value in
    guard let index = position[key] else { return nil }
    let leaf = tape.watch(value, name: "parameter")
    leaves.append(tape.count - 1)
    return tape.append("gradient ready", inputs: [leaf], output: value) { upstream, _ in
      delivered[index] = true
      ready(index, upstream)
      return [upstream]
    }
  }
  let value = try ActiveTape.$current.withValue(tape) { try f() }
  tape.bindOnFirstRead = nil
  precondition(
    value.scalarCount == 1,
    "gradient: the function must return one scalar, found a tensor of shape \(value.shape)")
  if let output = tape.index(of: value) {
    _ = tape.backward(
      from: output, seed: Tensor(repeating: 1, shape: value.shape), wanted: leaves,
      vmapLevel: VmapLevel.current)
  }
  for (index, parameter) in parameters.enumerated() where !delivered[index] {
    ready(index, Tensor.zeros(parameter.shape))
  }
  return value.withoutDerivative
}

/// The values parameters read in place of their own while a functional
/// call runs, by parameter identity: task-local, so that nested calls and
/// other threads each see their own.
enum ParameterSubstitution {
  @TaskLocal static var current: [ObjectIdentifier: any Sendable] = [:]

  /// Whether a functional call is running.
  static var isActive: Bool { !current.isEmpty }

  /// The value substituted for `parameter`, if any.
  static func value<Scalar>(of parameter: Parameter<Scalar>) -> Tensor<Scalar>? {
    let current = current
    if current.isEmpty { return nil }
    return current[ObjectIdentifier(parameter)] as? Tensor<Scalar>
  }
}

/// Runs `body` with each parameter reading the given value instead of its
/// own (a functional call); the parameters themselves are not touched.
/// Values being differentiated stay recorded, so gradients flow to them at
/// any order. Calls nest: an inner call's values win for the parameters it
/// names.
///
/// - Precondition: `values` has one value per parameter, of its shape.
package func withParameters<Scalar, R>(
  _ parameters: [Parameter<Scalar>], at values: [Tensor<Scalar>], _ body: () throws -> R
) rethrows -> R {
  precondition(
    parameters.count == values.count,
    "withParameters: \(values.count) values for \(parameters.count) parameters")
  var substitution = ParameterSubstitution.current
  for (parameter, value) in zip(parameters, values) {
    precondition(
      value.shape == parameter.shape,
      "withParameters: a value of shape \(value.shape) for a parameter of shape \(parameter.shape)")
    substitution[ObjectIdentifier(parameter)] = value
  }
  return try ParameterSubstitution.$current.withValue(substitution, operation: body)
}
