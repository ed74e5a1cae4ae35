/// Maxout: each unit is the maximum of its `k` pieces, `h_i = max_j z_ij`;
/// with affine pieces, a piecewise-linear approximator of any convex
/// function.

/// The output shape of ``maxout(_:pieces:)``, or the reason there is none:
/// `[N, m·k]` → `[N, m]` and `[N, m·k, H, W]` → `[N, m, H, W]`; the
/// feature count must be a multiple of `k`.
///
/// - Parameters:
///   - input: `[N, F, ...]`, features on axis 1.
///   - pieces: `k`, the number of pieces per unit.
public func maxoutOutputShape(input: [Int], pieces: Int) throws(ShapeError) -> [Int] {
  guard input.count >= 2 else {
    throw ShapeError("maxout expects an input of shape [N, m·k] or [N, m·k, H, W], found \(input)")
  }
  guard pieces > 0 else {
    throw ShapeError("the number of pieces must be positive, found \(pieces)")
  }
  guard input[1] % pieces == 0 else {
    throw ShapeError("\(input[1]) features cannot be split into units of \(pieces) pieces")
  }
  var shape = input
  shape[1] /= pieces
  return shape
}

/// Maxout over consecutive groups of `k` features: unit `i` is the maximum
/// of features `i·k ..< (i + 1)·k`, at every spatial position.
///
/// `y[n, i, ...] = max_{j<k} z[n, i·k + j, ...]`. Applied to affine
/// outputs `z_ij = xᵀW_ij + b_ij`, this is the maxout unit
/// `h_i(x) = max_j z_ij`.
///
/// Pullback: the max gate. Each unit's gradient goes to the piece that
/// attained the maximum, 0 to the others; on a tie the first piece wins.
///
/// - Parameters:
///   - z: `[N, m·k]` or `[N, m·k, H, W]` (any rank ≥ 2, features on axis 1).
///   - k: the number of pieces per unit; must divide the feature count.
/// - Returns: `[N, m]` or `[N, m, H, W]`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func maxout<Scalar>(_ z: Tensor<Scalar>, pieces k: Int) -> Tensor<Scalar> {
  let shape: [Int]
  do {
    shape = try maxoutOutputShape(input: z.shape, pieces: k)
  } catch {
    preconditionFailure("maxout: \(error.message) (input \(z.shape))")
  }
  requireWinnerIndices("maxout", z)
  let (output, winners) = z.backend("maxout").maxout(z, pieces: k, shape: shape)
  return recordMaxGate("maxout", z, output: output, winners: winners)
}
