/// Layer normalization (Ba, Kiros & Hinton): each example normalized over
/// its trailing features, with no batch statistics, so training and
/// inference compute the same thing.

/// `(x − μ) / √(σ² + ε) · γ + β`, with the mean `μ` and the biased variance
/// `σ²` taken over the trailing axes that `weight` covers (PyTorch's
/// `F.layer_norm` with `normalized_shape = weight.shape`).
///
/// Defined by its composed form (mean, subtract, square, sqrt, divide),
/// which a gradient taken inside another gradient differentiates. The
/// forward pass and a plain backward pass run fused, one pass per row for
/// each of its sums: `∂x = r·(a − mean(a) − x̂·mean(a·x̂))` with `a = ∂y·γ`,
/// `x̂` the normalized row and `r = 1/√(σ² + ε)`; `∂γ = Σ ∂y·x̂` and
/// `∂β = Σ ∂y` over the rows. A constant row has `x − μ = 0` and so gives
/// `β`, with finite gradients (the `ε` keeps the square root away from 0).
///
/// - Parameters:
///   - x: `[..., features...]`, ending in `weight.shape`.
///   - weight: `γ`, the shape of the normalized trailing axes, for example `[D]`.
///   - bias: `β`, the shape of `weight`.
///   - epsilon: added to the variance, positive (default 1e-5).
/// - Returns: the shape of `x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func layerNorm<Scalar>(
  _ x: Tensor<Scalar>, weight: Tensor<Scalar>, bias: Tensor<Scalar>, epsilon: Scalar = 1e-5
) -> Tensor<Scalar> {
  let trailing = weight.rank
  precondition(
    trailing >= 1 && x.rank >= trailing && Array(x.shape.suffix(trailing)) == weight.shape
      && bias.shape == weight.shape,
    "layerNorm: input of shape \(x.shape) must end in the weight's shape \(weight.shape), and the bias \(bias.shape) must match it"
  )
  precondition(epsilon > 0, "layerNorm: epsilon must be positive, found \(epsilon)")
  guard weight.scalarCount > 0 && x.scalarCount > 0 else {
    return composedLayerNorm(x, weight: weight, bias: bias, epsilon: epsilon)
  }
  let backend = commonBackend("layerNorm", x, weight, bias)
  let (output, normalized, inverseDeviation) = backend.layerNormRows(
    x.withoutDerivative, weight: weight.withoutDerivative, bias: bias.withoutDerivative,
    epsilon: epsilon)
  let rowAxes = Array(0..<(x.rank - trailing))
  return recordFused(
    "layerNorm", inputs: [x, weight, bias], output: output,
    composed: { composedLayerNorm($0[0], weight: $0[1], bias: $0[2], epsilon: epsilon) }
  ) { g, needs in
    let weight = weight.withoutDerivative
    if needs[1] || needs[2],
      let gradients = backend.layerNormGradients(
        g, normalized: normalized, inverseDeviation: inverseDeviation, weight: weight)
    {
      return [
        needs[0] ? gradients.input : nil, needs[1] ? gradients.weight : nil,
        needs[2] ? gradients.bias : nil,
      ]
    }
    return [
      needs[0]
        ? backend.layerNormRowsGradient(
          g, normalized: normalized, inverseDeviation: inverseDeviation, weight: weight) : nil,
      needs[1] ? (g * normalized).sum(alongAxes: rowAxes).reshaped(to: weight.shape) : nil,
      needs[2] ? g.sum(alongAxes: rowAxes).reshaped(to: weight.shape) : nil,
    ]
  }
}

/// Layer normalization composed of recorded operations: the definition
/// that higher orders differentiate.
private func composedLayerNorm<Scalar>(
  _ x: Tensor<Scalar>, weight: Tensor<Scalar>, bias: Tensor<Scalar>, epsilon: Scalar
) -> Tensor<Scalar> {
  let axes = Array((x.rank - weight.rank)..<x.rank)
  let centered = x - x.mean(alongAxes: axes, keepDims: true)
  let variance = square(centered).mean(alongAxes: axes, keepDims: true)
  return centered / sqrt(variance + epsilon) * weight + bias
}
