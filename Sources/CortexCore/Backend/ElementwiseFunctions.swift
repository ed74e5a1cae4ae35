/// The elementwise functions every backend computes, named by value so that
/// each backend can compile every case for its device (a closure could only
/// ever run on the host).

/// A function of one tensor, applied to every element.
enum UnaryFunction<Scalar: TensorScalar>: Sendable, Equatable {
  /// `−x`.
  case negate
  /// `eˣ`.
  case exp
  /// `ln x`.
  case log
  /// `√x`.
  case sqrt
  /// `x²`.
  case square
  /// `|x|`.
  case abs
  /// −1, 0 or 1 by the sign of `x`.
  case sign
  /// `xᵖ` for a constant `p`.
  case power(Scalar)
  /// `tanh x`.
  case tanh
  /// `1 / (1 + e⁻ˣ)`, without overflow for large `|x|`.
  case sigmoid
  /// `max(x, c)`; `x` on a tie.
  case maximum(Scalar)
  /// `min(x, c)`; `x` on a tie.
  case minimum(Scalar)
  /// 1 where `x ≥ c`, 0 elsewhere.
  case atLeast(Scalar)
  /// 1 where `x ≤ c`, 0 elsewhere.
  case atMost(Scalar)
  /// `x` where it is finite, 0 elsewhere.
  case finiteOrZero
  /// The error function; computed in `Double`, as the five below.
  case erf
  /// `sin x`.
  case sin
  /// `cos x`.
  case cos
  /// `ln(1 + x)`, accurate for tiny `x`.
  case log1p
  /// `eˣ − 1`, accurate for tiny `x`.
  case expm1
  /// `ln(1 + eˣ)` as `max(x, 0) + ln(1 + e^(−|x|))`.
  case softplus
  /// `x · σ(x)`.
  case silu
  /// `x · Φ(x)`, `Φ` the standard normal CDF.
  case gelu
  /// `x · (1 + tanh(√(2/π)(x + 0.044715x³))) / 2`.
  case geluTanh
}

/// A function of two tensors, applied elementwise with NumPy broadcasting.
enum BinaryFunction<Scalar: TensorScalar>: Sendable, Equatable {
  /// `a + b`.
  case add
  /// `a − b`.
  case subtract
  /// `a · b`.
  case multiply
  /// `a / b`.
  case divide
  /// `aᵇ`.
  case power
  /// `max(a, b)`; `a` on a tie.
  case maximum
  /// `min(a, b)`; `a` on a tie.
  case minimum
  /// 1 where `a > b`, 0 elsewhere; the five below likewise.
  case greater
  /// `a < b`.
  case less
  /// `a ≥ b`.
  case greaterOrEqual
  /// `a ≤ b`.
  case lessOrEqual
  /// `a = b`.
  case equal
  /// `a ≠ b`.
  case notEqual
  /// `a` where `b ≥ c`, 0 elsewhere: the max gate's route past a constant.
  case passWhereAtLeast(Scalar)
  /// `a` where `b ≤ c`, 0 elsewhere.
  case passWhereAtMost(Scalar)
  /// `a · (1 − b²)`: an upstream gradient through `b = tanh x`.
  case tanhGradient
  /// `a · b · (1 − b)`: an upstream gradient through `b = σ(x)`.
  case sigmoidGradient
  /// `max(a, 0) − a·b + ln(1 + e^(−|a|))`: the binary cross-entropy of
  /// logits `a` against targets `b`.
  case logisticLoss
}
