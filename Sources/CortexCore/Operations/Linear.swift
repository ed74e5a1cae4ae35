/// The fully connected layer's operation: every output is a weighted sum of
/// every input. A volume is flattened first (`x.flattened(fromAxis: 1)`,
/// 32×32×3 → 3072), then multiplied by the weights.

/// `x·Wᵀ + b`: the fully connected (affine) map, with the weight laid out
/// `[out, in]` as in PyTorch.
///
/// The product multiplies by the transposed weight without copying it, so
/// its pullbacks are the matrix product's: `∂x = ∂y·W`, `∂W = ∂yᵀ·x`. The
/// bias is added in one pass over the product and is the add gate: its
/// gradient is the upstream gradient summed over the batch.
///
/// - Parameters:
///   - x: `[N, in]`.
///   - weight: `[out, in]`.
///   - bias: `[out]`, or `nil` for no bias.
/// - Returns: `[N, out]`.
public func linear<Scalar>(
  _ x: Tensor<Scalar>, weight: Tensor<Scalar>, bias: Tensor<Scalar>? = nil
) -> Tensor<Scalar> {
  precondition(
    x.rank == 2 && weight.rank == 2 && x.shape[1] == weight.shape[1],
    "linear: input of shape \(x.shape) does not match weight of shape \(weight.shape) (expected [N, in] and [out, in])"
  )
  let product = matmul(x, weight, transposeB: true)
  guard let bias else { return product }
  precondition(
    bias.shape == [weight.shape[0]],
    "linear: bias of shape \(bias.shape) does not match weight of shape \(weight.shape) (expected [\(weight.shape[0])])"
  )
  return product + bias
}
