import Synchronization

/// A cache of freed tensor buffers, keyed by size.
///
/// Training allocates the same sizes step after step. Large allocations
/// otherwise come straight from the kernel as fresh pages, and touching a
/// fresh page costs about 2 µs, so a step that allocates its activations
/// anew would spend much of its time faulting pages in. Buffers of at least
/// `minimumBytes` are kept here when freed, up to `capacityBytes` in all,
/// and handed out again for the next allocation of the same size.
final class BufferPool: Sendable {
  static let shared = BufferPool()

  /// Smaller buffers go straight to the system allocator.
  let minimumBytes = 16 * 1024
  /// The most memory the pool keeps cached.
  let capacityBytes = 512 * 1024 * 1024

  /// Free buffers by size, as addresses (raw pointers are not `Sendable`).
  private struct State {
    var free: [Int: [UInt]] = [:]
    var cachedBytes = 0
  }

  private let state = Mutex(State())

  /// Frees the cached buffers of a pool that goes away (the shared one
  /// never does).
  deinit {
    state.withLock { state in
      for address in state.free.values.joined() {
        UnsafeMutableRawPointer(bitPattern: address)?.deallocate()
      }
    }
  }

  /// 64-byte aligned memory of `bytes` bytes.
  func allocate(bytes: Int) -> UnsafeMutableRawPointer {
    if bytes >= minimumBytes {
      let reused = state.withLock { state -> UInt? in
        guard let address = state.free[bytes]?.popLast() else { return nil }
        state.cachedBytes -= bytes
        return address
      }
      if let reused, let pointer = UnsafeMutableRawPointer(bitPattern: reused) { return pointer }
    }
    return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
  }

  /// Returns memory obtained from ``allocate(bytes:)``.
  func release(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
    if bytes >= minimumBytes {
      let address = UInt(bitPattern: pointer)
      let capacity = capacityBytes
      let kept = state.withLock { state -> Bool in
        guard state.cachedBytes + bytes <= capacity else { return false }
        state.free[bytes, default: []].append(address)
        state.cachedBytes += bytes
        return true
      }
      if kept { return }
    }
    pointer.deallocate()
  }

  /// The bytes currently cached.
  var cachedBytes: Int { state.withLock { $0.cachedBytes } }
}

extension BufferPool {
  /// Runs `body` with room for `count` scalars from the pool, returned to
  /// it afterwards: scratch memory that, in steady state, reuses the pages
  /// of the previous call instead of faulting fresh ones in.
  @inline(__always)
  func withScratch<S, R>(_: S.Type, count: Int, _ body: (UnsafeMutablePointer<S>) -> R) -> R {
    let bytes = max(count, 1) * MemoryLayout<S>.stride
    let raw = allocate(bytes: bytes)
    defer { release(raw, bytes: bytes) }
    return body(raw.bindMemory(to: S.self, capacity: max(count, 1)))
  }
}
