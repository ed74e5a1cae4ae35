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

/// The winners of a max gate: one flat, row-major input index per output,
/// as 32-bit integers in a buffer from ``BufferPool`` (a fresh array of
/// 64-bit indices per call would cost more than the pooling itself).
final class MaxGateWinners: @unchecked Sendable {
  let count: Int
  let pointer: UnsafeMutablePointer<Int32>

  /// Room for `count` winners of an input of `inputCount` elements.
  ///
  /// - Precondition: `inputCount` fits a 32-bit index (2³¹ − 1 elements).
  init(count: Int, inputCount: Int, _ name: String) {
    precondition(
      inputCount <= Int(Int32.max),
      "\(name): inputs of more than \(Int32.max) elements are not supported, found \(inputCount)")
    self.count = count
    pointer = BufferPool.shared.allocate(bytes: Self.bytes(count))
      .bindMemory(to: Int32.self, capacity: max(count, 1))
  }

  private static func bytes(_ count: Int) -> Int { max(count, 1) * MemoryLayout<Int32>.stride }

  deinit { BufferPool.shared.release(UnsafeMutableRawPointer(pointer), bytes: Self.bytes(count)) }
}

/// How the max gate's backward takes the upstream gradient to the winners.
enum MaxGateRoute<Scalar: TensorScalar> {
  /// Any grouping: the gradient is cleared, then each output's gradient is
  /// added at its winner.
  case general
  /// A faster route that the operation knows for its own groups (2×2
  /// pooling windows that tile the input): it writes every element of the
  /// input's gradient from the upstream gradient and the winners.
  case direct(
    (
      _ upstream: UnsafePointer<Scalar>, _ winners: UnsafePointer<Int32>,
      _ gradient: UnsafeMutablePointer<Scalar>
    ) -> Void)
}

/// Records the max gate `name` from `x` to `output`, where `output[i]` is
/// `x[winners[i]]`.
func recordMaxGate<Scalar>(
  _ name: String, _ x: Tensor<Scalar>, output: Tensor<Scalar>, winners: MaxGateWinners,
  route: MaxGateRoute<Scalar> = .general
) -> Tensor<Scalar> {
  precondition(winners.count == output.scalarCount, "\(name): one winner per output element")
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
  route: MaxGateRoute<Scalar>
) -> Tensor<Scalar> {
  let gradient = Tensor<Scalar>.uninitialized(inputShape)
  switch route {
  case .general:
    routeToWinners(
      upstream.storage.pointer,
      winners: UnsafeBufferPointer(start: winners.pointer, count: winners.count),
      gradient: gradient.storage.pointer, inputCount: gradient.scalarCount)
  case .direct(let write):
    write(upstream.storage.pointer, winners.pointer, gradient.storage.pointer)
  }
  let outputShape = upstream.shape
  return record("\(name)′", upstream, output: gradient) { g in
    let gathered = Tensor<Scalar>.uninitialized(outputShape)
    for i in 0..<winners.count {
      gathered.storage.pointer[i] = g.storage.pointer[Int(winners.pointer[i])]
    }
    return recordMaxGate(name, g, output: gathered, winners: winners, route: route)
  }
}

/// The max gate between two tensors, elementwise with NumPy broadcasting:
/// `a` where `takesFirst(a, b)`, `b` elsewhere. The gradient goes to the
/// candidate taken, summed back to each input's shape.
///
/// Fast path: when `b` is a constant 0-d tensor (relu's 0), forward is one
/// pass over `a` and backward one pass over the gradient. Inlined, so that
/// each caller's comparison is inlined into the kernels.
@inline(__always)
func elementwiseMaxGate<Scalar>(
  _ name: String, _ a: Tensor<Scalar>, _ b: Tensor<Scalar>,
  takesFirst: @escaping (Scalar, Scalar) -> Bool
) -> Tensor<Scalar> {
  if b.rank == 0 && !b.isBeingDifferentiated {
    let c = b.scalar
    return record(name, a, output: a.map { takesFirst($0, c) ? $0 : c }) { g in
      fusedOrComposed(
        fused: { Tensor.broadcasting(name, g, a) { takesFirst($1, c) ? $0 : 0 } },
        composed: { g * a.map { takesFirst($0, c) ? 1 : 0 } })
    }
  }
  let out = Tensor.broadcasting(name, a, b) { takesFirst($0, $1) ? $0 : $1 }
  /// 1 where the first candidate is taken, 0 elsewhere: a constant.
  let first = { Tensor.broadcasting(name, a, b) { takesFirst($0, $1) ? 1 : 0 } }
  return recordBroadcasting(
    name, a, b, output: out, gradientA: { $0 * first() }, gradientB: { $0 * (1 - first()) })
}
