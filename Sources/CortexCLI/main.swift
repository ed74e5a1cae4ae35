import Cortex
import Foundation

/// `cortex`: train, evaluate and inspect models; check gradients; benchmark.
nonisolated var commands: [Command] {
  [
    TrainCommand(),
    EvaluateCommand(),
    ExportCommand(),
    SummaryCommand(),
    GradcheckCommand(),
    BenchCommand(),
    SoakCommand(),
  ]
}

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

/// Runs the command line and returns the exit status: the command's own,
/// 2 for an error a person can act on (arguments, files, lost output).
func runCommandLine(_ arguments: [String]) -> Int32 {
  do {
    try prepareStandardStreams()
    var status: Int32
    if let first = arguments.first, first != "--help", first != "-h", first != "help" {
      guard let command = commands.first(where: { $0.name == first }) else {
        throw CommandLineError(
          "unknown command '\(first)'; commands: \(commands.map(\.name).joined(separator: ", "))")
      }
      let rest = Array(arguments.dropFirst())
      if rest.contains("--help") || rest.contains("-h") {
        try say(command.help)
        status = 0
      } else {
        _ = try ComputeSettings.instructionSetFromEnvironment()
        status = try command.run(rest)
      }
    } else {
      try say(usage(commands))
      status = arguments.isEmpty ? 2 : 0
    }
    try flushStandardOutput()
    return status
  } catch {
    // A failing process of a distributed run ends every process.
    if DistributedRun.group != nil { DistributedRun.fail(error) }
    printError("\(error)")
    return 2
  }
}

exit(runCommandLine(Array(CommandLine.arguments.dropFirst())))
