/// The bytes of a tensor: one contiguous, 64-byte aligned allocation.
///
/// This is the one place that knows where a tensor's scalars live. A tensor
/// shares its storage with its copies until one of them is mutated
/// (copy-on-write). Every device but ``Device/meta`` keeps its scalars in
/// host memory today (the CPU's, and the reference backend's); a device
/// with memory of its own would copy in ``init(_:device:)`` (an upload)
/// and in ``moved(to:)``.
final class TensorStorage<Scalar: TensorScalar>: @unchecked Sendable {
  let count: Int
  let pointer: UnsafeMutablePointer<Scalar>
  /// Where the scalars live.
  let device: Device

  /// Allocates storage for `count` scalars whose values are undefined;
  /// on ``Device/meta``, allocates nothing.
  init(uninitializedCount count: Int, device: Device) {
    precondition(count >= 0, "a tensor cannot hold \(count) scalars")
    self.count = count
    self.device = device
    pointer =
      device == .meta
      ? Self.nowhere
      : BufferPool.shared.allocate(bytes: Self.bytes(count))
        .bindMemory(to: Scalar.self, capacity: max(count, 1))
  }

  /// Where every meta storage points: nothing is read or written there.
  private static var nowhere: UnsafeMutablePointer<Scalar> {
    metaAddress.assumingMemoryBound(to: Scalar.self)
  }

  convenience init(repeating value: Scalar, count: Int, device: Device) {
    self.init(uninitializedCount: count, device: device)
    guard device != .meta else { return }
    pointer.initialize(repeating: value, count: count)
  }

  /// Storage on `device` holding `scalars`, copied from the host.
  convenience init<C: Collection>(_ scalars: C, device: Device) where C.Element == Scalar {
    self.init(uninitializedCount: scalars.count, device: device)
    guard device != .meta else { return }
    _ = UnsafeMutableBufferPointer(start: pointer, count: count).initialize(from: scalars)
  }

  func copy() -> TensorStorage {
    let result = TensorStorage(uninitializedCount: count, device: device)
    guard device != .meta else { return result }
    result.pointer.update(from: pointer, count: count)
    return result
  }

  /// The same scalars in storage of `device`: a copy, from the host to
  /// the host for every device with scalars today.
  func moved(to device: Device) -> TensorStorage {
    precondition(
      self.device != .meta && device != .meta,
      "moved(to:): a shape-only tensor has no scalars to move, and a tensor with scalars cannot become shape-only (\(self.device) to \(device))"
    )
    return TensorStorage(buffer, device: device)
  }

  var buffer: UnsafeMutableBufferPointer<Scalar> {
    UnsafeMutableBufferPointer(start: pointer, count: count)
  }

  private static func bytes(_ count: Int) -> Int { max(count, 1) * MemoryLayout<Scalar>.stride }

  deinit {
    guard device != .meta else { return }
    BufferPool.shared.release(UnsafeMutableRawPointer(pointer), bytes: Self.bytes(count))
  }
}

/// The address every meta storage holds: 64 bytes allocated once, never
/// read or written.
nonisolated(unsafe) private let metaAddress = UnsafeMutableRawPointer.allocate(
  byteCount: 64, alignment: 64)
