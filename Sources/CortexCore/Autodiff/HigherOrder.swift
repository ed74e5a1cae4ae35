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
