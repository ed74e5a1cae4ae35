/// The winners of a max gate: one flat, row-major input index per output,
/// as 32-bit integers in a buffer from ``BufferPool`` (a fresh array of
/// 64-bit indices per call would cost more than the pooling itself). The
/// backend that computed them owns their memory; operations only pass them
/// back to it.
package final class MaxGateWinners: @unchecked Sendable {
  /// How many winners: one per output of the gate.
  package let count: Int
  let pointer: UnsafeMutablePointer<Int32>
  /// The vmap batch axes the winners were found under, outermost first:
  /// the indices are into the storage of every example at once, and the
  /// gate's routing is batched at these levels.
  var batch: [BatchAxis] = []
  /// How many winners the buffer has room for: `count`, or 0 for winners
  /// that are never read.
  private let capacity: Int

  /// Room for `count` winners; the operation has checked its input with
  /// ``requireWinnerIndices(_:_:)``.
  init(count: Int) {
    self.count = count
    capacity = count
    pointer = BufferPool.shared.allocate(bytes: Self.bytes(count))
      .bindMemory(to: Int32.self, capacity: max(count, 1))
  }

  /// The winners `indices`, flat indices into the gate's input, each
  /// below 2³¹ (``requireWinnerIndices(_:_:)``).
  package convenience init(_ indices: [Int]) {
    self.init(count: indices.count)
    for (i, index) in indices.enumerated() { pointer[i] = Int32(index) }
  }

  /// `count` winners that are never read (a shape-only gate's): one slot.
  init(unreadCount count: Int) {
    self.count = count
    capacity = 0
    pointer = BufferPool.shared.allocate(bytes: Self.bytes(0))
      .bindMemory(to: Int32.self, capacity: 1)
  }

  private static func bytes(_ count: Int) -> Int { max(count, 1) * MemoryLayout<Int32>.stride }

  deinit {
    BufferPool.shared.release(UnsafeMutableRawPointer(pointer), bytes: Self.bytes(capacity))
  }
}

/// Traps unless every element of `x` has a 32-bit flat index (2³¹ − 1
/// elements at most), as the winners of a max gate over it need.
func requireWinnerIndices<Scalar>(_ name: String, _ x: Tensor<Scalar>) {
  precondition(
    x.scalarCount <= Int(Int32.max),
    "\(name): inputs of more than \(Int32.max) elements are not supported, found \(x.scalarCount)")
}

extension MaxGateWinners {
  /// The winners as flat indices, read back to the host.
  package var indices: [Int] {
    UnsafeBufferPointer(start: pointer, count: count).map { Int($0) }
  }
}
