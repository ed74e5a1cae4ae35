import CortexCore

/// An error reading or writing data: a dataset, a checkpoint or an image.
///
/// Every case names the file (or, for bytes parsed from memory, the source
/// name the caller gave) and says what was expected and what was found.
/// The description reads `path: message`.
public enum DataError: Error, CustomStringConvertible, Equatable, Sendable {
  /// A file that should exist does not.
  case fileNotFound(path: String)
  /// A file exists but the system could not read or write it.
  case ioFailure(path: String, message: String)
  /// A file's content does not follow its format.
  case invalidContent(path: String, message: String)
  /// A value passed to a data function cannot be encoded.
  case invalidArgument(path: String, message: String)

  /// The file or source the error is about.
  public var path: String {
    switch self {
    case .fileNotFound(let path), .ioFailure(let path, _), .invalidContent(let path, _),
      .invalidArgument(let path, _):
      return path
    }
  }

  /// What went wrong, without the path.
  public var message: String {
    switch self {
    case .fileNotFound: return "file not found"
    case .ioFailure(_, let message), .invalidContent(_, let message),
      .invalidArgument(_, let message):
      return message
    }
  }

  /// `path: message`.
  public var description: String { "\(path): \(message)" }
}
