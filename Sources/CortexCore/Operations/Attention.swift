/// Scaled dot-product attention (Vaswani et al.): each query position takes
/// a weighted average of the values, weighted by the softmax of its
/// scaled dot products with the keys.
///
/// Composed of recorded operations (batched matrix products, elementwise
/// operations and sums), so its pullback is theirs and can be
/// differentiated again.

/// The attention weights `softmax(q·kᵀ/√d + mask)` over the key axis.
///
/// A score of −∞ (from the mask or from `causal`) gets weight exactly 0. A
/// query whose every score is −∞, a fully masked row, gets weight 0 on
/// every key (not NaN), so its output is 0 and no gradient flows through
/// it. A finite mask value such as −1e9 is an ordinary score: a row masked
/// only by such values gets the softmax of its scores, as in PyTorch.
///
/// - Parameters:
///   - query: `[batch, heads, queries, depth]`.
///   - key: `[batch, heads, keys, depth]`.
///   - mask: added to the scores; broadcasts to `[batch, heads, queries, keys]`
///     (for example `[queries, keys]`). `nil` for none.
///   - causal: whether query `i` may see only keys `j ≤ i`.
/// - Returns: `[batch, heads, queries, keys]`, each row summing to 1 or, for
///   a fully masked row, to 0.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func attentionWeights<Scalar>(
  query: Tensor<Scalar>, key: Tensor<Scalar>, mask: Tensor<Scalar>? = nil, causal: Bool = false
) -> Tensor<Scalar> {
  requireAttentionShapes(query, key)
  let (batch, heads, queries, depth) = (
    query.shape[0], query.shape[1], query.shape[2], query.shape[3]
  )
  let keys = key.shape[2]
  let products = matmul(
    query.reshaped(to: [batch * heads, queries, depth]),
    key.reshaped(to: [batch * heads, keys, depth]), transposeB: true)
  var scores =
    products.reshaped(to: [batch, heads, queries, keys]) * Scalar(1 / Double(depth).squareRoot())
  if let mask {
    precondition(
      broadcastShape(mask.shape, scores.shape) == scores.shape,
      "scaledDotProductAttention: mask of shape \(mask.shape) does not broadcast to the scores' shape \(scores.shape)"
    )
    scores = scores + mask
  }
  guard mask != nil || causal else { return softmax(scores, alongAxis: 3) }
  let values = scores.withoutDerivative
  // 1 where a key is visible: its score is above −∞ (a NaN is not) and,
  // when causal, it comes no later than the query.
  var visible = values .> -Scalar.infinity
  if causal {
    let earlier = (0..<queries * keys).map { $0 % keys <= $0 / keys }
    visible = visible * Tensor(Mask(shape: [queries, keys], scalars: earlier))
  }
  // A constant shift per row (the largest visible score) keeps every
  // exponent at most 0; it cancels in the ratio, so it carries no gradient.
  let shift = select(where: visible, values, Tensor(-Scalar.infinity))
    .max(alongAxes: [3], keepDims: true).applying(.finiteOrZero, "scaledDotProductAttention")
  let exponentials = exp(select(where: visible, scores, shift) - shift) * visible
  let total = exponentials.sum(alongAxes: [3], keepDims: true)
  // Adds 1 to the denominator of a row with nothing visible, whose
  // numerators are all 0.
  return exponentials / (total + (total.withoutDerivative .== 0))
}

/// Scaled dot-product attention:
/// `softmax(q·kᵀ/√d + mask) · v`, per batch and head (PyTorch's
/// `F.scaled_dot_product_attention` with `attn_mask` as a float mask and
/// `is_causal`).
///
/// The weights are ``attentionWeights(query:key:mask:causal:)``: a score
/// of −∞ gets weight 0, and a fully masked query row gives an output row
/// of zeros (where PyTorch gives NaN), through which no gradient flows.
///
/// - Parameters:
///   - query: `[batch, heads, queries, depth]`.
///   - key: `[batch, heads, keys, depth]`.
///   - value: `[batch, heads, keys, valueDepth]`.
///   - mask: additive; broadcasts to `[batch, heads, queries, keys]`.
///   - causal: whether query `i` may see only keys `j ≤ i`.
/// - Returns: `[batch, heads, queries, valueDepth]`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func scaledDotProductAttention<Scalar>(
  query: Tensor<Scalar>, key: Tensor<Scalar>, value: Tensor<Scalar>,
  mask: Tensor<Scalar>? = nil, causal: Bool = false
) -> Tensor<Scalar> {
  precondition(
    value.rank == 4 && Array(value.shape[..<3]) == Array(key.shape[..<3]),
    "scaledDotProductAttention: value \(value.shape) must be [batch, heads, keys, depth] matching key \(key.shape)"
  )
  if mask == nil, let fused = fusedAttention(query, key, value, causal: causal) { return fused }
  return composedAttention(query, key, value, mask: mask, causal: causal)
}

/// Attention composed of recorded operations: the definition that higher
/// orders differentiate, and the form with an additive mask.
private func composedAttention<Scalar>(
  _ query: Tensor<Scalar>, _ key: Tensor<Scalar>, _ value: Tensor<Scalar>, mask: Tensor<Scalar>?,
  causal: Bool
) -> Tensor<Scalar> {
  let weights = attentionWeights(query: query, key: key, mask: mask, causal: causal)
  let (batch, heads, queries, keys) = (
    weights.shape[0], weights.shape[1], weights.shape[2], weights.shape[3]
  )
  let output = matmul(
    weights.reshaped(to: [batch * heads, queries, keys]),
    value.reshaped(to: [batch * heads, keys, value.shape[3]]))
  return output.reshaped(to: [batch, heads, queries, value.shape[3]])
}

/// Attention through the backend's fused kernel, when it has one: each
/// query's scores stay in cache and the causal mask is a bound on the keys,
/// forward and backward. The composed form stays the definition for
/// gradients of gradients.
private func fusedAttention<Scalar>(
  _ query: Tensor<Scalar>, _ key: Tensor<Scalar>, _ value: Tensor<Scalar>, causal: Bool
) -> Tensor<Scalar>? {
  requireAttentionShapes(query, key)
  let (batch, heads, queries, depth) = (
    query.shape[0], query.shape[1], query.shape[2], query.shape[3]
  )
  let (keys, valueDepth) = (key.shape[2], value.shape[3])
  let groups = batch * heads
  let scale = Scalar(1 / Double(depth).squareRoot())
  let (q, k, v) = (
    query.withoutDerivative.reshapedStorage([groups, queries, depth]),
    key.withoutDerivative.reshapedStorage([groups, keys, depth]),
    value.withoutDerivative.reshapedStorage([groups, keys, valueDepth])
  )
  guard
    let (output, weights) = commonBackend("scaledDotProductAttention", q, k, v).attention(
      query: q, key: k, value: v, scale: scale, causal: causal)
  else { return nil }
  return recordFused(
    "scaledDotProductAttention", inputs: [query, key, value],
    output: output.reshapedStorage([batch, heads, queries, valueDepth]),
    composed: { composedAttention($0[0], $0[1], $0[2], mask: nil, causal: causal) }
  ) { upstream, _ in
    let g = upstream.reshapedStorage([groups, queries, valueDepth])
    let gradients = fusedBackward(
      commonBackend("scaledDotProductAttention", g, q, k, v, weights).attentionGradients(
        g, query: q, key: k, value: v, weights: weights, scale: scale, causal: causal),
      "scaledDotProductAttention")
    return zip(gradients, [query, key, value]).map { $0.reshapedStorage($1.shape) }
  }
}

/// Traps unless `query` and `key` are `[batch, heads, tokens, depth]` with
/// equal batch, heads and depth.
private func requireAttentionShapes<Scalar>(_ query: Tensor<Scalar>, _ key: Tensor<Scalar>) {
  precondition(
    query.rank == 4 && key.rank == 4 && Array(query.shape[..<2]) == Array(key.shape[..<2])
      && query.shape[3] == key.shape[3],
    "scaledDotProductAttention: query \(query.shape) and key \(key.shape) must be [batch, heads, tokens, depth] with equal batch, heads and depth"
  )
}
