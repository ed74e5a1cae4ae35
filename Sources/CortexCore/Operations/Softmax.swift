/// Softmax, log-softmax and log-sum-exp, computed stably: the largest value
/// along the reduced axes is subtracted before exponentiating, so every
/// exponent is at most 0 and nothing overflows (logits of ±1e4 are fine).
/// Each pullback is a closed-form vector–Jacobian product.

extension Tensor {
  /// `log Σ exp(x)` along the given axes, computed as
  /// `m + log Σ exp(x − m)` with `m` the maximum along those axes.
  ///
  /// Pullback: the upstream gradient, broadcast back over the reduced axes,
  /// times `exp(x − logSumExp(x))`, the softmax over those axes.
  ///
  /// - Parameters:
  ///   - axes: the axes to reduce (negative axes count from the end).
  ///   - keepDims: whether the reduced axes stay, with size 1.
  /// - Returns: the shape of `self` without `axes` (or with 1 there when
  ///   `keepDims`).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func logSumExp(alongAxes axes: [Int], keepDims: Bool = false) -> Tensor {
    let axes = normalizedAxes(axes, "logSumExp")
    let value = withoutDerivative
    // A row that is all −∞ (or holds +∞) has no finite maximum; shifting by
    // 0 then gives −∞ (or +∞) instead of NaN.
    let shift = value.max(alongAxes: axes, keepDims: true).applying(.finiteOrZero, "logSumExp")
    let kept = shift + log(exp(value - shift).sum(alongAxes: axes, keepDims: true))
    let keptShape = kept.shape
    let result = kept.reshapedStorage(reducedShape(axes, keepDims: keepDims))
    return record("logSumExp", self, output: result) { g in
      g.reshaped(to: keptShape)
        * fusedOrComposed(
          fused: { exp(value - kept) },
          composed: { exp(self - self.logSumExp(alongAxes: axes, keepDims: true)) })
    }
  }

  /// `log Σ exp(x)` along the given axes; see ``logSumExp(alongAxes:keepDims:)``.
  public func logSumExp(alongAxes axes: Int...) -> Tensor { logSumExp(alongAxes: axes) }
}

/// The softmax along `axis`: `yᵢ = exp(xᵢ − m) / Σⱼ exp(xⱼ − m)`, where `m`
/// is the maximum along the axis; each slice along `axis` sums to 1.
///
/// Pullback: `y ⊙ (g − Σ(g ⊙ y))`, the sum taken along `axis`.
///
/// - Parameters:
///   - x: any shape, for example `[N, classes]` scores.
///   - axis: the axis to normalize along (default the last).
/// - Returns: the shape of `x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func softmax<Scalar>(_ x: Tensor<Scalar>, alongAxis axis: Int = -1) -> Tensor<Scalar> {
  let axis = x.normalizedAxis(axis, "softmax")
  let value = x.withoutDerivative
  let exponentials = exp(value - value.max(alongAxes: [axis], keepDims: true))
  let y = exponentials / exponentials.sum(alongAxes: [axis], keepDims: true)
  return record("softmax", x, output: y) { g in
    let y = fusedOrComposed(fused: { y }, composed: { softmax(x, alongAxis: axis) })
    return y * (g - (g * y).sum(alongAxes: [axis], keepDims: true))
  }
}

/// The logarithm of the softmax along `axis`, computed without forming the
/// softmax: `yᵢ = xᵢ − logSumExp(x)`. Stays finite where the softmax
/// underflows to 0.
///
/// Pullback: `g − softmax(x) ⊙ Σg`, the sum taken along `axis`.
///
/// - Parameters:
///   - x: any shape, for example `[N, classes]` scores.
///   - axis: the axis to normalize along (default the last).
/// - Returns: the shape of `x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func logSoftmax<Scalar>(_ x: Tensor<Scalar>, alongAxis axis: Int = -1) -> Tensor<Scalar> {
  let axis = x.normalizedAxis(axis, "logSoftmax")
  let value = x.withoutDerivative
  let y = value - value.logSumExp(alongAxes: [axis], keepDims: true)
  return record("logSoftmax", x, output: y) { g in
    g - fusedOrComposed(fused: { exp(y) }, composed: { softmax(x, alongAxis: axis) })
      * g.sum(alongAxes: [axis], keepDims: true)
  }
}
