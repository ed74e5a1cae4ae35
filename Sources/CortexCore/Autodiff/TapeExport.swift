/// Looking at a tape: as a readable list, and as a Graphviz DOT graph (the
/// computational graph of the backpropagation notes, drawn).

/// Records `f` at `inputs` and returns its value together with the tape,
/// for printing or drawing. No gradient is computed.
public func recordTape<Scalar>(
  at inputs: [Tensor<Scalar>], of f: ([Tensor<Scalar>]) throws -> Tensor<Scalar>
) rethrows -> (value: Tensor<Scalar>, tape: Tape<Scalar>) {
  let tape = Tape<Scalar>()
  let watched = inputs.map { tape.watch($0) }
  let output = try ActiveTape.$current.withValue(tape) { try f(watched) }
  return (output.withoutDerivative, tape)
}

extension Tape: CustomStringConvertible {
  /// One line per entry: `%3 = multiply(%1, %2) [2]`, inputs first.
  public var description: String {
    entries.enumerated().map { index, entry in
      let arguments = entry.inputs.enumerated().map { k, source in
        source.map { "%\($0)" } ?? "const\(entry.inputShapes[k])"
      }
      let call =
        entry.inputs.isEmpty ? entry.name : "\(entry.name)(\(arguments.joined(separator: ", ")))"
      return "%\(index) = \(call) \(entry.shape)"
    }.joined(separator: "\n")
  }

  /// The tape as a Graphviz DOT digraph: one node per entry, labelled with
  /// the operation and its output shape; edges carry data forward. Quotes
  /// and backslashes in operation names are escaped.
  public var graphviz: String {
    var lines = ["digraph tape {", "  rankdir=LR;", "  node [shape=box, fontname=\"Helvetica\"];"]
    for (index, entry) in entries.enumerated() {
      let shape = entry.inputs.isEmpty ? "ellipse" : "box"
      let name = String(entry.name.flatMap { $0 == "\"" || $0 == "\\" ? ["\\", $0] : [$0] })
      lines.append("  n\(index) [label=\"\(name)\\n\(entry.shape)\", shape=\(shape)];")
      for source in entry.inputs.compactMap({ $0 }) {
        lines.append("  n\(source) -> n\(index);")
      }
    }
    lines.append("}")
    return lines.joined(separator: "\n")
  }
}
