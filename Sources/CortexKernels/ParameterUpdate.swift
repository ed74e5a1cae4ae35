/// The optimizer updates, applied in place: each rule's loop over a
/// parameter, its gradient and its state.

/// The update rule of one optimizer step, with its hyperparameters already
/// in the parameter's precision. Each case says which state tensors it
/// keeps, in order; every state tensor has the parameter's shape.
public enum ParameterUpdate<Scalar> {
  /// Stochastic gradient descent: `s ← g + λp`; with a momentum μ,
  /// `v ← μv + s`, then `s ← s + μv` (Nesterov) or `s ← v`; finally
  /// `p ← p − η·s`. State: `[velocity]` (untouched without momentum).
  case sgd(learningRate: Scalar, momentum: Scalar?, nesterov: Bool, weightDecay: Scalar)
  /// Adam with bias correction: `g ← g + λp`, `p ← shrink·p`,
  /// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
  /// `p ← p − stepSize·m / (√v / rootCorrection + ε)`, where `stepSize` is
  /// `η / (1−β₁ᵗ)` and `rootCorrection` is `√(1−β₂ᵗ)`. State: `[m, v]`.
  case adam(
    beta1: Scalar, beta2: Scalar, epsilon: Scalar, gradientDecay: Scalar, shrink: Scalar,
    stepSize: Scalar, rootCorrection: Scalar)
  /// RMSProp: `v ← αv + (1−α)g²`, `p ← p − η·g / (√v + ε)`. State: `[v]`.
  case rmsProp(learningRate: Scalar, alpha: Scalar, epsilon: Scalar)
  /// Adadelta: `v ← ρv + (1−ρ)g²`, `Δ ← √(u+ε) / √(v+ε) · g`,
  /// `u ← ρu + (1−ρ)Δ²`, `p ← p − η·Δ`. State: `[v, u]`.
  case adadelta(learningRate: Scalar, rho: Scalar, epsilon: Scalar)

  /// The number of state tensors the rule keeps.
  public var stateCount: Int {
    switch self {
    case .sgd, .rmsProp: return 1
    case .adam, .adadelta: return 2
    }
  }
}

extension ParameterUpdate: Sendable where Scalar: Sendable {}

extension KernelSet {
  /// One step of `update` over `count` elements, in place: `p` the
  /// parameter, `g` its gradient, `s` the rule's state buffers in order.
  /// Each element is updated on its own, so contiguous chunks are shared
  /// out among the pool's threads.
  @inlinable
  static func update<S: KernelScalar>(
    _ update: ParameterUpdate<S>, parameter p: UnsafeMutablePointer<S>,
    gradient g: UnsafePointer<S>, state s: [UnsafeMutablePointer<S>], count: Int
  ) {
    forEachChunk(of: count, costPerItem: 16) { _, range in
      let start = range.lowerBound
      updateChunk(
        update, parameter: p + start, gradient: g + start, state: s.map { $0 + start },
        count: range.count)
    }
  }

  /// ``update(_:parameter:gradient:state:count:)`` on the calling thread.
  @inlinable
  static func updateChunk<S: KernelScalar>(
    _ update: ParameterUpdate<S>, parameter p: UnsafeMutablePointer<S>,
    gradient g: UnsafePointer<S>, state s: [UnsafeMutablePointer<S>], count: Int
  ) {
    switch update {
    case .sgd(let lr, nil, _, let decay):
      for j in 0..<count { p[j] -= lr * (g[j] + decay * p[j]) }
    case .sgd(let lr, let mu?, let nesterov, let decay):
      let v = s[0]
      for j in 0..<count {
        let step = g[j] + decay * p[j]
        v[j] = mu * v[j] + step
        p[j] -= lr * (nesterov ? step + mu * v[j] : v[j])
      }
    case .adam(let b1, let b2, let eps, let decay, let shrink, let stepSize, let root2):
      let (m, v) = (s[0], s[1])
      for j in 0..<count {
        let gj = g[j] + decay * p[j]
        p[j] *= shrink
        m[j] = b1 * m[j] + (1 - b1) * gj
        v[j] = b2 * v[j] + (1 - b2) * gj * gj
        p[j] -= stepSize * m[j] / (v[j].squareRoot() / root2 + eps)
      }
    case .rmsProp(let lr, let a, let eps):
      let v = s[0]
      for j in 0..<count {
        v[j] = a * v[j] + (1 - a) * g[j] * g[j]
        p[j] -= lr * g[j] / (v[j].squareRoot() + eps)
      }
    case .adadelta(let lr, let r, let eps):
      let (v, u) = (s[0], s[1])
      for j in 0..<count {
        v[j] = r * v[j] + (1 - r) * g[j] * g[j]
        let delta = (u[j] + eps).squareRoot() / (v[j] + eps).squareRoot() * g[j]
        u[j] = r * u[j] + (1 - r) * delta * delta
        p[j] -= lr * delta
      }
    }
  }
}
