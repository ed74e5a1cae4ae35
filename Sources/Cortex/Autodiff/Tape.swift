import Synchronization

/// Where a value was recorded: which tape, and which entry of it.
struct TapeNode: Sendable, Hashable {
  let tapeID: UInt64
  let index: Int
}

/// A type-erased tape, so that the active one can live in a task-local.
protocol AnyTape: AnyObject, Sendable {
  var id: UInt64 { get }
}

/// The tape of the current thread or task, if a gradient is being computed.
enum ActiveTape {
  @TaskLocal static var current: (any AnyTape)?
}

private let tapeCounter = Atomic<UInt64>(0)

/// A record of the operations applied to the values being differentiated,
/// in the order they ran.
///
/// Each entry holds the operation's name, the entries its inputs came from,
/// the shapes involved, and a pullback: a closure that maps the gradient of
/// the entry's output to the gradients of its inputs (a vector–Jacobian
/// product; no Jacobian is ever built). The values being differentiated are
/// entries without a pullback. Backward walks the entries once, newest
/// first, without recursion.
public final class Tape<Scalar: TensorScalar>: AnyTape, @unchecked Sendable {
  /// Maps the output's gradient to one gradient per input. The flags say
  /// which inputs need one; a pullback may return `nil` for the others.
  public typealias Pullback = (_ upstream: Tensor<Scalar>, _ needsGradient: [Bool]) -> [Tensor<
    Scalar
  >?]

  struct Entry {
    let name: String
    let inputs: [Int?]
    let inputShapes: [[Int]]
    let shape: [Int]
    var pullback: Pullback?
  }

  let id: UInt64
  private(set) var entries: [Entry] = []
  /// The recorded values of the parameters being differentiated.
  var bindings: [ObjectIdentifier: Tensor<Scalar>] = [:]
  /// Whether backward has run: it releases each pullback once used, so a
  /// tape can be walked only once.
  private var walked = false

  init() {
    id = tapeCounter.add(1, ordering: .relaxed).newValue
  }

  /// The number of recorded entries.
  public var count: Int { entries.count }

  /// Records `value` as a variable being differentiated.
  func watch(_ value: Tensor<Scalar>, name: String = "input") -> Tensor<Scalar> {
    entries.append(
      Entry(name: name, inputs: [], inputShapes: [], shape: value.shape, pullback: nil))
    var result = value
    result.node = TapeNode(tapeID: id, index: entries.count - 1)
    return result
  }

  /// The entry index of `value` if it was recorded on this tape.
  func index(of value: Tensor<Scalar>) -> Int? {
    guard let node = value.node, node.tapeID == id else { return nil }
    return node.index
  }

  func append(
    _ name: String, inputs: [Tensor<Scalar>], output: Tensor<Scalar>, pullback: @escaping Pullback
  ) -> Tensor<Scalar> {
    entries.append(
      Entry(
        name: name, inputs: inputs.map(index(of:)), inputShapes: inputs.map(\.shape),
        shape: output.shape, pullback: pullback))
    var result = output
    result.node = TapeNode(tapeID: id, index: entries.count - 1)
    return result
  }

  /// Runs backward from `output`, seeded with `seed`, and returns the
  /// gradient of every entry that was asked for in `wanted` (zeros where the
  /// output does not depend on it).
  ///
  /// Gradients of values used more than once are summed. Every gradient a
  /// pullback returns must have its input's shape; a wrong shape traps with
  /// the operation's name. Pullbacks run with recording off, and each
  /// entry's pullback and gradient are released as soon as it is used.
  func backward(from output: Int, seed: Tensor<Scalar>, wanted: [Int]) -> [Tensor<Scalar>] {
    precondition(
      !walked, "backward: the tape was already walked; a pullback can be called only once")
    walked = true
    precondition(
      seed.shape == entries[output].shape,
      "backward: seed of shape \(seed.shape) for an output of shape \(entries[output].shape)")
    var gradients = [Tensor<Scalar>?](repeating: nil, count: entries.count)
    gradients[output] = seed
    let keep = Set(wanted)
    // In anomaly mode, each pullback's gradients are checked as they come
    // back; the operations inside a pullback are not checked one by one.
    let monitor = AnomalyMonitor.active
    withoutRecordingOrMonitoring {
      for index in stride(from: output, through: 0, by: -1) {
        guard let upstream = gradients[index], let pullback = entries[index].pullback else {
          continue
        }
        let entry = entries[index]
        entries[index].pullback = nil
        if !keep.contains(index) { gradients[index] = nil }
        let inputGradients = pullback(upstream, entry.inputs.map { $0 != nil })
        monitor?.inspect(inputGradients, pullbackOf: entry.name)
        precondition(
          inputGradients.count == entry.inputs.count,
          "pullback of '\(entry.name)' returned \(inputGradients.count) gradients for \(entry.inputs.count) inputs"
        )
        for (k, source) in entry.inputs.enumerated() {
          guard let source, let gradient = inputGradients[k] else { continue }
          precondition(
            gradient.shape == entry.inputShapes[k],
            "pullback of '\(entry.name)' returned a gradient of shape \(gradient.shape) for input \(k) of shape \(entry.inputShapes[k])"
          )
          if let existing = gradients[source] {
            gradients[source] = existing + gradient
          } else {
            gradients[source] = gradient
          }
        }
      }
    }
    return wanted.map { gradients[$0] ?? Tensor.zeros(entries[$0].shape) }
  }
}

extension Tensor {
  /// The tape this tensor is being recorded on, if it is the active one.
  var activeTape: Tape<Scalar>? {
    guard let node, let tape = ActiveTape.current as? Tape<Scalar>, tape.id == node.tapeID else {
      return nil
    }
    return tape
  }

  /// Whether this value is being differentiated on the active tape.
  public var isBeingDifferentiated: Bool { activeTape != nil }

  /// `self` with its recording removed: gradients do not flow through the
  /// result (`detach` in PyTorch).
  public var withoutDerivative: Tensor {
    var result = self
    result.node = nil
    return result
  }
}

/// Records `output` as the result of the operation `name` applied to
/// `inputs`, when any input is being differentiated on the active tape.
///
/// This is how every differentiable operation in Cortex is defined, and how
/// a user defines a new one: compute the output with any code, then give
/// the pullback, which maps the gradient of the output (same shape as
/// `output`) to one gradient per input (each of its input's shape, or `nil`
/// where `needsGradient` is false).
public func record<Scalar>(
  _ name: String, inputs: [Tensor<Scalar>], output: Tensor<Scalar>,
  pullback: @escaping Tape<Scalar>.Pullback
) -> Tensor<Scalar> {
  var output = output
  output.node = nil
  AnomalyMonitor.active?.inspect(output, operation: name, phase: .forward)
  for input in inputs {
    if let tape = input.activeTape {
      return tape.append(name, inputs: inputs, output: output, pullback: pullback)
    }
  }
  return output
}

/// Records a one-input operation; `pullback` maps the output's gradient to
/// the input's.
func record<Scalar>(
  _ name: String, _ x: Tensor<Scalar>, output: Tensor<Scalar>,
  pullback: @escaping (Tensor<Scalar>) -> Tensor<Scalar>
) -> Tensor<Scalar> {
  record(name, inputs: [x], output: output) { upstream, _ in [pullback(upstream)] }
}

/// Records a two-input operation with one pullback per input; only the
/// pullbacks of inputs being differentiated run.
func record<Scalar>(
  _ name: String, _ x: Tensor<Scalar>, _ y: Tensor<Scalar>, output: Tensor<Scalar>,
  pullbackX: @escaping (Tensor<Scalar>) -> Tensor<Scalar>,
  pullbackY: @escaping (Tensor<Scalar>) -> Tensor<Scalar>
) -> Tensor<Scalar> {
  record(name, inputs: [x, y], output: output) { upstream, needs in
    [needs[0] ? pullbackX(upstream) : nil, needs[1] ? pullbackY(upstream) : nil]
  }
}

/// Runs `body` without recording anything, for inference: no tape grows and
/// results carry no gradient.
public func withoutRecording<R>(_ body: () throws -> R) rethrows -> R {
  try ActiveTape.$current.withValue(nil) { try body() }
}
