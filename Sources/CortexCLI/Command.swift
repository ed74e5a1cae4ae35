/// A subcommand of `cortex`.
protocol Command {
  var name: String { get }
  /// One line for the command list.
  var abstract: String { get }
  /// The full `--help` text.
  var help: String { get }
  /// Runs the command and returns the exit status.
  func run(_ arguments: [String]) throws -> Int32
}
