/// Elementwise functions. Each pullback is the upstream gradient times the
/// function's derivative, elementwise: the Jacobian of an elementwise
/// function is diagonal, so it is never built.

/// `eˣ`, elementwise. Pullback: `upstream · eˣ`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func exp<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  let y = x.map(Scalar.exp)
  return record("exp", x, output: y) { g in g * fusedOrComposed(fused: { y }, composed: { exp(x) })
  }
}

/// Natural logarithm, elementwise. Pullback: `upstream / x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func log<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  record("log", x, output: x.map(Scalar.log)) { $0 / x }
}

/// Square root, elementwise. Pullback: `upstream / (2√x)`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func sqrt<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  let y = x.map { $0.squareRoot() }
  return record("sqrt", x, output: y) { g in
    g / (2 * fusedOrComposed(fused: { y }, composed: { sqrt(x) }))
  }
}

/// `x²`, elementwise. Pullback: `upstream · 2x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func square<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  record("square", x, output: x.map { $0 * $0 }) { $0 * (2 * x) }
}

/// `|x|`, elementwise. Pullback: `upstream · sign(x)`, with sign(0) = 0.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func abs<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  record("abs", x, output: x.map { Swift.abs($0) }) { g in
    g * x.map { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
  }
}

/// `xᵖ` for a constant exponent, elementwise. Pullback:
/// `upstream · p · xᵖ⁻¹`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func pow<Scalar>(_ x: Tensor<Scalar>, _ p: Scalar) -> Tensor<Scalar> {
  record("pow", x, output: x.map { Scalar.pow($0, p) }) { g in
    g
      * fusedOrComposed(
        fused: { x.map { p * Scalar.pow($0, p - 1) } }, composed: { p * pow(x, p - 1) })
  }
}

/// `xʸ` elementwise with broadcasting. Pullbacks: `upstream · y · xʸ⁻¹` for
/// `x` and `upstream · ln(x) · xʸ` for `y`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func pow<Scalar>(_ x: Tensor<Scalar>, _ y: Tensor<Scalar>) -> Tensor<Scalar> {
  let out = Tensor.broadcasting("pow", x, y, Scalar.pow)
  return recordBroadcasting(
    "pow", x, y, output: out,
    gradientA: { g in
      g
        * fusedOrComposed(
          fused: { Tensor.broadcasting("pow", x, y) { $1 * Scalar.pow($0, $1 - 1) } },
          composed: { y * pow(x, y - 1) })
    },
    gradientB: { g in g * fusedOrComposed(fused: { out }, composed: { pow(x, y) }) * log(x) })
}

/// Hyperbolic tangent, elementwise; output in (−1, 1). Pullback:
/// `upstream · (1 − tanh²x)`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func tanh<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  let y = Tensor<Scalar>.uninitialized(x.shape)
  tanhKernel(x.storage.pointer, y.storage.pointer, count: x.scalarCount)
  return record("tanh", x, output: y) { g in
    fusedOrComposed(
      fused: { Tensor.broadcasting("tanh", g, y) { $0 * (1 - $1 * $1) } },
      composed: { g * (1 - square(tanh(x))) })
  }
}

/// The logistic function `1 / (1 + e⁻ˣ)`, elementwise, computed without
/// overflow for large |x|. Pullback: `upstream · σ(x)(1 − σ(x))`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func sigmoid<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  let y = x.map { v in
    if v >= 0 { return 1 / (1 + Scalar.exp(-v)) }
    let e = Scalar.exp(v)
    return e / (1 + e)
  }
  return record("sigmoid", x, output: y) { g in
    fusedOrComposed(
      fused: { Tensor.broadcasting("sigmoid", g, y) { $0 * $1 * (1 - $1) } },
      composed: {
        let y = sigmoid(x)
        return g * y * (1 - y)
      })
  }
}

/// `max(x, 0)`, elementwise: the max gate against the constant 0, and
/// the same operation as `max(x, 0)` in values and gradients. The gradient
/// passes where `x ≥ 0`: at the tie `x = 0` the first candidate, `x`, wins,
/// so relu′(0) = 1 (PyTorch takes 0 there).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func relu<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  let y = Tensor<Scalar>.uninitialized(x.shape)
  rectifyKernel(x.storage.pointer, y.storage.pointer, count: x.scalarCount)
  return record("relu", x, output: y) { g in
    fusedOrComposed(
      fused: {
        let gradient = Tensor<Scalar>.uninitialized(x.shape)
        rectifierGradientKernel(
          g.storage.pointer, x.storage.pointer, gradient.storage.pointer, count: x.scalarCount)
        return gradient
      },
      composed: { g * x.map { $0 >= 0 ? 1 : 0 } })
  }
}
