/// The CPU backend's optimizer updates: each rule's loop over the
/// parameter, its gradient and its state, in place.

extension CPUBackend {
  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func apply<S: TensorScalar>(
    _ update: ParameterUpdate<S>, to parameter: inout Tensor<S>, gradient: Tensor<S>,
    state: inout [Tensor<S>]
  ) {
    parameter.makeUnique()
    for k in state.indices { state[k].makeUnique() }
    let (p, g, count) = (parameter.storage.pointer, gradient.storage.pointer, parameter.scalarCount)
    let s = state.map { $0.storage.pointer }
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
