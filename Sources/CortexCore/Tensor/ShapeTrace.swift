import Foundation
import Synchronization

/// A scope in which a failed shape check is recorded instead of stopping
/// the program: how a model's shapes are validated by running it on
/// tensors of the ``Device/meta`` device, which hold no scalars.
///
/// A trace runs on a thread of its own. Inside it, the first failed
/// ``precondition(_:_:file:line:)`` (or ``preconditionFailure(_:file:line:)``)
/// of the module records its message and ends that thread, where outside
/// a trace it would stop the program.
final class ShapeTrace: Sendable {
  /// The trace of the current thread, if one is running.
  @TaskLocal static var current: ShapeTrace?

  /// The first failure's message.
  let failure = Mutex<String?>(nil)
  /// Signaled when the traced work ends, finished or failed.
  let ended = DispatchSemaphore(value: 0)

  /// Records `message` as the failure and ends the tracing thread. Its
  /// frames are left without cleanup, as a trap would leave them: the few
  /// host objects they hold are not freed.
  func fail(_ message: String) -> Never {
    failure.withLock { $0 = $0 ?? message }
    ended.signal()
    pthread_exit(nil)
  }
}
