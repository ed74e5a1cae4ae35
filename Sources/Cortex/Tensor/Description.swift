/// Printing tensors the way NumPy prints arrays: nested brackets, aligned
/// columns, and `...` in place of the middle when a tensor is large.

extension Tensor: CustomStringConvertible, CustomDebugStringConvertible {
  /// Tensors with more elements than this are abbreviated.
  static var summarizationThreshold: Int { 1000 }
  /// How many leading and trailing entries an abbreviated axis keeps.
  static var edgeItems: Int { 3 }

  public var description: String {
    let summarize = scalarCount > Tensor.summarizationThreshold
    let formatted = (0..<scalarCount).map { format(storage.pointer[$0]) }
    let width = formatted.map(\.count).max() ?? 0
    func render(axis: Int, offset: Int, indent: String) -> String {
      if rank == 0 { return formatted[0] }
      let size = shape[axis]
      let stride = shape[(axis + 1)...].reduce(1, *)
      var items: [String] = []
      let shown: [Int?] =
        summarize && size > 2 * Tensor.edgeItems
        ? Array(0..<Tensor.edgeItems) + [nil] + Array((size - Tensor.edgeItems)..<size)
        : Array(0..<size)
      for index in shown {
        guard let index else {
          items.append("...")
          continue
        }
        if axis == rank - 1 {
          let text = formatted[offset + index]
          items.append(String(repeating: " ", count: width - text.count) + text)
        } else {
          items.append(
            render(axis: axis + 1, offset: offset + index * stride, indent: indent + " "))
        }
      }
      if axis == rank - 1 { return "[" + items.joined(separator: ", ") + "]" }
      let separator = ",\n" + String(repeating: "\n", count: rank - axis - 2) + indent + " "
      return "[" + items.joined(separator: separator) + "]"
    }
    return render(axis: 0, offset: 0, indent: "")
  }

  public var debugDescription: String {
    "Tensor<\(Scalar.self)>(shape: \(shape), \(description))"
  }

  private func format(_ value: Scalar) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value < 0 ? "-inf" : "inf" }
    if value == value.rounded() && Swift.abs(value) < 1e15 {
      return String(describing: Int64(value)) + "."
    }
    return String(describing: value)
  }
}
