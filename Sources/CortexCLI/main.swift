import Cortex
import Foundation

/// `cortex`: train, evaluate and inspect models; check gradients; benchmark.
let commands: [Command] = [
  TrainCommand(),
  EvaluateCommand(),
  SummaryCommand(),
  GradcheckCommand(),
  BenchCommand(),
  SoakCommand(),
]

func usage(_ commands: [Command]) -> String {
  let width = commands.map(\.name.count).max() ?? 0
  let lines = commands.map {
    "  " + $0.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + $0.abstract
  }
  return """
    usage: cortex <command> [options]

    commands:
    \(lines.joined(separator: "\n"))

    Run `cortex <command> --help` for a command's options.
    """
}

/// Writes a line to standard output at once, unbuffered, so that progress
/// reaches a log as it happens; silent on all processes of a distributed
/// run but rank 0.
func say(_ line: String) {
  guard DistributedRun.isPrimary else { return }
  FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func printError(_ message: String) {
  FileHandle.standardError.write(Data(("error: " + message + "\n").utf8))
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let first = arguments.first, first != "--help", first != "-h", first != "help" else {
  print(usage(commands))
  exit(arguments.isEmpty ? 2 : 0)
}
guard let command = commands.first(where: { $0.name == first }) else {
  printError(
    "unknown command '\(first)'; commands: \(commands.map(\.name).joined(separator: ", "))")
  exit(2)
}
let rest = Array(arguments.dropFirst())
if rest.contains("--help") || rest.contains("-h") {
  print(command.help)
  exit(0)
}
do {
  _ = try ComputeSettings.instructionSetFromEnvironment()
  exit(try command.run(rest))
} catch {
  DistributedRun.fail(error)
}
