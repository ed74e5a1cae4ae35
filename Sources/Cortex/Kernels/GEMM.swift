/// Matrix multiplication on row-major buffers:
/// `C = op(A) · op(B)` (or `C += op(A) · op(B)` when `accumulate`), where
/// `op(A)` is `[m, k]`, `op(B)` is `[k, n]` and `C` is `[m, n]`.
/// `op(X)` is `X` or, when its `transpose` flag is set, `Xᵀ`; `lda`, `ldb`,
/// `ldc` are the row strides of the buffers as stored.
func gemm<S: TensorScalar>(
  transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
  a: UnsafePointer<S>, lda: Int, b: UnsafePointer<S>, ldb: Int,
  c: UnsafeMutablePointer<S>, ldc: Int, accumulate: Bool
) {
  for i in 0..<m {
    let row = c + i * ldc
    if !accumulate { for j in 0..<n { row[j] = 0 } }
    for p in 0..<k {
      let aip = transposeA ? a[p * lda + i] : a[i * lda + p]
      if transposeB {
        for j in 0..<n { row[j] += aip * b[j * ldb + p] }
      } else {
        let bp = b + p * ldb
        for j in 0..<n { row[j] += aip * bp[j] }
      }
    }
  }
}
