import CortexCore

/// The reference backend's matrix product: the textbook triple loop.

extension ReferenceBackend {
  /// `op(a) · op(b)` for matrices `[m, k]·[k, n]`, or batch by batch for
  /// `[B, m, k]·[B, k, n]`, where `op` transposes the last two axes when
  /// its flag is set. Returns: `[m, n]` or `[B, m, n]`.
  package func matmul<S: TensorScalar>(
    _ a: Tensor<S>, transposeA: Bool, _ b: Tensor<S>, transposeB: Bool
  ) -> Tensor<S> {
    let batched = a.rank == 3
    let batch = batched ? a.shape[0] : 1
    let (rowsA, columnsA) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
    let (rowsB, columnsB) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
    let (m, k) = transposeA ? (columnsA, rowsA) : (rowsA, columnsA)
    let n = transposeB ? rowsB : columnsB
    let (left, right) = (a.scalars, b.scalars)
    var out = [S](repeating: 0, count: batch * m * n)
    for t in 0..<batch {
      let (baseA, baseB) = (t * rowsA * columnsA, t * rowsB * columnsB)
      for i in 0..<m {
        for j in 0..<n {
          var total: S = 0
          for p in 0..<k {
            let x = left[baseA + (transposeA ? p * columnsA + i : i * columnsA + p)]
            let y = right[baseB + (transposeB ? j * columnsB + p : p * columnsB + j)]
            total += x * y
          }
          out[(t * m + i) * n + j] = total
        }
      }
    }
    return tensor(batched ? [batch, m, n] : [m, n], out)
  }
}
