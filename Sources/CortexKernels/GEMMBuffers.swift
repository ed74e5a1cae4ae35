import Foundation

// Packing buffers.

/// The buffers of one thread, grown when a product needs more, then
/// reused by every later product on that thread: the blocks of a product
/// the thread runs (shared with the workers that help it), the B panels of
/// a task the thread runs, and, for the convolutions, the zero-padded
/// planes of an image, the filters packed once for a chunk of images, the
/// offset tables of an ``IndexedMatrix``, a column matrix, and the partial
/// gradients of a convolution's chunks of images or a layer norm's blocks
/// of rows.
@usableFromInline
final class PackingScratch {
  private var blocks = GrowingBuffer()
  private var task = GrowingBuffer()
  private var planes = GrowingBuffer()
  private var operands = GrowingBuffer()
  private var tables = GrowingBuffer()
  private var columns = GrowingBuffer()
  private var partials = GrowingBuffer()

  /// The calling thread's buffers, created on first use.
  @usableFromInline
  static var forCurrentThread: PackingScratch {
    if let existing = pthread_getspecific(packingScratchKey) {
      return Unmanaged<PackingScratch>.fromOpaque(existing).takeUnretainedValue()
    }
    let scratch = PackingScratch()
    pthread_setspecific(packingScratchKey, Unmanaged.passRetained(scratch).toOpaque())
    return scratch
  }

  /// Room for the packed blocks of a product, 64-byte aligned.
  @usableFromInline
  func blockBuffer(bytes: Int) -> UnsafeMutableRawPointer { blocks.reserve(bytes) }

  /// Room for the B panels of one task, 64-byte aligned.
  @usableFromInline
  func taskBuffer(bytes: Int) -> UnsafeMutableRawPointer { task.reserve(bytes) }

  /// Room for the padded planes of one image, 64-byte aligned.
  @usableFromInline
  func planeBuffer(bytes: Int) -> UnsafeMutableRawPointer { planes.reserve(bytes) }

  /// Room for an operand packed ahead of several products.
  @usableFromInline
  func operandBuffer<S>(_: S.Type, count: Int) -> UnsafeMutablePointer<S> {
    operands.reserve(max(count, 1) * MemoryLayout<S>.stride).bindMemory(to: S.self, capacity: count)
  }

  /// Room for the offset tables of an ``IndexedMatrix``.
  @usableFromInline
  func tableBuffer(count: Int) -> UnsafeMutablePointer<Int> {
    tables.reserve(max(count, 1) * MemoryLayout<Int>.stride).bindMemory(
      to: Int.self, capacity: count)
  }

  /// Room for the column matrix of one image.
  @usableFromInline
  func columnBuffer<S>(_: S.Type, count: Int) -> UnsafeMutablePointer<S> {
    columns.reserve(max(count, 1) * MemoryLayout<S>.stride).bindMemory(to: S.self, capacity: count)
  }

  /// Room for the partial filter and bias gradients of every chunk of a
  /// convolution's batch, or the partial weight and bias gradients of a
  /// layer norm's blocks of rows, which their threads write side by side.
  @usableFromInline
  func partialsBuffer<S>(_: S.Type, count: Int) -> UnsafeMutablePointer<S> {
    partials.reserve(max(count, 1) * MemoryLayout<S>.stride).bindMemory(to: S.self, capacity: count)
  }
}

/// A 64-byte aligned allocation that only grows.
private struct GrowingBuffer: ~Copyable {
  private var storage: UnsafeMutableRawPointer?
  private var capacity = 0

  /// The buffer, reallocated first if it holds fewer than `bytes` bytes.
  mutating func reserve(_ bytes: Int) -> UnsafeMutableRawPointer {
    if let storage, bytes <= capacity { return storage }
    storage?.deallocate()
    capacity = roundUp(max(bytes, 1), 1 << 12)
    let fresh = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    storage = fresh
    return fresh
  }

  deinit { storage?.deallocate() }
}

private let packingScratchKey: pthread_key_t = {
  var key = pthread_key_t()
  let status = pthread_key_create(&key) { releasePackingScratch($0) }
  precondition(status == 0, "gemm: cannot create a thread-local key (error \(status))")
  return key
}()

private func releasePackingScratch(_ pointer: UnsafeMutableRawPointer?) {
  if let pointer { Unmanaged<PackingScratch>.fromOpaque(pointer).release() }
}
