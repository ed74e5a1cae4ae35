import CortexCore

/// A JSON value (RFC 8259), as the safetensors header uses them.
///
/// Integers keep their exact value when they fit in `Int`; other numbers
/// are `number`. Object members keep their order.
enum JSONValue {
  case object([(key: String, value: JSONValue)])
  case array([JSONValue])
  case string(String)
  case integer(Int)
  case number(Double)
  case bool(Bool)
  case null

  /// The kind of value, for error messages.
  var kind: String {
    switch self {
    case .object: return "an object"
    case .array: return "an array"
    case .string: return "a string"
    case .integer: return "an integer"
    case .number(let value): return "the number \(value)"
    case .bool: return "a boolean"
    case .null: return "null"
    }
  }

  /// `text` as a JSON string literal, quoted and escaped.
  static func quoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      case "\r": result += "\\r"
      case "\t": result += "\\t"
      case _ where scalar.value < 0x20:
        let digits = String(scalar.value, radix: 16)
        result += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
      default: result.unicodeScalars.append(scalar)
      }
    }
    return result + "\""
  }
}

/// Why a JSON text was rejected, and where.
struct JSONError: Error {
  /// The byte offset of the problem.
  var offset: Int
  /// What was expected and what was found.
  var message: String
}

/// A strict JSON parser over UTF-8 bytes: no comments, no trailing
/// commas, no duplicate keys, nesting at most `maximumDepth` deep.
struct JSONParser {
  /// The deepest nesting accepted, so hostile input cannot exhaust the stack.
  static let maximumDepth = 64

  /// The byte each single-character escape stands for, by the character.
  private static let escapes: [UInt8: UInt8] = [
    UInt8(ascii: "\""): 0x22, UInt8(ascii: "\\"): 0x5C, UInt8(ascii: "/"): 0x2F,
    UInt8(ascii: "b"): 0x08, UInt8(ascii: "f"): 0x0C, UInt8(ascii: "n"): 0x0A,
    UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09,
  ]

  private let bytes: [UInt8]
  private var position = 0
  private var depth = 0

  /// Parses `bytes` as one JSON value, optionally surrounded by whitespace.
  static func parse(_ bytes: [UInt8]) throws -> JSONValue {
    var parser = JSONParser(bytes: bytes)
    let value = try parser.parseValue()
    parser.skipWhitespace()
    guard parser.position == bytes.count else {
      throw parser.error("expected the end of the text after the top-level value")
    }
    return value
  }

  private init(bytes: [UInt8]) { self.bytes = bytes }

  private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

  private func error(_ message: String) -> JSONError {
    let found = current.map { byte in
      (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte \(byte)"
    }
    return JSONError(offset: position, message: "\(message), found \(found ?? "the end")")
  }

  private mutating func skipWhitespace() {
    while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
      position += 1
    }
  }

  private mutating func expect(_ byte: UInt8, _ message: String) throws {
    skipWhitespace()
    guard current == byte else { throw error(message) }
    position += 1
  }

  private mutating func parseValue() throws -> JSONValue {
    skipWhitespace()
    switch current {
    case UInt8(ascii: "{"): return try nested { try $0.parseObject() }
    case UInt8(ascii: "["): return try nested { try $0.parseArray() }
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"): return try parseLiteral("true", .bool(true))
    case UInt8(ascii: "f"): return try parseLiteral("false", .bool(false))
    case UInt8(ascii: "n"): return try parseLiteral("null", .null)
    case let byte? where byte == UInt8(ascii: "-") || (0x30...0x39).contains(byte):
      return try parseNumber()
    default: throw error("expected a value")
    }
  }

  private mutating func nested(_ body: (inout JSONParser) throws -> JSONValue) throws -> JSONValue {
    guard depth < JSONParser.maximumDepth else {
      throw error("expected at most \(JSONParser.maximumDepth) levels of nesting")
    }
    depth += 1
    defer { depth -= 1 }
    position += 1
    return try body(&self)
  }

  private mutating func parseObject() throws -> JSONValue {
    var members: [(key: String, value: JSONValue)] = []
    var keys = Set<String>()
    skipWhitespace()
    if current == UInt8(ascii: "}") {
      position += 1
      return .object(members)
    }
    while true {
      skipWhitespace()
      guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
      let keyOffset = position
      let key = try parseString()
      guard keys.insert(key).inserted else {
        throw JSONError(offset: keyOffset, message: "duplicate key \(JSONValue.quoted(key))")
      }
      try expect(UInt8(ascii: ":"), "expected ':' after an object key")
      members.append((key, try parseValue()))
      skipWhitespace()
      if current == UInt8(ascii: "}") {
        position += 1
        return .object(members)
      }
      try expect(UInt8(ascii: ","), "expected ',' or '}' after an object member")
    }
  }

  private mutating func parseArray() throws -> JSONValue {
    var elements: [JSONValue] = []
    skipWhitespace()
    if current == UInt8(ascii: "]") {
      position += 1
      return .array(elements)
    }
    while true {
      elements.append(try parseValue())
      skipWhitespace()
      if current == UInt8(ascii: "]") {
        position += 1
        return .array(elements)
      }
      try expect(UInt8(ascii: ","), "expected ',' or ']' after an array element")
    }
  }

  private mutating func parseLiteral(_ word: String, _ value: JSONValue) throws -> JSONValue {
    for byte in word.utf8 {
      guard current == byte else { throw error("expected '\(word)'") }
      position += 1
    }
    return value
  }

  private mutating func parseNumber() throws -> JSONValue {
    let start = position
    var isInteger = true
    if current == UInt8(ascii: "-") { position += 1 }
    if current == UInt8(ascii: "0") {
      position += 1
    } else {
      try digits()
    }
    if current == UInt8(ascii: ".") {
      isInteger = false
      position += 1
      try digits()
    }
    if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
      isInteger = false
      position += 1
      if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
      try digits()
    }
    let text = String(decoding: bytes[start..<position], as: UTF8.self)
    if isInteger, let value = Int(text) { return .integer(value) }
    return .number(Double(text) ?? .nan)
  }

  private mutating func digits() throws {
    guard let byte = current, (0x30...0x39).contains(byte) else { throw error("expected a digit") }
    while let byte = current, (0x30...0x39).contains(byte) { position += 1 }
  }

  private mutating func parseString() throws -> String {
    let start = position
    position += 1
    var utf8: [UInt8] = []
    while true {
      guard let byte = current else { throw error("expected '\"' to close the string") }
      position += 1
      switch byte {
      case UInt8(ascii: "\""):
        guard let text = String(validating: utf8, as: UTF8.self) else {
          throw JSONError(offset: start, message: "string is not valid UTF-8")
        }
        return text
      case UInt8(ascii: "\\"):
        try parseEscape(into: &utf8)
      case 0..<0x20:
        position -= 1
        throw error("expected control characters in a string to be escaped")
      default:
        utf8.append(byte)
      }
    }
  }

  private mutating func parseEscape(into utf8: inout [UInt8]) throws {
    guard let byte = current else { throw error("expected an escape character") }
    position += 1
    if let value = JSONParser.escapes[byte] {
      utf8.append(value)
      return
    }
    guard byte == UInt8(ascii: "u") else {
      position -= 1
      throw error("expected one of '\"\\/bfnrtu' after a backslash")
    }
    var value = try hexQuad()
    if (0xD800..<0xDC00).contains(value) {
      guard current == UInt8(ascii: "\\") else { throw error("expected a low surrogate") }
      position += 1
      guard current == UInt8(ascii: "u") else { throw error("expected a low surrogate") }
      position += 1
      let low = try hexQuad()
      guard (0xDC00..<0xE000).contains(low) else {
        throw JSONError(offset: position - 6, message: "expected a low surrogate after a high one")
      }
      value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
    }
    guard let scalar = Unicode.Scalar(value) else {
      throw JSONError(offset: position - 6, message: "unpaired surrogate in a \\u escape")
    }
    utf8.append(contentsOf: String(scalar).utf8)
  }

  private mutating func hexQuad() throws -> UInt32 {
    var value: UInt32 = 0
    for _ in 0..<4 {
      guard let byte = current, let digit = hexDigit(byte) else {
        throw error("expected 4 hexadecimal digits after \\u")
      }
      value = value << 4 | digit
      position += 1
    }
    return value
  }

  private func hexDigit(_ byte: UInt8) -> UInt32? {
    switch byte {
    case 0x30...0x39: return UInt32(byte - 0x30)
    case 0x41...0x46: return UInt32(byte - 0x41 + 10)
    case 0x61...0x66: return UInt32(byte - 0x61 + 10)
    default: return nil
    }
  }
}
