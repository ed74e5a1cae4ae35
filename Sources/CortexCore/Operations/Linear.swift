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
/// An input of any rank is mapped along its last axis, as PyTorch's
/// `nn.Linear` does: `[batch, tokens, in]` becomes `[batch, tokens, out]`
/// through one matrix product over all the rows (the leading axes are
/// merged by a reshape, which copies nothing).
///
/// - Parameters:
///   - x: `[..., in]`, rank ≥ 1.
///   - weight: `[out, in]`.
///   - bias: `[out]`, or `nil` for no bias.
/// - Returns: `[..., out]`.
public func linear<Scalar>(
  _ x: Tensor<Scalar>, weight: Tensor<Scalar>, bias: Tensor<Scalar>? = nil
) -> Tensor<Scalar> {
  precondition(
    x.rank >= 1 && weight.rank == 2 && x.shape.last == weight.shape[1],
    "linear: input of shape \(x.shape) does not match weight of shape \(weight.shape) (expected [..., in] and [out, in])"
  )
  if let bias {
    precondition(
      bias.shape == [weight.shape[0]],
      "linear: bias of shape \(bias.shape) does not match weight of shape \(weight.shape) (expected [\(weight.shape[0])])"
    )
  }
  guard x.rank == 2 else {
    let rows = x.reshaped(to: [x.scalarCount / weight.shape[1], weight.shape[1]])
    return linear(rows, weight: weight, bias: bias).reshaped(
      to: x.shape.dropLast() + [weight.shape[0]])
  }
  let product = matmul(x, weight, transposeB: true)
  guard let bias else { return product }
  return product + bias
}
