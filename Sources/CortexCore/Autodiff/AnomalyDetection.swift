import Synchronization

/// Anomaly detection: finding the first operation that produced a NaN or an
/// infinity, in the forward pass or in a pullback, like PyTorch's
/// `detect_anomaly`.
///
/// Off by default. Inside ``withAnomalyDetection(_:)`` every recorded
/// operation's output is scanned after its forward computation, and every
/// gradient a pullback returns is scanned after backward calls it; the
/// first non-finite value found is thrown as an ``AnomalyError`` when the
/// scope ends. The scope belongs to the calling thread or task (a
/// task-local value), so other threads run unaffected. When no scope is
/// open anywhere, the cost is one relaxed atomic load and one branch per
/// operation.

/// A NaN or an infinity found by ``withAnomalyDetection(_:)``.
public struct AnomalyError: Error, CustomStringConvertible, Equatable, Sendable {
  /// Where the value appeared.
  public enum Phase: Sendable, Equatable {
    /// In the output of the operation's forward computation.
    case forward
    /// In the gradient the operation's pullback returned for one input.
    case backward(input: Int)
  }

  /// The operation's name as recorded on the tape, for example `log`.
  public let operation: String
  public let phase: Phase
  /// `NaN`, `inf` or `-inf`.
  public let value: String
  /// The shape of the output (forward) or of the gradient (backward).
  public let shape: [Int]
  /// The multi-dimensional index of the first non-finite element.
  public let index: [Int]

  /// For example "log produced -inf in forward (output of shape [3],
  /// element [1])" or "sqrt's pullback produced inf for input 0 (gradient
  /// of shape [3], element [0])".
  public var description: String {
    switch phase {
    case .forward:
      return
        "\(operation) produced \(value) in forward (output of shape \(shape), element \(index))"
    case .backward(let input):
      return
        "\(operation)'s pullback produced \(value) for input \(input) (gradient of shape \(shape), element \(index))"
    }
  }
}

/// Runs `body` with anomaly detection on for the current thread or task,
/// and returns its result, or throws an ``AnomalyError`` naming the first
/// operation whose forward output or pullback gradient held a NaN or an
/// infinity.
///
/// ```swift
/// let g = try withAnomalyDetection {
///   gradient(at: x) { x in sqrt(x).sum() }
/// }
/// // at x = [0]: "sqrt's pullback produced inf for input 0 (...)"
/// ```
///
/// The computation is not interrupted: `body` runs to the end and the first
/// anomaly is thrown afterwards; an error `body` throws itself is rethrown
/// as it is. Only operations that run inside the scope are checked: a
/// pullback obtained inside and called outside is not. Scanning every
/// output costs a pass over it, so use this to debug, not to train.
public func withAnomalyDetection<R>(_ body: () throws -> R) throws -> R {
  let monitor = AnomalyMonitor()
  anomalyScopes.add(1, ordering: .relaxed)
  defer { anomalyScopes.subtract(1, ordering: .relaxed) }
  let result = try AnomalyMonitor.$current.withValue(monitor) { try body() }
  if let anomaly = monitor.first { throw anomaly }
  return result
}

/// The number of anomaly-detection scopes open on any thread: the cheap
/// test that keeps detection free when it is off.
private let anomalyScopes = Atomic<Int>(0)

/// The first anomaly of one ``withAnomalyDetection(_:)`` scope; shared by
/// the tasks that inherit the scope.
final class AnomalyMonitor: Sendable {
  @TaskLocal static var current: AnomalyMonitor?

  private let state = Mutex<AnomalyError?>(nil)

  var first: AnomalyError? { state.withLock { $0 } }

  /// The monitor of the current scope, if any scope is open.
  @inline(__always)
  static var active: AnomalyMonitor? {
    anomalyScopes.load(ordering: .relaxed) == 0 ? nil : current
  }

  /// Inspects the gradients a pullback returned, one per input.
  func inspect<Scalar>(_ gradients: [Tensor<Scalar>?], pullbackOf operation: String) {
    for (input, gradient) in gradients.enumerated() {
      if let gradient { inspect(gradient, operation: operation, phase: .backward(input: input)) }
    }
  }

  /// Records the first non-finite element of `tensor`, if there is one and
  /// nothing was recorded before.
  func inspect<Scalar>(_ tensor: Tensor<Scalar>, operation: String, phase: AnomalyError.Phase) {
    guard state.withLock({ $0 == nil }),
      let (index, scalar) = tensor.backend("anomaly detection").firstNonFinite(tensor)
    else { return }
    let anomaly = AnomalyError(
      operation: operation, phase: phase,
      value: scalar.isNaN ? "NaN" : (scalar > 0 ? "inf" : "-inf"), shape: tensor.shape,
      index: unravel(index, tensor.shape))
    state.withLock { if $0 == nil { $0 = anomaly } }
  }
}

/// Runs `body` with no tape and no anomaly monitor: how pullbacks run.
func withoutRecordingOrMonitoring<R>(_ body: () -> R) -> R {
  AnomalyMonitor.$current.withValue(nil) { ActiveTape.$current.withValue(nil, operation: body) }
}
