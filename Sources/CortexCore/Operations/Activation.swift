/// Activation functions beyond those in Math.swift (tanh, sigmoid, relu).

/// The leaky ReLU, elementwise: `x` where `x > 0`, `α·x` elsewhere; that
/// is the max gate `max(x, α·x)` for `α ≤ 1` (and `min(x, α·x)` for
/// `α > 1`).
///
/// Pullback: `upstream` where `x > 0`, `α · upstream` where `x < 0`. At the
/// tie `x = 0` the first candidate, `x`, wins: the gradient is `upstream`
/// (PyTorch takes `α` there).
///
/// - Parameters:
///   - x: any shape.
///   - negativeSlope: `α`, the slope for `x < 0` (default 0.01).
/// - Returns: the shape of `x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func leakyRelu<Scalar>(_ x: Tensor<Scalar>, negativeSlope: Scalar = 0.01) -> Tensor<Scalar> {
  negativeSlope <= 1 ? max(x, negativeSlope * x) : min(x, negativeSlope * x)
}
