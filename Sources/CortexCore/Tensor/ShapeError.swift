/// A shape or hyperparameter that cannot work, found while validating a
/// model or an operation's arguments before running it.
///
/// The message says what was expected and what was found, with the
/// arithmetic where there is some, for example
/// "(7 − 3 + 2·0)/3 + 1 = 2.33: a 3×3 filter with stride 3 does not fit a 7×7 input".
public struct ShapeError: Error, CustomStringConvertible, Equatable, Sendable {
  public let message: String

  public init(_ message: String) {
    self.message = message
  }

  public var description: String { message }
}
