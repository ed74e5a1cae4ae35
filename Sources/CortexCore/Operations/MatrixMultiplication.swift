/// Matrix products through the GEMM kernel. Pullbacks are GEMMs too:
/// for `C = A·B`, `∂A = ∂C·Bᵀ` and `∂B = Aᵀ·∂C`, computed by flagging the
/// transposes, never by building a Jacobian or copying a transpose.

/// The matrix product of `a` and `b`, optionally transposing either.
///
/// - `[n]·[n]` → `[]`, `[m, k]·[k]` → `[m]`, `[k]·[k, n]` → `[n]`,
///   `[m, k]·[k, n]` → `[m, n]`, `[b, m, k]·[b, k, n]` → `[b, m, n]`, and
///   `[b, m, k]·[k, n]` → `[b, m, n]`.
/// - The transpose flags apply to matrices (the last two axes) and
///   multiply by the transpose without copying it.
public func matmul<Scalar>(
  _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, transposeA: Bool = false, transposeB: Bool = false
) -> Tensor<Scalar> {
  // Vectors and batches are reshaped into matrices below; the shapes are
  // checked first so that a mismatch names the shapes the caller passed.
  let supported =
    (1...2).contains(a.rank) && (1...2).contains(b.rank)
    || a.rank == 3 && (b.rank == 3 || b.rank == 2 && !transposeA)
  if supported {
    let k = a.rank == 1 ? a.shape[0] : a.shape[a.rank - (transposeA ? 2 : 1)]
    let k2 = b.rank == 1 ? b.shape[0] : b.shape[b.rank - (transposeB ? 1 : 2)]
    checkInnerDimensions(k, k2, a.shape, transposeA, b.shape, transposeB)
  }
  switch (a.rank, b.rank) {
  case (1, 1):
    return matmul(a.reshaped(to: [1, -1]), b.reshaped(to: [-1, 1])).reshaped(to: [])
  case (2, 1):
    return matmul(a, b.reshaped(to: [-1, 1]), transposeA: transposeA).reshaped(to: [-1])
  case (1, 2):
    return matmul(a.reshaped(to: [1, -1]), b, transposeB: transposeB).reshaped(to: [-1])
  case (2, 2), (3, 3):
    return batchedMatmul(a, transposeA, b, transposeB)
  case (3, 2) where !transposeA:
    let (batch, m) = (a.shape[0], a.shape[1])
    let product = batchedMatmul(a.reshaped(to: [batch * m, a.shape[2]]), false, b, transposeB)
    return product.reshaped(to: [batch, m, -1])
  default:
    preconditionFailure("matmul: unsupported shapes \(a.shape) and \(b.shape)")
  }
}

/// `op(a)·op(b)` for matrices, or batch by batch for rank-3 tensors.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
private func batchedMatmul<Scalar>(
  _ a: Tensor<Scalar>, _ transposeA: Bool, _ b: Tensor<Scalar>, _ transposeB: Bool
) -> Tensor<Scalar> {
  let backend = commonBackend("matmul", a, b)
  precondition(
    a.rank == 2 || b.shape[0] == a.shape[0],
    "matmul: batch sizes differ in shapes \(a.shape) and \(b.shape)")
  let (rowsA, colsA) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
  let (rowsB, colsB) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
  let k = transposeA ? rowsA : colsA
  let k2 = transposeB ? colsB : rowsB
  checkInnerDimensions(k, k2, a.shape, transposeA, b.shape, transposeB)
  let out = backend.matmul(a, transposeA: transposeA, b, transposeB: transposeB)
  // The gradients are matrix products themselves, by transpose flags:
  // ∂A = ∂C·op(B)ᵀ (or op(B)·∂Cᵀ when A is transposed) and ∂B = op(A)ᵀ·∂C
  // (or ∂Cᵀ·op(A)); being recorded, they can be differentiated again.
  return record(
    "matmul", a, b, output: out,
    pullbackX: { g in
      transposeA
        ? matmul(b, g, transposeA: transposeB, transposeB: true)
        : matmul(g, b, transposeB: !transposeB)
    },
    pullbackY: { g in
      transposeB
        ? matmul(g, a, transposeA: true, transposeB: transposeA)
        : matmul(a, g, transposeA: !transposeA)
    })
}

/// Traps unless the inner dimensions `k` of `op(a)` and `k2` of `op(b)` agree,
/// naming both shapes.
private func checkInnerDimensions(
  _ k: Int, _ k2: Int, _ a: [Int], _ transposeA: Bool, _ b: [Int], _ transposeB: Bool
) {
  precondition(
    k == k2,
    "matmul: inner dimensions differ: \(a)\(transposeA ? "ᵀ" : "") · \(b)\(transposeB ? "ᵀ" : "") (\(k) vs \(k2))"
  )
}
