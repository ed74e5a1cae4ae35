import CortexKernels
import Foundation

/// Printing tensors the way NumPy prints arrays: nested brackets, columns
/// aligned on the decimal point, and `...` in place of the middle when a
/// tensor is large.

extension Tensor: CustomStringConvertible, CustomDebugStringConvertible {
  /// Tensors with more elements than this are abbreviated.
  static var summarizationThreshold: Int { 1000 }
  /// How many leading and trailing entries an abbreviated axis keeps.
  static var edgeItems: Int { 3 }

  public var description: String {
    if device == .meta { return "shape-only tensor of shape \(shape)" }
    if let axis = batch.last {
      return "vmap-batched tensor of shape \(shape), one per example of \(axis.size):\n"
        + physical(at: axis.level)!.description
    }
    let summarize = scalarCount > Tensor.summarizationThreshold
    let strides = contiguousStrides(shape)
    // The indices shown along each axis; `nil` stands for the elided middle.
    let shown: [[Int?]] = shape.map { size in
      summarize && size > 2 * Tensor.edgeItems
        ? Array(0..<Tensor.edgeItems) + [nil] + Array((size - Tensor.edgeItems)..<size)
        : Array(0..<size)
    }
    // Only the elements shown decide the column width, as in NumPy.
    var offsets: [Int] = []
    func collect(axis: Int, offset: Int) {
      guard axis < rank else {
        offsets.append(offset)
        return
      }
      for case let index? in shown[axis] {
        collect(axis: axis + 1, offset: offset + index * strides[axis])
      }
    }
    collect(axis: 0, offset: 0)
    let format = ScalarFormat(offsets.map { storage.pointer[$0] })

    func render(axis: Int, offset: Int, indent: String) -> String {
      if axis == rank { return format.text(storage.pointer[offset]) }
      let items = shown[axis].map { index in
        index.map {
          render(axis: axis + 1, offset: offset + $0 * strides[axis], indent: indent + " ")
        }
          ?? "..."
      }
      let separator =
        axis == rank - 1
        ? ", " : ",\n" + String(repeating: "\n", count: rank - axis - 2) + indent + " "
      return "[" + items.joined(separator: separator) + "]"
    }
    return render(axis: 0, offset: 0, indent: "")
  }

  public var debugDescription: String {
    "Tensor<\(Scalar.self)>(shape: \(shape), \(description))"
  }
}

/// NumPy's positional float format: each value with the fewest digits that
/// identify it (at most `precision` after the point), `1.` for whole
/// numbers, padded so that the decimal points line up.
private struct ScalarFormat<Scalar: TensorScalar> {
  /// The most digits printed after the decimal point.
  static var precision: Int { 8 }

  let integerWidth: Int
  let fractionWidth: Int

  init(_ values: [Scalar]) {
    let finite = values.filter(\.isFinite).map(Self.parts)
    let fractionWidth = finite.map(\.fraction.count).max() ?? 0
    let finiteWidth = (finite.map(\.integer.count).max() ?? 0) + 1 + fractionWidth
    let nonFiniteWidth = values.filter { !$0.isFinite }.map { Self.nonFinite($0).count }.max() ?? 0
    self.fractionWidth = fractionWidth
    self.integerWidth = Swift.max(finiteWidth, nonFiniteWidth) - 1 - fractionWidth
  }

  func text(_ value: Scalar) -> String {
    guard value.isFinite else {
      let text = Self.nonFinite(value)
      return pad(text, toWidth: integerWidth + 1 + fractionWidth)
    }
    let (integer, fraction) = Self.parts(value)
    return pad(integer, toWidth: integerWidth) + "." + fraction
      + String(repeating: " ", count: fractionWidth - fraction.count)
  }

  private func pad(_ text: String, toWidth width: Int) -> String {
    String(repeating: " ", count: Swift.max(0, width - text.count)) + text
  }

  private static func nonFinite(_ value: Scalar) -> String {
    value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf")
  }

  /// The digits before and after the decimal point, trailing zeros removed.
  private static func parts(_ value: Scalar) -> (integer: String, fraction: String) {
    var text = String(describing: value)
    let point = text.firstIndex(of: ".")
    let digitsAfterPoint = point.map { text.distance(from: $0, to: text.endIndex) - 1 } ?? 0
    if text.contains("e") || digitsAfterPoint > precision {
      text = String(format: "%.\(precision)f", Double(value))
    }
    let pieces = text.split(separator: ".", omittingEmptySubsequences: false)
    var fraction = pieces.count > 1 ? String(pieces[1]) : ""
    while fraction.hasSuffix("0") { fraction.removeLast() }
    return (String(pieces[0]), fraction)
  }
}
