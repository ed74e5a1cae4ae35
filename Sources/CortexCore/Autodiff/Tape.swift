import Synchronization

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
    /// The vmap batch axes of each input, when any input has some.
    var inputBatches: [[BatchAxis]]? = nil
    let shape: [Int]
    var pullback: Pullback?
    /// Whether the pullback is written in recorded operations, so that a
    /// gradient taken inside another gradient can be differentiated.
    var differentiable = true
  }

  let id: UInt64
  private(set) var entries: [Entry] = []
  /// The recorded values of the parameters being differentiated.
  var bindings: [ObjectIdentifier: Tensor<Scalar>] = [:]
  /// Records a parameter that has no binding yet when it is first read,
  /// given its identity and stored value, and returns its binding (`nil`
  /// for a parameter not being differentiated).
  var bindOnFirstRead: ((ObjectIdentifier, Tensor<Scalar>) -> Tensor<Scalar>?)?
  /// Whether backward has run: it releases each pullback once used, so a
  /// tape can be walked only once.
  private var walked = false

  init() {
    id = tapeCounter.add(1, ordering: .relaxed).newValue
  }

  /// The number of recorded entries.
  public var count: Int { entries.count }

  /// Records `value` as a variable being differentiated. A value already
  /// recorded on this tape (a gradient taken inside another) is watched
  /// through an identity entry, so that the inner gradient stops there
  /// while the outer one flows on to the value's origin.
  func watch(_ value: Tensor<Scalar>, name: String = "input") -> Tensor<Scalar> {
    if let source = index(of: value) {
      entries.append(
        Entry(
          name: name, inputs: [source], inputShapes: [value.shape],
          inputBatches: value.batch.isEmpty ? nil : [value.batch], shape: value.shape,
          pullback: { upstream, _ in [upstream] }))
    } else {
      entries.append(
        Entry(name: name, inputs: [], inputShapes: [], shape: value.shape, pullback: nil))
    }
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
    _ name: String, inputs: [Tensor<Scalar>], output: Tensor<Scalar>, differentiable: Bool = true,
    pullback: @escaping Pullback
  ) -> Tensor<Scalar> {
    let batches = inputs.map(\.batch)
    entries.append(
      Entry(
        name: name, inputs: inputs.map(index(of:)), inputShapes: inputs.map(\.shape),
        inputBatches: batches.allSatisfy(\.isEmpty) ? nil : batches,
        shape: output.shape, pullback: pullback, differentiable: differentiable))
    var result = output
    result.node = TapeNode(tapeID: id, index: entries.count - 1)
    return result
  }

  /// Runs backward from `output`, seeded with `seed`, over the entries from
  /// `lowest` up, and returns the gradient of every entry in `wanted`
  /// (zeros where the output does not depend on it).
  ///
  /// Only entries that depend on a wanted entry take part: a pullback's
  /// `needsGradient` flags are false for inputs that do not. Gradients of
  /// values used more than once are summed. Every gradient a pullback
  /// returns must have its input's shape; a wrong shape traps with the
  /// operation's name.
  ///
  /// When `recording` is false, pullbacks run with recording off, and with
  /// `releasing` each entry's pullback and gradient are freed as soon as it
  /// is used (the tape can then be walked only once). When `recording` is
  /// true (a gradient taken inside another gradient), pullbacks run with
  /// this tape active, so the gradients are themselves recorded and can be
  /// differentiated; nothing is released.
  ///
  /// `vmapLevel` is the level of the `vmap` the gradient was asked for in:
  /// a pullback's gradient batched by a deeper `vmap` (one inside the
  /// differentiated function) for an input that is not batched by it is
  /// summed over that vmap's examples, each of which used the input.
  func backward(
    from output: Int, seed: Tensor<Scalar>, wanted: [Int], lowest: Int = 0,
    recording: Bool = false, releasing: Bool = true, vmapLevel: Int = 0
  ) -> [Tensor<Scalar>] {
    precondition(
      !walked,
      "backward: the tape was already walked; a pullback can be called only once, unless its tape is kept (keepingTape: true)"
    )
    if releasing { walked = true }
    precondition(
      seed.shape == entries[output].shape,
      "backward: seed of shape \(seed.shape) for an output of shape \(entries[output].shape)")
    let keep = Set(wanted)
    guard output >= lowest else { return wanted.map { Tensor.zeros(entries[$0].shape) } }
    let depends = dependencies(from: lowest, through: output, on: keep)
    var gradients = [Tensor<Scalar>?](
      repeating: nil, count: Swift.max(output, wanted.max() ?? 0) + 1)
    gradients[output] = seed
    // In anomaly mode, each pullback's gradients are checked as they come
    // back; the operations inside a pullback are not checked one by one.
    let monitor = AnomalyMonitor.active
    let walk = {
      for index in stride(from: output, through: lowest, by: -1) {
        guard let upstream = gradients[index], let pullback = self.entries[index].pullback else {
          continue
        }
        let entry = self.entries[index]
        if releasing { self.entries[index].pullback = nil }
        if !keep.contains(index) { gradients[index] = nil }
        let needs = entry.inputs.map { $0.map { $0 >= lowest && depends[$0 - lowest] } ?? false }
        var inputGradients: [Tensor<Scalar>?]
        if recording && !entry.differentiable {
          inputGradients = withoutRecording { pullback(upstream, needs) }
          inputGradients = inputGradients.map {
            $0.map { self.appendUndifferentiable(entry, upstream: upstream, gradient: $0) }
          }
        } else {
          inputGradients = pullback(upstream, needs)
        }
        monitor?.inspect(inputGradients, pullbackOf: entry.name)
        precondition(
          inputGradients.count == entry.inputs.count,
          "pullback of '\(entry.name)' returned \(inputGradients.count) gradients for \(entry.inputs.count) inputs"
        )
        for (k, source) in entry.inputs.enumerated() where needs[k] {
          guard let source, var gradient = inputGradients[k] else { continue }
          if let batches = entry.inputBatches?[k] ?? (gradient.isBatched ? [] : nil) {
            for axis in gradient.batch.reversed()
            where axis.level > vmapLevel && !batches.contains(axis) {
              gradient = gradient.summedOverBatch(level: axis.level)
            }
          }
          precondition(
            gradient.shape == entry.inputShapes[k],
            "pullback of '\(entry.name)' returned a gradient of shape \(gradient.shape) for input \(k) of shape \(entry.inputShapes[k])"
          )
          if let existing = gradients[source] {
            gradients[source] = addGate(existing, gradient)
          } else {
            gradients[source] = gradient
          }
        }
      }
    }
    if recording {
      AnomalyMonitor.$current.withValue(nil) {
        ActiveTape.$current.withValue(self, operation: walk)
      }
    } else {
      withoutRecordingOrMonitoring(walk)
    }
    return wanted.map { gradients[$0] ?? Tensor.zeros(entries[$0].shape) }
  }

  /// For the entries from `lowest` through `output`, whether each depends
  /// on an entry of `sources`.
  private func dependencies(from lowest: Int, through output: Int, on sources: Set<Int>) -> [Bool] {
    var depends = [Bool](repeating: false, count: output - lowest + 1)
    for index in lowest...output {
      depends[index - lowest] =
        sources.contains(index)
        || entries[index].inputs.contains {
          $0.map { $0 >= lowest && depends[$0 - lowest] } ?? false
        }
    }
    return depends
  }

  /// Records `gradient`, computed by the pullback of `entry` outside the tape, as an entry whose own pullback traps: differentiating
  /// through it again is an error that names the operation, not a silent
  /// zero.
  private func appendUndifferentiable(
    _ entry: Entry, upstream: Tensor<Scalar>, gradient: Tensor<Scalar>
  ) -> Tensor<Scalar> {
    let name = entry.name
    entries.append(
      Entry(
        name: "\(name)′", inputs: [self.index(of: upstream)] + entry.inputs,
        inputShapes: [upstream.shape] + entry.inputShapes, shape: gradient.shape,
        pullback: { _, needs in
          guard let noted = UndifferentiablePullbacks.current else {
            preconditionFailure(
              "gradient of a gradient: the pullback of '\(name)' is not differentiable, so a gradient cannot be taken through its gradient"
            )
          }
          noted.note(name)
          return needs.map { _ in nil }
        }, differentiable: true))
    var result = gradient
    result.node = TapeNode(tapeID: id, index: entries.count - 1)
    return result
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
///
/// Write the pullback in Tensor operations on the recorded inputs (not on
/// their `withoutDerivative` copies): then it is itself differentiable, and
/// a gradient taken inside another gradient flows through it. A pullback
/// that cannot be (raw buffer code, for example) passes
/// `pullbackIsDifferentiable: false`: first-order gradients work as usual,
/// and differentiating through its gradient traps with the operation's name
/// instead of giving a silent zero.
public func record<Scalar>(
  _ name: String, inputs: [Tensor<Scalar>], output: Tensor<Scalar>,
  pullbackIsDifferentiable: Bool = true, pullback: @escaping Tape<Scalar>.Pullback
) -> Tensor<Scalar> {
  requireOneDevice(name, inputs)
  var output = output
  output.node = nil
  AnomalyMonitor.active?.inspect(output, operation: name, phase: .forward)
  for input in inputs {
    if let tape = input.activeTape {
      return tape.append(
        name, inputs: inputs, output: output, differentiable: pullbackIsDifferentiable,
        pullback: pullback)
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

/// Whether a pullback is running inside a recorded backward pass (a gradient
/// taken inside another gradient): then its gradients must come from
/// recorded operations so that they can be differentiated again.
var isRecordingBackward: Bool { ActiveTape.current != nil }

/// A pullback's result: `fused()`, a kernel over raw buffers, in a plain
/// backward pass, or `composed()`, the same value from recorded operations,
/// in a recorded one (a gradient inside a gradient). Plain backward, the
/// common case, pays nothing for the pullback being differentiable.
@inline(__always)
func fusedOrComposed<Scalar>(
  fused: () -> Tensor<Scalar>, composed: () -> Tensor<Scalar>
) -> Tensor<Scalar> {
  isRecordingBackward ? composed() : fused()
}

/// Records an operation computed by a fused kernel. In a plain backward
/// pass `pullback` (fused too) gives the gradients; in a recorded one they
/// come from differentiating `composed`, the same function written in
/// recorded operations, so that they can be differentiated again.
func recordFused<Scalar>(
  _ name: String, inputs: [Tensor<Scalar>], output: Tensor<Scalar>,
  composed: @escaping ([Tensor<Scalar>]) -> Tensor<Scalar>,
  pullback: @escaping Tape<Scalar>.Pullback
) -> Tensor<Scalar> {
  let level = inputs.reduce(0) { Swift.max($0, $1.batchLevel) }
  return record(name, inputs: inputs, output: output) { upstream, needs in
    // The fused pullback runs on the backend the forward pass ran on, which
    // serves an upstream gradient batched at that vmap level or outside it.
    guard isRecordingBackward || upstream.batchLevel > level else {
      return pullback(upstream, needs)
    }
    let gradients = valueWithPullback(at: inputs, of: composed).pullback(upstream)
    return zip(gradients, needs).map { $1 ? $0 : nil }
  }
}
