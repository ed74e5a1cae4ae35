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

/// How the groups of a max gate lie over its input, so that backward can
/// take the shortest route.
enum MaxGateGroups {
  /// Any grouping: the gradient is cleared, then each output's gradient
  /// is added at its winner.
  case general
  /// 2×2 windows with stride 2 that tile `planes` planes exactly: each
  /// input belongs to one window, and its gradient is written once.
  case tiles2x2(planes: Int, WindowGeometry)
}

/// Records the max gate `name` from `x` to `output`, where `output[i]` is
/// `x[winners[i]]`.
func recordMaxGate<Scalar>(
  _ name: String, _ x: Tensor<Scalar>, output: Tensor<Scalar>, winners: MaxGateWinners,
  groups: MaxGateGroups = .general
) -> Tensor<Scalar> {
  precondition(winners.count == output.scalarCount, "\(name): one winner per output element")
  let inputShape = x.shape
  return record(name, x, output: output) { upstream in
    let gradient = Tensor<Scalar>.uninitialized(inputShape)
    switch groups {
    case .general:
      routeToWinners(
        upstream.storage.pointer,
        winners: UnsafeBufferPointer(start: winners.pointer, count: winners.count),
        gradient: gradient.storage.pointer, inputCount: gradient.scalarCount)
    case .tiles2x2(let planes, let geometry):
      routeToWinners2x2(
        upstream.storage.pointer, winners: winners.pointer, gradient: gradient.storage.pointer,
        planes: planes, geometry)
    }
    return gradient
  }
}
