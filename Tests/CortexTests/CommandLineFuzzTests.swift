import Testing

@testable import CortexCLI
@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Seeded mutation fuzzing of the command-line parser and of each
/// command's option validation: every argument list either parses or
/// throws a `CommandLineError`; a crash would end the test run.
@Suite struct CommandLineFuzzTests {
  static let iterations = 12_000

  enum Optimizer: String, CaseIterable {
    case sgd, momentum, adam
  }

  static let valueOptions: Set<String> = ["epochs", "lr", "optimizer", "filter", "batch-size"]
  static let flagOptions: Set<String> = ["verbose", "float"]

  /// Argument lists that parse, to mutate.
  static let seeds: [[String]] = [
    [],
    ["--epochs", "3", "--lr", "0.01"],
    ["--epochs=10", "--optimizer", "adam", "--verbose"],
    ["model", "--batch-size", "64", "--float", "--filter", "conv"],
    ["--lr=1e-3", "--optimizer=momentum", "data/mnist", "--epochs", "1"],
    ["--filter", "maxPool2d"],
  ]

  /// Tokens that break naive parsers: bare dashes, empty strings, `=`
  /// in odd places, extreme and malformed numbers, non-ASCII text.
  static let vocabulary: [String] = [
    "", "-", "--", "---", "=", "--=", "--=3", "-h", "--help", "--epochs", "--epochs=",
    "--epochs==3", "--lr", "--lr=", "--optimizer", "--optimizer=", "--filter", "--filter=",
    "--batch-size", "--verbose", "--verbose=1", "--float=", "--unknown", "--Epochs", "0", "-1",
    "1", "3", "1000000", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "0x10", "1_000", " 3", "3 ", "+3", "1e3", "1e309", "-1e309", "nan", "NaN", "inf", "-inf",
    "infinity", "0.5", ".5", "5.", "1e-320", "adam", "ADAM", "sgd", "momentum", "conv", "é",
    "🧪", "--🧪", "\u{0}", "--\u{0}", "a=b", "--lr=0.1=0.2", "model",
  ]

  /// One random mutation of `arguments`.
  static func mutate(_ arguments: [String], using generator: inout SeededGenerator) -> [String] {
    var result = arguments
    func index(_ count: Int) -> Int { Int(generator.next() % UInt64(Swift.max(count, 1))) }
    func token() -> String { vocabulary[index(vocabulary.count)] }
    for _ in 0...index(3) {
      switch generator.next() % 8 {
      case 0: result.insert(token(), at: index(result.count + 1))
      case 1: if !result.isEmpty { result.remove(at: index(result.count)) }
      case 2: if !result.isEmpty { result[index(result.count)] = token() }
      case 3:
        // Truncate or extend one argument's text.
        if !result.isEmpty {
          let i = index(result.count)
          let text = Array(result[i])
          result[i] =
            generator.next() % 2 == 0
            ? String(text.prefix(index(text.count + 1))) : result[i] + token()
        }
      case 4: if !result.isEmpty { result.append(result[index(result.count)]) }
      case 5: result = Array(result.prefix(index(result.count + 1)))
      case 6:
        // Join `--name value` into `--name=value`, or split at `=`.
        if result.count >= 2 {
          let i = index(result.count - 1)
          result.replaceSubrange(i...i + 1, with: [result[i] + "=" + result[i + 1]])
        }
      default:
        if !result.isEmpty {
          let i = index(result.count)
          let parts = result[i].split(separator: "=", maxSplits: 1).map(String.init)
          result.replaceSubrange(i...i, with: parts)
        }
      }
    }
    return result
  }

  /// Parses `arguments` and reads every option the way a command does.
  static func parse(_ arguments: [String]) throws {
    let options = try Arguments(arguments, valueOptions: valueOptions, flagOptions: flagOptions)
    let epochs = try options.int("epochs", default: 1, range: 1...1000)
    #expect((1...1000).contains(epochs))
    let batchSize = try options.int("batch-size", default: 64, range: 1...65536)
    #expect((1...65536).contains(batchSize))
    if let rate = try options.double("lr", default: nil, range: 1e-8...10) {
      #expect(rate.isFinite && rate >= 1e-8 && rate <= 10)
    }
    _ = try options.choice("optimizer", default: Optimizer.sgd)
    _ = options.flag("verbose")
    _ = options.string("filter")
  }

  @Test func parserThrowsOrParses() {
    var generator = SeededGenerator(seed: 31)
    var parsed = 0
    var rejected = 0
    for i in 0..<Self.iterations {
      let arguments = Self.mutate(Self.seeds[i % Self.seeds.count], using: &generator)
      do {
        try Self.parse(arguments)
        parsed += 1
      } catch is CommandLineError {
        rejected += 1
      } catch {
        Issue.record("\(arguments): unexpected error type \(type(of: error)): \(error)")
      }
    }
    #expect(parsed + rejected == Self.iterations)
    #expect(parsed > 1000 && rejected > 1000)
  }

  @Test func gradcheckOptionValidationThrowsOrSelects() {
    var generator = SeededGenerator(seed: 5)
    let command = GradcheckCommand()
    let names = Set(OperationCheck.all.map(\.name))
    var selected = 0
    var rejected = 0
    for i in 0..<Self.iterations {
      let arguments = Self.mutate(Self.seeds[i % Self.seeds.count], using: &generator)
      do {
        let (checks, layers, order) = try command.checks(for: arguments)
        #expect(
          !(checks.isEmpty && layers.isEmpty) && checks.allSatisfy { names.contains($0.name) })
        #expect(order == 1 || order == 2)
        selected += 1
      } catch is CommandLineError {
        rejected += 1
      } catch {
        Issue.record("\(arguments): unexpected error type \(type(of: error)): \(error)")
      }
    }
    #expect(selected + rejected == Self.iterations)
    #expect(selected > 100 && rejected > 1000)
  }

  @Test func messagesSayWhatWasExpectedAndFound() throws {
    func message(_ arguments: [String]) -> String {
      do {
        try Self.parse(arguments)
        return "parsed"
      } catch {
        return "\(error)"
      }
    }
    #expect(message(["--epochs"]) == "--epochs needs a value")
    #expect(message(["--epochs", "ten"]) == "--epochs expects an integer, found 'ten'")
    #expect(message(["--epochs", "0"]) == "--epochs must be in 1...1000, found 0")
    #expect(message(["--lr", "nan"]) == "--lr expects a number, found 'nan'")
    #expect(message(["--lr=1e309"]) == "--lr expects a number, found '1e309'")
    #expect(message(["--verbose=1"]) == "--verbose takes no value")
    #expect(
      message(["--optimizer", "ADAM"])
        == "--optimizer must be one of sgd, momentum, adam, found 'ADAM'")
    #expect(message(["--"]).hasPrefix("unknown option --; known options: --batch-size, --epochs"))
    #expect(
      throws: CommandLineError.self, "gradcheck rejects positional arguments",
      performing: { try GradcheckCommand().checks(for: ["conv2d"]) })
    let noMatch = #expect(throws: CommandLineError.self) {
      try GradcheckCommand().checks(for: ["--filter", "no such op"])
    }
    #expect(noMatch?.description == "no operation or layer matches 'no such op'")
  }
}
