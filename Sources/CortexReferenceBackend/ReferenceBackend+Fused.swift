import CortexCore

/// The reference backend's fused primitives: softmax and log-softmax
/// along the last axis and layer normalization, each with its gradient.
/// The optional ones (attention, the softmax cross-entropy, batch
/// normalization's per-channel passes) are left to the protocol's
/// defaults, and the operations compose them.

extension ReferenceBackend {
  // MARK: Softmax along the last axis

  /// The softmax of `x` along its last axis, `e^(x − m) / Σ e^(x − m)` with
  /// `m` the row's largest element, or its log-softmax
  /// `(x − m) − log Σ e^(x − m)` when `logarithm`. Returns: the shape of `x`.
  package func softmaxLastAxis<S: TensorScalar>(_ x: Tensor<S>, logarithm: Bool) -> Tensor<S> {
    let values = x.scalars
    let length = x.shape.last ?? 1
    var out = [S](repeating: 0, count: values.count)
    for start in stride(from: 0, to: length == 0 ? 0 : values.count, by: length) {
      let row = start..<(start + length)
      let largest = values[row].max()!
      let total = values[row].reduce(0) { $0 + S.exp($1 - largest) }
      // Below 2 the sum is the largest's 1 and the other terms, whose
      // logarithm `log1p` keeps where `1 + others` would round them away.
      let others = values[row].reduce(0) { $1 == largest ? $0 : $0 + S.exp($1 - largest) }
      let logTotal = total < 2 ? S.log1p(others) : S.log(total)
      for j in row {
        out[j] = logarithm ? (values[j] - largest) - logTotal : S.exp(values[j] - largest) / total
      }
    }
    return tensor(x.shape, out)
  }

  /// The gradient through ``softmaxLastAxis(_:logarithm:)`` from its output
  /// `y` and the upstream gradient `g`: `y·(g − Σ g·y)` along the last
  /// axis, or `g − e^y·Σ g` for the log-softmax. Returns: the shape of `y`.
  package func softmaxLastAxisGradient<S: TensorScalar>(
    _ y: Tensor<S>, upstream: Tensor<S>, logarithm: Bool
  ) -> Tensor<S> {
    let (values, g) = (y.scalars, upstream.scalars)
    let length = y.shape.last ?? 1
    var out = [S](repeating: 0, count: values.count)
    for start in stride(from: 0, to: length == 0 ? 0 : values.count, by: length) {
      let row = start..<(start + length)
      if logarithm {
        let total = row.reduce(S(0)) { $0 + g[$1] }
        for j in row { out[j] = g[j] - S.exp(values[j]) * total }
      } else {
        let total = row.reduce(S(0)) { $0 + g[$1] * values[$1] }
        for j in row { out[j] = values[j] * (g[j] - total) }
      }
    }
    return tensor(y.shape, out)
  }

  // MARK: Layer normalization

  /// Layer normalization of each row of `x`, a row being the last
  /// `weight.scalarCount` scalars: with the row's mean `μ` and biased
  /// variance `σ²`, `x̂ = (x − μ)/√(σ² + ε)` and the output `x̂·γ + β`.
  /// Returns: the output and `x̂` (the shape of `x`) and each row's
  /// inverse deviation `1/√(σ² + ε)` (the shape of `x` without the rows'
  /// axes).
  package func layerNormRows<S: TensorScalar>(
    _ x: Tensor<S>, weight: Tensor<S>, bias: Tensor<S>, epsilon: S
  ) -> (output: Tensor<S>, normalized: Tensor<S>, inverseDeviation: Tensor<S>) {
    let (values, gamma, beta) = (x.scalars, weight.scalars, bias.scalars)
    let length = gamma.count
    var (out, normalized) = ([S](repeating: 0, count: values.count), [S]())
    var inverseDeviations: [S] = []
    for start in stride(from: 0, to: values.count, by: length) {
      let row = values[start..<(start + length)]
      let mean = row.reduce(0, +) / S(length)
      let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / S(length)
      let inverse = 1 / (variance + epsilon).squareRoot()
      inverseDeviations.append(inverse)
      for (j, value) in row.enumerated() {
        normalized.append((value - mean) * inverse)
        out[start + j] = normalized[start + j] * gamma[j] + beta[j]
      }
    }
    return (
      tensor(x.shape, out), tensor(x.shape, normalized),
      tensor(Array(x.shape.dropLast(weight.rank)), inverseDeviations)
    )
  }

  /// The input gradient of ``layerNormRows(_:weight:bias:epsilon:)``: with
  /// `a = g·γ` along a row, `(a − mean(a) − x̂·mean(a·x̂)) / √(σ² + ε)`.
  /// Returns: the shape of `upstream`.
  package func layerNormRowsGradient<S: TensorScalar>(
    _ upstream: Tensor<S>, normalized: Tensor<S>, inverseDeviation: Tensor<S>, weight: Tensor<S>
  ) -> Tensor<S> {
    let (g, xHat, inverses, gamma) = (
      upstream.scalars, normalized.scalars, inverseDeviation.scalars, weight.scalars
    )
    let length = gamma.count
    var out = [S](repeating: 0, count: g.count)
    for (r, start) in stride(from: 0, to: g.count, by: length).enumerated() {
      let row = start..<(start + length)
      let a = row.map { g[$0] * gamma[$0 - start] }
      let meanA = a.reduce(0, +) / S(length)
      let meanProduct = zip(a, row).reduce(S(0)) { $0 + $1.0 * xHat[$1.1] } / S(length)
      for (j, index) in row.enumerated() {
        out[index] = (a[j] - meanA - xHat[index] * meanProduct) * inverses[r]
      }
    }
    return tensor(upstream.shape, out)
  }
}
