import CortexCore
import CortexKernels

/// The reference backend's optimizer updates: each rule's formulas, one
/// element at a time.

extension ReferenceBackend {
  /// One step of `update`: `parameter` and each tensor of `state` (as many
  /// as the rule keeps, in its order) are replaced by their new values
  /// computed from `gradient`; all have one shape, checked by the caller.
  ///
  /// - SGD: `s ← g + λp`; with a momentum μ, `v ← μv + s`, then
  ///   `s ← s + μv` (Nesterov) or `s ← v`; `p ← p − η·s`.
  /// - Adam: `g ← g + λp`, `p ← shrink·p`, `m ← β₁m + (1−β₁)g`,
  ///   `v ← β₂v + (1−β₂)g²`, `p ← p − stepSize·m / (√v / rootCorrection + ε)`.
  /// - RMSProp: `v ← αv + (1−α)g²`, `p ← p − η·g / (√v + ε)`.
  /// - Adadelta: `v ← ρv + (1−ρ)g²`, `Δ ← √(u+ε) / √(v+ε) · g`,
  ///   `u ← ρu + (1−ρ)Δ²`, `p ← p − η·Δ`.
  package func apply<S: TensorScalar>(
    _ update: ParameterUpdate<S>, to parameter: inout Tensor<S>, gradient: Tensor<S>,
    state: inout [Tensor<S>]
  ) {
    var p = parameter.scalars
    let g = gradient.scalars
    var s = state.map(\.scalars)
    for j in p.indices {
      switch update {
      case .sgd(let lr, nil, _, let decay):
        p[j] -= lr * (g[j] + decay * p[j])
      case .sgd(let lr, let mu?, let nesterov, let decay):
        let step = g[j] + decay * p[j]
        s[0][j] = mu * s[0][j] + step
        p[j] -= lr * (nesterov ? step + mu * s[0][j] : s[0][j])
      case .adam(let b1, let b2, let eps, let decay, let shrink, let stepSize, let root2):
        let gj = g[j] + decay * p[j]
        p[j] *= shrink
        s[0][j] = b1 * s[0][j] + (1 - b1) * gj
        s[1][j] = b2 * s[1][j] + (1 - b2) * gj * gj
        p[j] -= stepSize * s[0][j] / (s[1][j].squareRoot() / root2 + eps)
      case .rmsProp(let lr, let a, let eps):
        s[0][j] = a * s[0][j] + (1 - a) * g[j] * g[j]
        p[j] -= lr * g[j] / (s[0][j].squareRoot() + eps)
      case .adadelta(let lr, let r, let eps):
        s[0][j] = r * s[0][j] + (1 - r) * g[j] * g[j]
        let delta = (s[1][j] + eps).squareRoot() / (s[0][j] + eps).squareRoot() * g[j]
        s[1][j] = r * s[1][j] + (1 - r) * delta * delta
        p[j] -= lr * delta
      }
    }
    parameter = tensor(parameter.shape, p)
    for k in state.indices { state[k] = tensor(state[k].shape, s[k]) }
  }
}
