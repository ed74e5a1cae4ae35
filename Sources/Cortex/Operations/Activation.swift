/// Activation functions beyond those in Math.swift (tanh, sigmoid, relu).

/// The leaky ReLU, elementwise: `x` where `x > 0`, `α·x` elsewhere.
///
/// Pullback: `upstream` where `x > 0`, `α · upstream` elsewhere. At the tie
/// `x = 0` the gradient takes the negative side, `α` (as PyTorch does, and
/// as ``relu(_:)`` gives 0 there).
///
/// - Parameters:
///   - x: any shape.
///   - negativeSlope: `α`, the slope for `x ≤ 0` (default 0.01).
/// - Returns: the shape of `x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func leakyRelu<Scalar>(_ x: Tensor<Scalar>, negativeSlope: Scalar = 0.01) -> Tensor<Scalar> {
  record("leakyRelu", x, output: x.map { $0 > 0 ? $0 : negativeSlope * $0 }) { g in
    Tensor.broadcasting("leakyRelu", g, x) { $1 > 0 ? $0 : negativeSlope * $0 }
  }
}
