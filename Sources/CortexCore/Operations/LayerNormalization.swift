/// Layer normalization (Ba, Kiros & Hinton): each example normalized over
/// its trailing features, with no batch statistics, so training and
/// inference compute the same thing.

/// `(x − μ) / √(σ² + ε) · γ + β`, with the mean `μ` and the biased variance
/// `σ²` taken over the trailing axes that `weight` covers (PyTorch's
/// `F.layer_norm` with `normalized_shape = weight.shape`).
///
/// Composed of recorded operations (mean, subtract, square, sqrt, divide),
/// so its pullback is theirs and can be differentiated again. A constant
/// row has `x − μ = 0` and so gives `β`, with finite gradients (the `ε`
/// keeps the square root away from 0).
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
  let axes = Array((x.rank - trailing)..<x.rank)
  let centered = x - x.mean(alongAxes: axes, keepDims: true)
  let variance = square(centered).mean(alongAxes: axes, keepDims: true)
  return centered / sqrt(variance + epsilon) * weight + bias
}
