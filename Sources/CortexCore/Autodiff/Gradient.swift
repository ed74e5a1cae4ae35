/// Reverse-mode differentiation: the public entry points.
///
/// Each function creates a fresh tape, records `f` on it, and walks it
/// backward once. The tape lives only for the call, so memory is released
/// when the call returns; each thread or task has its own active tape, so
/// gradients computed concurrently are independent.

/// Records `f` at `inputs` (and at `parameters`, whose ``Parameter/value``
/// reads give their recorded values inside `f`) and returns its output with
/// a pullback to the inputs, then the parameters.
///
/// Inside another gradient computation of the same scalar type, the
/// enclosing tape is reused: the inputs are watched through identity
/// entries, the output stays recorded, and a pullback called while that
/// tape is active records its own operations, so that the gradients it
/// returns can be differentiated in turn. Otherwise a fresh tape is used
/// and released as it is walked, unless `keepingTape`.
func recordForBackward<Scalar>(
  at inputs: [Tensor<Scalar>], parameters: [Parameter<Scalar>] = [], keepingTape: Bool = false,
  of f: ([Tensor<Scalar>]) throws -> Tensor<Scalar>
) rethrows -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> [Tensor<Scalar>]) {
  let enclosing = ActiveTape.current as? Tape<Scalar>
  let tape = enclosing ?? Tape<Scalar>()
  let lowest = tape.count
  let watched = inputs.map { tape.watch($0) }
  let previousBindings = parameters.map { tape.bindings[ObjectIdentifier($0)] }
  for parameter in parameters {
    tape.bindings[ObjectIdentifier(parameter)] = tape.watch(parameter.value, name: "parameter")
  }
  let wanted = Array(lowest..<tape.count)
  defer {
    for (parameter, previous) in zip(parameters, previousBindings) {
      tape.bindings[ObjectIdentifier(parameter)] = previous
    }
  }
  let output = try ActiveTape.$current.withValue(tape) { try f(watched) }
  let shapes = inputs.map(\.shape) + parameters.map(\.shape)
  let outputShape = output.shape
  let outputIndex = tape.index(of: output)
  let vmapLevel = VmapLevel.current
  return (
    enclosing == nil ? output.withoutDerivative : output,
    { seed in
      precondition(
        seed.shape == outputShape,
        "pullback: gradient of shape \(seed.shape) for a value of shape \(outputShape)")
      guard let outputIndex else { return shapes.map { Tensor.zeros($0) } }
      return tape.backward(
        from: outputIndex, seed: seed, wanted: wanted, lowest: lowest,
        recording: ActiveTape.current === tape, releasing: enclosing == nil && !keepingTape,
        vmapLevel: vmapLevel)
    }
  )
}

/// The value of `f` at `inputs` and a pullback that maps a gradient of the
/// value (its shape) to the gradients of the inputs.
///
/// The pullback can be called once, unless `keepingTape` is true (PyTorch's
/// `retain_graph`): then the tape stays alive as long as the pullback and
/// it can be called any number of times, for example once per row of a
/// Jacobian.
///
/// Calls nest to any depth: inside another gradient computation the value
/// and the gradients the pullback returns are recorded on the enclosing
/// tape, so they can be differentiated again (PyTorch's `create_graph`).
public func valueWithPullback<Scalar>(
  at inputs: [Tensor<Scalar>], keepingTape: Bool = false,
  of f: ([Tensor<Scalar>]) throws -> Tensor<Scalar>
) rethrows -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> [Tensor<Scalar>]) {
  try recordForBackward(at: inputs, keepingTape: keepingTape, of: f)
}

/// The value of `f` at `x` and a pullback from a gradient of the value to
/// the gradient of `x`.
public func valueWithPullback<Scalar>(
  at x: Tensor<Scalar>, keepingTape: Bool = false, of f: (Tensor<Scalar>) throws -> Tensor<Scalar>
) rethrows -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> Tensor<Scalar>) {
  let (value, pullback) = try recordForBackward(at: [x], keepingTape: keepingTape) { try f($0[0]) }
  return (value, { pullback($0)[0] })
}

/// The value of `f` at `inputs` and the gradient of that value with respect
/// to each input. `f` must return a tensor with one element.
public func valueWithGradient<Scalar>(
  at inputs: [Tensor<Scalar>], of f: ([Tensor<Scalar>]) throws -> Tensor<Scalar>
) rethrows -> (value: Tensor<Scalar>, gradient: [Tensor<Scalar>]) {
  let (value, pullback) = try valueWithPullback(at: inputs, of: f)
  precondition(
    value.scalarCount == 1,
    "gradient: the function must return one scalar, found a tensor of shape \(value.shape); reduce it (for example with sum()) or use valueWithPullback"
  )
  return (value, pullback(Tensor(repeating: 1, shape: value.shape)))
}

/// The gradient of `f` at `inputs`, one per input.
public func gradient<Scalar>(
  at inputs: [Tensor<Scalar>], of f: ([Tensor<Scalar>]) throws -> Tensor<Scalar>
) rethrows -> [Tensor<Scalar>] {
  try valueWithGradient(at: inputs, of: f).gradient
}

/// The value of `f` at `x` and its gradient there.
public func valueWithGradient<Scalar>(
  at x: Tensor<Scalar>, of f: (Tensor<Scalar>) throws -> Tensor<Scalar>
) rethrows -> (value: Tensor<Scalar>, gradient: Tensor<Scalar>) {
  let (value, gradients) = try valueWithGradient(at: [x]) { try f($0[0]) }
  return (value, gradients[0])
}

/// The value of `f` at `(x, y)` and its gradients with respect to `x` and `y`.
public func valueWithGradient<Scalar>(
  at x: Tensor<Scalar>, _ y: Tensor<Scalar>,
  of f: (Tensor<Scalar>, Tensor<Scalar>) throws -> Tensor<Scalar>
) rethrows -> (value: Tensor<Scalar>, gradient: (Tensor<Scalar>, Tensor<Scalar>)) {
  let (value, g) = try valueWithGradient(at: [x, y]) { try f($0[0], $0[1]) }
  return (value, (g[0], g[1]))
}

/// The value of `f` at `(x, y, z)` and its gradients with respect to each.
public func valueWithGradient<Scalar>(
  at x: Tensor<Scalar>, _ y: Tensor<Scalar>, _ z: Tensor<Scalar>,
  of f: (Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>) throws -> Tensor<Scalar>
) rethrows -> (value: Tensor<Scalar>, gradient: (Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>)) {
  let (value, g) = try valueWithGradient(at: [x, y, z]) { try f($0[0], $0[1], $0[2]) }
  return (value, (g[0], g[1], g[2]))
}

/// The gradient of `f` at `x`.
public func gradient<Scalar>(
  at x: Tensor<Scalar>, of f: (Tensor<Scalar>) throws -> Tensor<Scalar>
) rethrows -> Tensor<Scalar> {
  try valueWithGradient(at: x, of: f).gradient
}

/// The gradients of `f` at `(x, y)`.
public func gradient<Scalar>(
  at x: Tensor<Scalar>, _ y: Tensor<Scalar>,
  of f: (Tensor<Scalar>, Tensor<Scalar>) throws -> Tensor<Scalar>
) rethrows -> (Tensor<Scalar>, Tensor<Scalar>) {
  try valueWithGradient(at: x, y, of: f).gradient
}

/// The gradients of `f` at `(x, y, z)`.
public func gradient<Scalar>(
  at x: Tensor<Scalar>, _ y: Tensor<Scalar>, _ z: Tensor<Scalar>,
  of f: (Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>) throws -> Tensor<Scalar>
) rethrows -> (Tensor<Scalar>, Tensor<Scalar>, Tensor<Scalar>) {
  try valueWithGradient(at: x, y, z, of: f).gradient
}

// MARK: - Parameter trees

/// The value of `f` and its gradient with respect to each tensor of a
/// dictionary (a model's weights by name, as `namedParameters` and
/// `stateDictionary` name them), returned under the same keys.
///
/// It nests like the other forms: MAML's meta-gradient is
/// `gradient(at: weights) { w in … gradient(at: w) { … } … }`.
///
/// - Parameters:
///   - tree: the tensors to differentiate, by name.
///   - f: a function of them that returns one scalar.
/// - Returns: the value of `f` and one gradient per key, of its tensor's
///   shape.
public func valueWithGradient<Scalar>(
  at tree: [String: Tensor<Scalar>], of f: ([String: Tensor<Scalar>]) throws -> Tensor<Scalar>
) rethrows -> (value: Tensor<Scalar>, gradient: [String: Tensor<Scalar>]) {
  let keys = tree.keys.sorted()
  let (value, gradients) = try valueWithGradient(at: keys.map { tree[$0]! }) { values in
    try f(Dictionary(uniqueKeysWithValues: zip(keys, values)))
  }
  return (value, Dictionary(uniqueKeysWithValues: zip(keys, gradients)))
}

/// The gradient of `f` with respect to each tensor of a dictionary, under
/// the same keys; see ``valueWithGradient(at:of:)-([String:Tensor<Scalar>],_)``.
public func gradient<Scalar>(
  at tree: [String: Tensor<Scalar>], of f: ([String: Tensor<Scalar>]) throws -> Tensor<Scalar>
) rethrows -> [String: Tensor<Scalar>] {
  try valueWithGradient(at: tree, of: f).gradient
}
