/// Elementwise functions. Each pullback is the upstream gradient times the
/// function's derivative, elementwise: the Jacobian of an elementwise
/// function is diagonal, so it is never built.

/// `eˣ`, elementwise. Pullback: `upstream · eˣ`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func exp<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  let y = x.applying(.exp, "exp")
  return record("exp", x, output: y) { g in g * fusedOrComposed(fused: { y }, composed: { exp(x) })
  }
}

/// Natural logarithm, elementwise. Pullback: `upstream / x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func log<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  record("log", x, output: x.applying(.log, "log")) { $0 / x }
}

/// Square root, elementwise. Pullback: `upstream / (2√x)`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func sqrt<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  let y = x.applying(.sqrt, "sqrt")
  return record("sqrt", x, output: y) { g in
    g / (2 * fusedOrComposed(fused: { y }, composed: { sqrt(x) }))
  }
}

/// `x²`, elementwise. Pullback: `upstream · 2x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func square<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  record("square", x, output: x.applying(.square, "square")) { $0 * (2 * x) }
}

/// `|x|`, elementwise. Pullback: `upstream · sign(x)`, with sign(0) = 0.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func abs<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  record("abs", x, output: x.applying(.abs, "abs")) { g in g * x.applying(.sign, "abs") }
}

/// `xᵖ` for a constant exponent, elementwise. Pullback:
/// `upstream · p · xᵖ⁻¹`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func pow<Scalar>(_ x: Tensor<Scalar>, _ p: Scalar) -> Tensor<Scalar> {
  record("pow", x, output: x.applying(.power(p), "pow")) { g in g * (p * pow(x, p - 1)) }
}

/// `xʸ` elementwise with broadcasting. Pullbacks: `upstream · y · xʸ⁻¹` for
/// `x` and `upstream · ln(x) · xʸ` for `y`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func pow<Scalar>(_ x: Tensor<Scalar>, _ y: Tensor<Scalar>) -> Tensor<Scalar> {
  let out = Tensor.broadcasting("pow", x, y, .power)
  return recordBroadcasting(
    "pow", x, y, output: out,
    gradientA: { g in g * (y * pow(x, y - 1)) },
    gradientB: { g in g * fusedOrComposed(fused: { out }, composed: { pow(x, y) }) * log(x) })
}

/// Hyperbolic tangent, elementwise; output in (−1, 1). Pullback:
/// `upstream · (1 − tanh²x)`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func tanh<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  let y = x.applying(.tanh, "tanh")
  return record("tanh", x, output: y) { g in
    fusedOrComposed(
      fused: { Tensor.broadcasting("tanh", g, y, .tanhGradient) },
      composed: { g * (1 - square(tanh(x))) })
  }
}

/// The logistic function `1 / (1 + e⁻ˣ)`, elementwise, computed without
/// overflow for large |x|. Pullback: `upstream · σ(x)(1 − σ(x))`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func sigmoid<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  let y = x.applying(.sigmoid, "sigmoid")
  return record("sigmoid", x, output: y) { g in
    fusedOrComposed(
      fused: { Tensor.broadcasting("sigmoid", g, y, .sigmoidGradient) },
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
  elementwiseMaxGate("relu", x, Tensor(0), largest: true)
}
