import Foundation

/// Smooth elementwise functions of modern networks (GELU, SiLU, softplus),
/// the elementary functions they are built from (erf, sin, cos, log1p,
/// expm1), and the three-way ``select(_:_:_:)``.
///
/// Every pullback is written in recorded tensor operations of `x` (never
/// in loops over storage), so it can itself be differentiated. The values
/// are computed in `Double` and rounded to the tensor's precision: through
/// the C library, or, for `Float` tensors of erf, softplus, SiLU and GELU,
/// in vectorized loops within 1 ulp of it (see the kernels' WideMath).

/// The error function `erf(x) = (2/√π) ∫₀ˣ e^(−t²) dt`, elementwise; output
/// in (−1, 1). Pullback: `upstream · (2/√π) e^(−x²)`.
///
/// - Parameter x: any shape. Returns: the shape of `x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func erf<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  record("erf", x, output: x.applying(.erf, "erf")) { g in
    g * exp(-square(x)) * Scalar(2 / Double.pi.squareRoot())
  }
}

/// Sine, elementwise (radians). Pullback: `upstream · cos x`.
///
/// - Parameter x: any shape. Returns: the shape of `x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func sin<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  record("sin", x, output: x.applying(.sin, "sin")) { g in g * cos(x) }
}

/// Cosine, elementwise (radians). Pullback: `−upstream · sin x`.
///
/// - Parameter x: any shape. Returns: the shape of `x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func cos<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  record("cos", x, output: x.applying(.cos, "cos")) { g in -(g * sin(x)) }
}

/// `log(1 + x)`, elementwise, accurate for tiny `x` (where `1 + x` would
/// round to 1). Pullback: `upstream / (1 + x)`.
///
/// - Parameter x: any shape, every element above −1. Returns: the shape of `x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func log1p<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  record("log1p", x, output: x.applying(.log1p, "log1p")) { g in g / (x + 1) }
}

/// `eˣ − 1`, elementwise, accurate for tiny `x`. Pullback: `upstream · eˣ`.
///
/// - Parameter x: any shape. Returns: the shape of `x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func expm1<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  record("expm1", x, output: x.applying(.expm1, "expm1")) { g in g * exp(x) }
}

/// `log(1 + eˣ)`, elementwise: a smooth ReLU. Computed as
/// `max(x, 0) + log1p(e^(−|x|))`, so it is finite for any `x` (softplus(1000)
/// is 1000). Pullback: `upstream · σ(x)`.
///
/// - Parameter x: any shape. Returns: the shape of `x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func softplus<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  let y = x.applying(.softplus, "softplus")
  return record("softplus", x, output: y) { g in g * sigmoid(x) }
}

/// The sigmoid-weighted linear unit (swish) `x · σ(x)`, elementwise.
/// Pullback: `upstream · σ(x)(1 + x(1 − σ(x)))`.
///
/// - Parameter x: any shape. Returns: the shape of `x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func silu<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  let y = x.applying(.silu, "silu")
  return record("silu", x, output: y) { g in
    let s = sigmoid(x)
    return g * s * (1 + x * (1 - s))
  }
}

/// How ``gelu(_:approximation:)`` computes the Gaussian CDF.
public enum GELUApproximation: Sendable {
  /// The exact form, `Φ(x) = (1 + erf(x/√2)) / 2`.
  case none
  /// The tanh form of BERT and GPT-2:
  /// `Φ(x) ≈ (1 + tanh(√(2/π)(x + 0.044715x³))) / 2`.
  case tanh
}

/// The Gaussian error linear unit `x · Φ(x)`, elementwise, with `Φ` the
/// standard normal CDF (Hendrycks & Gimpel), as PyTorch's `F.gelu`.
///
/// Pullback (exact form): `upstream · (Φ(x) + x·φ(x))`, `φ` the standard
/// normal density; the tanh form differentiates its own formula. A plain
/// backward pass computes it in one fused pass (in `Double`, rounded once);
/// a recorded one composes it from recorded operations, so that it can be
/// differentiated again. At
/// `x = 10` the value is 10 and the derivative 1; at `x = −10` both are 0
/// to within 1e-21.
///
/// - Parameters:
///   - x: any shape.
///   - approximation: `.none` (default, exact) or `.tanh`.
/// - Returns: the shape of `x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func gelu<Scalar>(_ x: Tensor<Scalar>, approximation: GELUApproximation = .none)
  -> Tensor<Scalar>
{
  let c = (2 / Double.pi).squareRoot()
  switch approximation {
  case .none:
    let y = x.applying(.gelu, "gelu")
    return record("gelu", x, output: y) { g in
      fusedOrComposed(
        fused: { Tensor.broadcasting("gelu", g, x, .geluGradient) },
        composed: {
          let cdf = (erf(x * Scalar(1 / 2.squareRoot())) + 1) * Scalar(0.5)
          let density = exp(square(x) * Scalar(-0.5)) * Scalar(1 / (2 * Double.pi).squareRoot())
          return g * (cdf + x * density)
        })
    }
  case .tanh:
    let y = x.applying(.geluTanh, "gelu")
    return record("gelu (tanh)", x, output: y) { g in
      fusedOrComposed(
        fused: { Tensor.broadcasting("gelu", g, x, .geluTanhGradient) },
        composed: {
          let t = tanh((x + pow(x, 3) * Scalar(0.044715)) * Scalar(c))
          let inner = (square(x) * Scalar(3 * 0.044715) + 1) * Scalar(c)
          return g * ((t + 1) * Scalar(0.5) + x * (1 - square(t)) * inner * Scalar(0.5))
        })
    }
  }
}

/// Elementwise choice: `a` where `condition` holds, `b` elsewhere (NumPy's
/// `where`; PyTorch's `torch.where`). The three broadcast together.
///
/// Pullback: the upstream gradient goes to `a` where the condition holds
/// and to `b` elsewhere, each summed back to its input's shape. The
/// condition carries no gradient. An infinite or NaN value in the branch
/// not taken does not leak into the result or the gradient.
///
/// - Parameters:
///   - condition: a ``Mask`` whose shape broadcasts with `a` and `b`.
///   - a: the values where the condition holds.
///   - b: the values elsewhere.
/// - Returns: the broadcast shape of the three.
public func select<Scalar>(_ condition: Mask, _ a: Tensor<Scalar>, _ b: Tensor<Scalar>)
  -> Tensor<Scalar>
{
  select(where: Tensor(condition), a, b)
}

/// ``select(_:_:_:)`` with the condition as a tensor of 1s (choose `a`) and
/// 0s (choose `b`), as comparisons return it, so that a condition computed
/// from tensors never leaves their device.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func select<Scalar>(where condition: Tensor<Scalar>, _ a: Tensor<Scalar>, _ b: Tensor<Scalar>)
  -> Tensor<Scalar>
{
  guard let pair = broadcastShape(a.shape, b.shape),
    let shape = broadcastShape(condition.shape, pair)
  else {
    preconditionFailure(
      "select: condition \(condition.shape), \(a.shape) and \(b.shape) cannot be broadcast together"
    )
  }
  let chosen = condition.withoutDerivative.broadcasted(to: shape)
  let valuesA = a.withoutDerivative.broadcasted(to: shape)
  let valuesB = b.withoutDerivative.broadcasted(to: shape)
  let output = commonBackend("select", chosen, valuesA, valuesB).select(chosen, valuesA, valuesB)
  let (shapeA, shapeB) = (a.shape, b.shape)
  return record(
    "select", a, b, output: output,
    pullbackX: { g in (g * chosen).unbroadcast(to: shapeA) },
    pullbackY: { g in (g * (1 - chosen)).unbroadcast(to: shapeB) })
}
