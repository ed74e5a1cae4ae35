/// The max gate: the one backward rule of every operation that picks the
/// largest (or smallest) of its candidates — elementwise ``max(_:_:)-(Tensor<Scalar>,Tensor<Scalar>)``
/// and ``min(_:_:)-(Tensor<Scalar>,Tensor<Scalar>)``, ``relu(_:)``,
/// ``leakyRelu(_:negativeSlope:)`` (`max(x, αx)`), the max and min
/// reductions, max pooling, maxout, and the hinge loss (`max(margin, 0)`).
///
/// The upstream gradient goes to the winner and 0 to the other candidates.
/// **The tie rule: on a tie the first candidate wins** — the first
/// argument of `max(a, b)` and `min(a, b)`, the first element in row-major
/// order of a reduced group, a pooling window or a maxout unit. So
/// `relu(x) = max(x, 0)` passes the gradient at `x = 0` (relu′(0) = 1), and
/// `relu(x)` and `max(x, 0)` agree everywhere, in values and gradients.
///
/// Over groups, the forward kernel records each output's winner (a flat
/// input index); backward scatters each output's gradient to its winner,
/// summing where windows overlap. The scatter is itself a recorded
/// operation whose pullback gathers at the same winners (and the gather's
/// pullback scatters), so gradients of any order route the same way. Fast
/// paths — 2×2 pooling windows, a constant second argument as in relu — are
/// kernels chosen inside the gate.

/// Records the max gate `name` from `x` to `output`, where `output[i]` is
/// `x[winners[i]]`; `route` is the backward the backend chose with the
/// winners.
func recordMaxGate<Scalar>(
  _ name: String, _ x: Tensor<Scalar>, output: Tensor<Scalar>, winners: MaxGateWinners,
  route: MaxGateRoute = .general
) -> Tensor<Scalar> {
  precondition(
    winners.count == output.scalarCount * winners.batch.reduce(1) { $0 * $1.size },
    "\(name): one winner per output element")
  let inputShape = x.shape
  return record(name, x, output: output) { upstream in
    scatterToWinners(name, upstream, winners: winners, inputShape: inputShape, route: route)
  }
}

/// The max gate's backward: each element of `upstream` added at its winner
/// in a tensor of `inputShape`, zero elsewhere. Recorded, with a gather at
/// the same winners as its pullback.
private func scatterToWinners<Scalar>(
  _ name: String, _ upstream: Tensor<Scalar>, winners: MaxGateWinners, inputShape: [Int],
  route: MaxGateRoute
) -> Tensor<Scalar> {
  let gradient = routingBackend(name, upstream, winners).scatter(
    upstream, toWinners: winners, route: route, inputShape: inputShape)
  let outputShape = upstream.shape
  return record("\(name)′", upstream, output: gradient) { g in
    let gathered = routingBackend(name, g, winners).gather(
      g, atWinners: winners, shape: outputShape)
    return recordMaxGate(name, g, output: gathered, winners: winners, route: route)
  }
}

/// The max gate between two tensors, elementwise with NumPy broadcasting:
/// `max(a, b)` when `largest`, `min(a, b)` otherwise, `a` on a tie. The
/// gradient goes to the candidate taken, summed back to each input's shape.
///
/// Fast path: when `b` is a constant 0-d tensor (relu's 0), forward is one
/// pass over `a` and backward one pass over the gradient.
func elementwiseMaxGate<Scalar>(
  _ name: String, _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, largest: Bool
) -> Tensor<Scalar> {
  if b.rank == 0 && !b.isBeingDifferentiated && !b.isBatched {
    let c = b.scalar
    let output = a.applying(largest ? .maximum(c) : .minimum(c), name)
    return record(name, a, output: output) { g in
      fusedOrComposed(
        fused: {
          Tensor.broadcasting(name, g, a, largest ? .passWhereAtLeast(c) : .passWhereAtMost(c))
        },
        composed: { g * a.applying(largest ? .atLeast(c) : .atMost(c), name) })
    }
  }
  let out = Tensor.broadcasting(name, a, b, largest ? .maximum : .minimum)
  /// 1 where the first candidate is taken, 0 elsewhere: a constant.
  let first = { Tensor.broadcasting(name, a, b, largest ? .greaterOrEqual : .lessOrEqual) }
  return recordBroadcasting(
    name, a, b, output: out, gradientA: { $0 * first() }, gradientB: { $0 * (1 - first()) })
}

/// The backend that routes `gradient` by `winners`: winners found inside a
/// vmap route every example's gradient, even one that is the same for all
/// of them.
private func routingBackend<Scalar>(
  _ name: String, _ gradient: Tensor<Scalar>, _ winners: MaxGateWinners
) -> any Backend {
  let level = Swift.max(gradient.batchLevel, winners.batch.last?.level ?? 0)
  return level > 0 ? BatchingBackend(level: level) : gradient.backend(name)
}
