import CortexCore
import Foundation

/// A model's table, as in the notes' VGG16 walk-through: one row per layer
/// with its output volume, parameters and activations, then the totals.
public struct ModelSummary: CustomStringConvertible, Sendable {
  public struct Row: Sendable {
    public let name: String
    /// The output shape for one image (no batch axis).
    public let outputShape: [Int]
    public let parameters: Int
    /// Activations this layer stores for one image (0 for elementwise
    /// layers, which can work in place).
    public let activations: Int
  }

  public let rows: [Row]
  public var totalParameters: Int { rows.map(\.parameters).reduce(0, +) }
  /// Forward activations for one image, input included.
  public var totalActivations: Int { rows.map(\.activations).reduce(0, +) }
  /// The bytes those activations take at `bytesPerScalar` (4 for Float).
  public let bytesPerScalar: Int
  public var activationBytes: Int { totalActivations * bytesPerScalar }

  /// `224×224×64` for `[64, 224, 224]` (width × height × depth, as in the
  /// notes), the size alone for a vector.
  static func volume(_ shape: [Int]) -> String {
    switch shape.count {
    case 3: return "\(shape[2])×\(shape[1])×\(shape[0])"
    default: return shape.map(String.init).joined(separator: "×")
    }
  }

  public var description: String {
    let header = ["Layer", "Output (W×H×D)", "Parameters", "Activations"]
    let table = rows.map { row in
      [row.name, Self.volume(row.outputShape), grouped(row.parameters), grouped(row.activations)]
    }
    let widths = (0..<4).map { column in ([header] + table).map { $0[column].count }.max() ?? 0 }
    func line(_ cells: [String]) -> String {
      cells.enumerated().map { column, cell in
        let pad = String(repeating: " ", count: widths[column] - cell.count)
        return column == 0 || column == 1 ? cell + pad : pad + cell
      }.joined(separator: "  ")
    }
    let rule = String(repeating: "─", count: widths.reduce(0, +) + 6)
    let size =
      activationBytes < 1_048_576
      ? String(format: "%.1f KB", Double(activationBytes) / 1024)
      : String(format: "%.1f MB", Double(activationBytes) / 1_048_576)
    return
      ([line(header), rule] + table.map(line) + [
        rule,
        "Activations per image (forward): \(grouped(totalActivations)) ≈ \(size) at \(bytesPerScalar) bytes each",
        "Total parameters: \(grouped(totalParameters))",
      ]).joined(separator: "\n")
  }
}

/// `138357544` → `138,357,544`: digits grouped by three for reading.
public func grouped(_ value: Int) -> String {
  let digits = String(value.magnitude)
  var result = ""
  for (i, digit) in digits.enumerated() {
    if i > 0 && (digits.count - i) % 3 == 0 { result.append(",") }
    result.append(digit)
  }
  return value < 0 ? "-" + result : result
}

extension Layer {
  /// The summary of this model for one image of shape `inputShape`
  /// (`[C, H, W]` or `[features]`), without running it. Sequences are
  /// expanded into their layers.
  public func summary(inputShape: [Int]) throws(ShapeError) -> ModelSummary {
    var rows = [
      ModelSummary.Row(
        name: "input", outputShape: inputShape, parameters: 0, activations: inputShape.reduce(1, *))
    ]
    _ = try appendRows(of: self, input: [1] + inputShape, prefix: "", to: &rows)
    return ModelSummary(rows: rows, bytesPerScalar: MemoryLayout<Scalar>.size)
  }
}

private func appendRows<Scalar: TensorScalar>(
  of layer: any Layer<Scalar>, input: [Int], prefix: String, to rows: inout [ModelSummary.Row]
) throws(ShapeError) -> [Int] {
  if let sequence = layer as? Sequential<Scalar> {
    var shape = input
    for (index, sublayer) in sequence.layers.enumerated() {
      let name = prefix.isEmpty ? String(index) : "\(prefix).\(index)"
      do {
        shape = try appendRows(
          of: sublayer as any Layer<Scalar>, input: shape, prefix: name, to: &rows)
      } catch {
        throw ShapeError("layer \(name) (\(sublayer.summaryName)): \(error.message)")
      }
    }
    return shape
  }
  let output = try layer.outputShape(for: input)
  let perImage = Array(output.dropFirst())
  let name = prefix.isEmpty ? layer.summaryName : "\(prefix) \(layer.summaryName)"
  rows.append(
    ModelSummary.Row(
      name: name, outputShape: perImage, parameters: layer.parameterCount,
      activations: layer.isElementwise ? 0 : perImage.reduce(1, *)))
  return output
}
