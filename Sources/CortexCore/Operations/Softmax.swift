import Foundation

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
  // Along the last axis, one fused pass per row, forward and backward.
  let lastAxis = axis == x.rank - 1
  let y: Tensor<Scalar>
  if lastAxis {
    y = x.backend("softmax").softmaxLastAxis(value, logarithm: false)
  } else {
    let exponentials = exp(value - value.max(alongAxes: [axis], keepDims: true))
    y = exponentials / exponentials.sum(alongAxes: [axis], keepDims: true)
  }
  return record("softmax", x, output: y) { g in
    if lastAxis && !isRecordingBackward {
      return commonBackend("softmax", y, g).softmaxLastAxisGradient(
        y, upstream: g, logarithm: false)
    }
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
  let lastAxis = axis == x.rank - 1
  let y: Tensor<Scalar>
  if lastAxis {
    y = x.backend("logSoftmax").softmaxLastAxis(value, logarithm: true)
  } else {
    // (x − m) − log Σ e^(x − m): x − m is exact near the largest, so the
    // log-probabilities there keep their relative accuracy, where
    // x − logSumExp(x) rounds them to multiples of m's ulp.
    let shift = value.max(alongAxes: [axis], keepDims: true).applying(.finiteOrZero, "logSoftmax")
    let shifted = value - shift
    y = shifted - log(exp(shifted).sum(alongAxes: [axis], keepDims: true))
  }
  return record("logSoftmax", x, output: y) { g in
    if lastAxis && !isRecordingBackward {
      return commonBackend("logSoftmax", y, g).softmaxLastAxisGradient(
        y, upstream: g, logarithm: true)
    }
    return g - fusedOrComposed(fused: { exp(y) }, composed: { softmax(x, alongAxis: axis) })
      * g.sum(alongAxes: [axis], keepDims: true)
  }
}

// MARK: - Sampling

extension Tensor {
  /// One class drawn from each row of `self`, read as logits along the
  /// last axis: class `j` of a row with probability
  /// `softmax(logits / temperature)ⱼ`, as a language model samples its
  /// next token (`torch.multinomial(softmax(z / T), 1)`).
  ///
  /// A temperature of 0 takes the most likely class (the first on a tie),
  /// with no draw; a temperature below 1 sharpens the distribution and one
  /// above 1 flattens it. Each row consumes one draw of `generator`, so a
  /// seed gives the same samples on every machine. Sampling is not
  /// differentiable and records nothing.
  ///
  /// - Parameters:
  ///   - temperature: `T ≥ 0`.
  ///   - generator: the source of the draws.
  /// - Returns: the class of each row, in the shape of `self` without its
  ///   last axis.
  public func sampledCategories(temperature: Scalar = 1, using generator: inout SeededGenerator)
    -> IndexTensor
  {
    precondition(
      rank >= 1 && shape[rank - 1] > 0,
      "sampledCategories: expected logits of shape [..., classes] with classes > 0, found \(shape)")
    precondition(
      temperature >= 0 && temperature.isFinite,
      "sampledCategories: the temperature must be finite and non-negative, found \(temperature)")
    let classes = shape[rank - 1]
    let logits = scalars.map(Double.init)
    precondition(
      !logits.contains { $0.isNaN },
      "sampledCategories: the logits of shape \(shape) hold NaN")
    var samples: [Int] = []
    samples.reserveCapacity(logits.count / classes)
    for start in stride(from: 0, to: logits.count, by: classes) {
      let row = logits[start..<(start + classes)]
      let largest = row.max()!
      let best = row.firstIndex(of: largest)! - start
      if temperature == 0 || largest == .infinity {
        samples.append(best)
        continue
      }
      let weights = row.map { Foundation.exp(($0 - largest) / Double(temperature)) }
      let draw = generator.nextUnit() * weights.reduce(0, +)
      var total = 0.0
      let chosen = weights.firstIndex { weight in
        total += weight
        return draw < total
      }
      samples.append(chosen ?? best)
    }
    return IndexTensor(shape: Array(shape.dropLast()), scalars: samples)
  }

  /// One class drawn from each row of logits, reproducible for a given
  /// seed; see ``sampledCategories(temperature:using:)``.
  public func sampledCategories(temperature: Scalar = 1, seed: UInt64) -> IndexTensor {
    var generator = SeededGenerator(seed: seed)
    return sampledCategories(temperature: temperature, using: &generator)
  }
}
