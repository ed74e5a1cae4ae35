/// Derivatives built from nested reverse mode: Hessian-vector products,
/// forward-mode Jacobian-vector products and whole Jacobians.
///
/// Each is a composition of ``valueWithPullback(at:keepingTape:of:)-([Tensor<Scalar>],_,_)``
/// calls; since gradients taken inside a gradient are recorded, each of
/// these can itself be nested or differentiated.

/// The Hessian of a scalar function `f` at `x` times `direction`, `H·v`,
/// without building the Hessian: the gradient of `⟨∇f(x), v⟩` (two reverse
/// passes, Pearlmutter's trick).
///
/// - Parameters:
///   - x: the point, any shape.
///   - direction: `v`, the shape of `x`.
///   - f: a function returning one scalar.
/// - Returns: `H·v`, the shape of `x`.
public func hessianVectorProduct<Scalar>(
  at x: Tensor<Scalar>, direction: Tensor<Scalar>, of f: (Tensor<Scalar>) -> Tensor<Scalar>
) -> Tensor<Scalar> {
  precondition(
    direction.shape == x.shape,
    "hessianVectorProduct: direction of shape \(direction.shape) for a point of shape \(x.shape)")
  return gradient(at: x) { x in (gradient(at: x, of: f) * direction).sum() }
}

/// The value of `f` at `x` and its Jacobian times `tangent`, `J·u`
/// (forward mode), computed by the double-pullback trick: the pullback
/// `w ↦ Jᵀw` is linear in `w`, and its own pullback applied to `u` is `J·u`.
///
/// - Parameters:
///   - x: the point, any shape.
///   - tangent: `u`, the shape of `x`.
///   - f: a function returning a tensor of any shape.
/// - Returns: `f(x)` and `J·u`, both of the shape of `f(x)`.
public func jvp<Scalar>(
  at x: Tensor<Scalar>, tangent: Tensor<Scalar>, of f: (Tensor<Scalar>) -> Tensor<Scalar>
) -> (value: Tensor<Scalar>, differential: Tensor<Scalar>) {
  precondition(
    tangent.shape == x.shape,
    "jvp: tangent of shape \(tangent.shape) for a point of shape \(x.shape)")
  let value = withoutRecording { f(x) }
  let differential = gradient(at: Tensor<Scalar>.zeros(value.shape)) { w in
    (valueWithPullback(at: x, of: f).pullback(w) * tangent).sum()
  }
  return (value, differential)
}

/// The Jacobian of `f` at `x`: element `[i…, j…]` is `∂f(x)[i…] / ∂x[j…]`,
/// one pullback per element of `f(x)` on one kept tape. For small
/// functions: it costs one backward pass per output element.
///
/// - Parameters:
///   - x: the point, any shape.
///   - f: a function returning a tensor of any shape.
/// - Returns: a tensor of shape `f(x).shape + x.shape`.
public func jacobian<Scalar>(
  at x: Tensor<Scalar>, of f: (Tensor<Scalar>) -> Tensor<Scalar>
) -> Tensor<Scalar> {
  let (value, pullback) = valueWithPullback(at: x, keepingTape: true, of: f)
  let rows = (0..<value.scalarCount).map { i in
    var seed = Tensor<Scalar>.zeros([value.scalarCount])
    seed[i] = 1
    return pullback(seed.reshaped(to: value.shape)).reshaped(to: [1] + x.shape)
  }
  guard !rows.isEmpty else { return Tensor.zeros(value.shape + x.shape) }
  return Tensor(concatenating: rows).reshaped(to: value.shape + x.shape)
}

// MARK: - Several tensors, and trees

/// `H·v` for a scalar function of several tensors: the gradient of
/// `Σₖ ⟨∇ₖf(x), vₖ⟩` with respect to each tensor.
///
/// - Parameters:
///   - x: the point, any number of tensors.
///   - direction: `v`, one tensor per tensor of `x`, of its shape.
///   - f: a function returning one scalar.
/// - Returns: one tensor per tensor of `x`, of its shape.
public func hessianVectorProduct<Scalar>(
  at x: [Tensor<Scalar>], direction: [Tensor<Scalar>], of f: ([Tensor<Scalar>]) -> Tensor<Scalar>
) -> [Tensor<Scalar>] {
  requireMatching(direction, x, "hessianVectorProduct", "direction")
  return gradient(at: x) { x in
    innerProduct(gradient(at: x, of: f), direction)
  }
}

/// `H·v` for a scalar function of a dictionary of tensors (a model's
/// weights by name), under the same keys; see the array form.
public func hessianVectorProduct<Scalar>(
  at x: [String: Tensor<Scalar>], direction: [String: Tensor<Scalar>],
  of f: ([String: Tensor<Scalar>]) -> Tensor<Scalar>
) -> [String: Tensor<Scalar>] {
  let keys = matchingKeys(direction, x, "hessianVectorProduct", "direction")
  let product = hessianVectorProduct(
    at: keys.map { x[$0]! }, direction: keys.map { direction[$0]! }
  ) { f(tree(keys, $0)) }
  return tree(keys, product)
}

/// The value of `f` and `J·u` for a function of several tensors, with one
/// tangent per tensor: `Σₖ Jₖ·uₖ`, of the shape of `f(x)`.
public func jvp<Scalar>(
  at x: [Tensor<Scalar>], tangent: [Tensor<Scalar>], of f: ([Tensor<Scalar>]) -> Tensor<Scalar>
) -> (value: Tensor<Scalar>, differential: Tensor<Scalar>) {
  requireMatching(tangent, x, "jvp", "tangent")
  let value = withoutRecording { f(x) }
  let differential = gradient(at: Tensor<Scalar>.zeros(value.shape)) { w in
    innerProduct(valueWithPullback(at: x, of: f).pullback(w), tangent)
  }
  return (value, differential)
}

/// The value of `f` and `J·u` for a function of a dictionary of tensors,
/// with one tangent per key; see the array form.
public func jvp<Scalar>(
  at x: [String: Tensor<Scalar>], tangent: [String: Tensor<Scalar>],
  of f: ([String: Tensor<Scalar>]) -> Tensor<Scalar>
) -> (value: Tensor<Scalar>, differential: Tensor<Scalar>) {
  let keys = matchingKeys(tangent, x, "jvp", "tangent")
  return jvp(at: keys.map { x[$0]! }, tangent: keys.map { tangent[$0]! }) { f(tree(keys, $0)) }
}

/// The Jacobian of `f` with respect to each of several tensors: for the
/// `k`-th, a tensor of shape `f(x).shape + x[k].shape`.
public func jacobian<Scalar>(
  at x: [Tensor<Scalar>], of f: ([Tensor<Scalar>]) -> Tensor<Scalar>
) -> [Tensor<Scalar>] {
  let (value, pullback) = valueWithPullback(at: x, keepingTape: true, of: f)
  var rows = x.map { _ in [Tensor<Scalar>]() }
  for i in 0..<value.scalarCount {
    var seed = Tensor<Scalar>.zeros([value.scalarCount])
    seed[i] = 1
    for (k, gradient) in pullback(seed.reshaped(to: value.shape)).enumerated() {
      rows[k].append(gradient.reshaped(to: [1] + x[k].shape))
    }
  }
  return zip(x, rows).map { input, rows in
    rows.isEmpty
      ? Tensor.zeros(value.shape + input.shape)
      : Tensor(concatenating: rows).reshaped(to: value.shape + input.shape)
  }
}

/// The Jacobian of `f` with respect to each tensor of a dictionary, under
/// the same keys; see the array form.
public func jacobian<Scalar>(
  at x: [String: Tensor<Scalar>], of f: ([String: Tensor<Scalar>]) -> Tensor<Scalar>
) -> [String: Tensor<Scalar>] {
  let keys = x.keys.sorted()
  return tree(keys, jacobian(at: keys.map { x[$0]! }) { f(tree(keys, $0)) })
}

/// `Σₖ ⟨aₖ, bₖ⟩`, a 0-d tensor.
private func innerProduct<Scalar>(_ a: [Tensor<Scalar>], _ b: [Tensor<Scalar>]) -> Tensor<Scalar> {
  zip(a, b).map { ($0 * $1).sum() }.reduce(Tensor(0), +)
}

/// A dictionary of `values` under `keys`, in order.
private func tree<Scalar>(_ keys: [String], _ values: [Tensor<Scalar>]) -> [String: Tensor<Scalar>]
{
  Dictionary(uniqueKeysWithValues: zip(keys, values))
}

/// Traps unless `vectors` has one tensor per tensor of `point`, of its shape.
private func requireMatching<Scalar>(
  _ vectors: [Tensor<Scalar>], _ point: [Tensor<Scalar>], _ name: String, _ role: String
) {
  precondition(
    vectors.count == point.count,
    "\(name): \(vectors.count) \(role) tensors for a point of \(point.count)")
  for (k, (vector, input)) in zip(vectors, point).enumerated() {
    precondition(
      vector.shape == input.shape,
      "\(name): \(role) \(k) of shape \(vector.shape) for a point of shape \(input.shape)")
  }
}

/// The sorted keys of `point`, trapping unless `vectors` has the same keys.
private func matchingKeys<Scalar>(
  _ vectors: [String: Tensor<Scalar>], _ point: [String: Tensor<Scalar>], _ name: String,
  _ role: String
) -> [String] {
  let keys = point.keys.sorted()
  precondition(
    vectors.keys.sorted() == keys,
    "\(name): the \(role) has the keys \(vectors.keys.sorted()), the point has \(keys)")
  return keys
}
