/// Reverse-mode differentiation: the public entry points.
///
/// Each function creates a fresh tape, records `f` on it, and walks it
/// backward once. The tape lives only for the call, so memory is released
/// when the call returns; each thread or task has its own active tape, so
/// gradients computed concurrently are independent.

/// The value of `f` at `inputs` and a pullback that maps a gradient of the
/// value (its shape) to the gradients of the inputs.
///
/// The pullback can be called once; a second call traps.
public func valueWithPullback<Scalar>(
  at inputs: [Tensor<Scalar>], of f: ([Tensor<Scalar>]) throws -> Tensor<Scalar>
) rethrows -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> [Tensor<Scalar>]) {
  let tape = Tape<Scalar>()
  let watched = inputs.map { tape.watch($0) }
  let output = try ActiveTape.$current.withValue(tape) { try f(watched) }
  let value = output.withoutDerivative
  let inputIndices = watched.map { tape.index(of: $0)! }
  guard let outputIndex = tape.index(of: output) else {
    // The output does not depend on the inputs.
    return (value, { _ in inputs.map { Tensor.zeros($0.shape) } })
  }
  return (
    value,
    { seed in
      precondition(
        seed.shape == value.shape,
        "pullback: gradient of shape \(seed.shape) for a value of shape \(value.shape)")
      return tape.backward(from: outputIndex, seed: seed, wanted: inputIndices)
    }
  )
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
