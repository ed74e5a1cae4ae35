/// The max gate over groups of elements: the one backward rule shared by
/// max pooling and maxout.
///
/// Each output element is the largest element of a group of inputs (a
/// pooling window, or `k` consecutive features of a maxout unit); the
/// forward kernel records the flat index of that element, its *winner*,
/// taking the first one in the group's order on a tie. Backward routes each
/// output's gradient to its winner and gives 0 to the rest of the group;
/// where groups overlap (windows with a stride smaller than their size), an
/// input that wins several groups receives the sum.

/// Records the max gate `name` from `x` to `output`, where `output[i]` is
/// `x[winners[i]]` (flat, row-major indices).
func recordMaxGate<Scalar>(
  _ name: String, _ x: Tensor<Scalar>, output: Tensor<Scalar>, winners: [Int]
) -> Tensor<Scalar> {
  precondition(winners.count == output.scalarCount, "\(name): one winner per output element")
  let inputShape = x.shape
  return record(name, x, output: output) { upstream in
    let gradient = Tensor<Scalar>.uninitialized(inputShape)
    winners.withUnsafeBufferPointer { winners in
      routeToWinners(
        upstream.storage.pointer, winners: winners, gradient: gradient.storage.pointer,
        inputCount: gradient.scalarCount)
    }
    return gradient
  }
}
