import CortexCore

/// A layer, optimizer or schedule built with hyperparameters that cannot
/// work: the message names the layer, what it expected and what it found.
///
/// ```swift
/// try Conv2D<Float>(inputChannels: 3, outputChannels: 0, filterSize: 5)
/// // Conv2D: outputChannels must be positive, found 0
/// ```
public struct HyperparameterError: Error, CustomStringConvertible, Equatable, Sendable {
  public let message: String

  public init(_ message: String) { self.message = message }

  public var description: String { message }

  /// Throws unless `value` is positive.
  static func requirePositive(_ value: Int, _ name: String, of layer: String) throws(Self) {
    guard value > 0 else { throw Self("\(layer): \(name) must be positive, found \(value)") }
  }

  /// Throws unless `range` contains `value`.
  static func require(
    _ value: Double, in range: ClosedRange<Double>, _ name: String, of layer: String
  ) throws(Self) {
    guard range.contains(value) else {
      throw Self(
        "\(layer): \(name) must be in \(range.lowerBound)...\(range.upperBound), found \(value)")
    }
  }
}
