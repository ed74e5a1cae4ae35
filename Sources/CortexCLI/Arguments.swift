/// A small command-line parser: options `--name value`, flags `--name`,
/// and positional arguments, with errors a person can act on.
struct CommandLineError: Error, CustomStringConvertible, Equatable {
  let description: String
  init(_ description: String) { self.description = description }
}

struct Arguments {
  private(set) var positional: [String] = []
  private var options: [String: String] = [:]
  private var flags: Set<String> = []
  private var consumed: Set<String> = []

  /// Parses `arguments`; `valueOptions` take a value, `flagOptions` do not.
  init(_ arguments: [String], valueOptions: Set<String>, flagOptions: Set<String>) throws {
    var index = 0
    while index < arguments.count {
      let argument = arguments[index]
      if argument.hasPrefix("--") {
        var name = String(argument.dropFirst(2))
        var inlineValue: String?
        if let equals = name.firstIndex(of: "=") {
          inlineValue = String(name[name.index(after: equals)...])
          name = String(name[..<equals])
        }
        if flagOptions.contains(name) {
          guard inlineValue == nil else { throw CommandLineError("--\(name) takes no value") }
          flags.insert(name)
        } else if valueOptions.contains(name) {
          if let inlineValue {
            options[name] = inlineValue
          } else {
            index += 1
            guard index < arguments.count else { throw CommandLineError("--\(name) needs a value") }
            // `--out --force` is a forgotten value, not a folder named `--force`.
            guard !arguments[index].hasPrefix("--") else {
              throw CommandLineError(
                "--\(name) needs a value, found the option \(arguments[index]); "
                  + "write --\(name)=\(arguments[index]) if that is the value")
            }
            options[name] = arguments[index]
          }
        } else {
          let known = (valueOptions.union(flagOptions)).sorted().map { "--" + $0 }.joined(
            separator: ", ")
          throw CommandLineError("unknown option --\(name); known options: \(known)")
        }
      } else {
        positional.append(argument)
      }
      index += 1
    }
  }

  func flag(_ name: String) -> Bool { flags.contains(name) }

  func string(_ name: String) -> String? { options[name] }

  func int(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
    guard let text = options[name] else { return value }
    guard let parsed = Int(text) else {
      throw CommandLineError("--\(name) expects an integer, found '\(text)'")
    }
    guard range.contains(parsed) else {
      throw CommandLineError(
        "--\(name) must be in \(range.lowerBound)...\(range.upperBound), found \(parsed)")
    }
    return parsed
  }

  func double(_ name: String, default value: Double?, range: ClosedRange<Double>) throws -> Double?
  {
    guard let text = options[name] else { return value }
    guard let parsed = Double(text), parsed.isFinite else {
      throw CommandLineError("--\(name) expects a number, found '\(text)'")
    }
    guard range.contains(parsed) else {
      throw CommandLineError(
        "--\(name) must be in \(range.lowerBound)...\(range.upperBound), found \(parsed)")
    }
    return parsed
  }

  /// `--name yes` or `--name no`; `value` when the option is absent.
  func yesOrNo(_ name: String, default value: Bool) throws -> Bool {
    switch options[name] {
    case nil: return value
    case "yes": return true
    case "no": return false
    case let text?: throw CommandLineError("--\(name) must be yes or no, found '\(text)'")
    }
  }

  func choice<T: RawRepresentable & CaseIterable>(_ name: String, default value: T) throws -> T
  where T.RawValue == String {
    guard let text = options[name] else { return value }
    guard let parsed = T(rawValue: text) else {
      let names = T.allCases.map(\.rawValue).joined(separator: ", ")
      throw CommandLineError("--\(name) must be one of \(names), found '\(text)'")
    }
    return parsed
  }
}
