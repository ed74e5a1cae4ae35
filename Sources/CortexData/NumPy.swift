import CortexCore
import Foundation

/// An array in NumPy's `.npy` format: a shape, an element type and the
/// elements' little-endian bytes in C (row-major) order.
///
/// Cortex reads and writes the four element types a model's data and
/// outputs need: `float32` (`<f4`), `float64` (`<f8`), `uint8` (`|u1`) and
/// `int64` (`<i8`), in C order. Anything else is refused with a one-line
/// error that says what was found and how to convert it: a Fortran-order
/// array (`numpy.ascontiguousarray`), an object or structured array, a
/// big-endian one (`array.astype('<f4')`), any other element type. The
/// header is checked before any element is read.
///
/// ```swift
/// let images = try NumPyArray.read(from: URL(fileURLWithPath: "images.npy"))
/// let x: Tensor<Float> = try images.tensor()        // any of the four types, converted
/// try NumPyArray(x * 2).write(to: URL(fileURLWithPath: "doubled.npy"))
/// ```
public struct NumPyArray: Equatable, Sendable {
  /// The element types Cortex reads and writes.
  public enum ElementType: String, CaseIterable, Sendable {
    /// 32-bit IEEE float, little-endian: `<f4`.
    case float32
    /// 64-bit IEEE float, little-endian: `<f8`.
    case float64
    /// Unsigned byte: `|u1`.
    case uint8
    /// 64-bit signed integer, little-endian: `<i8`.
    case int64

    /// The `descr` NumPy writes in the header for this type.
    public var descriptor: String {
      switch self {
      case .float32: return "<f4"
      case .float64: return "<f8"
      case .uint8: return "|u1"
      case .int64: return "<i8"
      }
    }

    /// The size of one element in bytes.
    public var byteWidth: Int {
      switch self {
      case .float32: return 4
      case .float64, .int64: return 8
      case .uint8: return 1
      }
    }

    /// Whether the elements are integers.
    public var isInteger: Bool { self == .uint8 || self == .int64 }
  }

  /// The size of each dimension; empty for a 0-d array.
  public let shape: [Int]
  /// The type of every element.
  public let elementType: ElementType
  /// The elements' bytes, little-endian, in C order.
  public let data: [UInt8]

  /// The largest array, in bytes, that ``read(from:)`` accepts: 4 GiB.
  public static let maximumBytes = 1 << 32

  /// The number of elements: the product of the shape.
  public var count: Int { shape.reduce(1, *) }

  /// An array of `shape` and `elementType` holding `data`.
  ///
  /// - Throws: ``DataError/invalidArgument(path:message:)`` when a size is
  ///   negative or `data` does not hold exactly the elements of `shape`.
  public init(shape: [Int], elementType: ElementType, data: [UInt8]) throws {
    let byteCount = try Self.byteCount(shape: shape, type: elementType, source: "<array>")
    guard byteCount == data.count else {
      throw DataError.invalidArgument(
        path: "<array>",
        message: "shape \(Self.tuple(shape)) of \(elementType.rawValue) needs \(byteCount) bytes, "
          + "found \(data.count)")
    }
    self.shape = shape
    self.elementType = elementType
    self.data = data
  }

  private init(unchecked shape: [Int], _ elementType: ElementType, _ data: [UInt8]) {
    self.shape = shape
    self.elementType = elementType
    self.data = data
  }

  /// A `float32` array of a `Tensor<Float>`'s scalars, or a `float64` one
  /// of a `Tensor<Double>`'s, with the tensor's shape.
  public init<Scalar: TensorScalar>(_ tensor: Tensor<Scalar>) {
    let type: ElementType = Scalar.self == Double.self ? .float64 : .float32
    var bytes = [UInt8](repeating: 0, count: tensor.scalarCount * type.byteWidth)
    bytes.withUnsafeMutableBytes { target in
      tensor.withUnsafeBufferPointer { source in
        if let value = source as? UnsafeBufferPointer<Double> {
          for (i, x) in value.enumerated() {
            target.storeBytes(of: x.bitPattern.littleEndian, toByteOffset: 8 * i, as: UInt64.self)
          }
        } else if let value = source as? UnsafeBufferPointer<Float> {
          for (i, x) in value.enumerated() {
            target.storeBytes(of: x.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
          }
        } else {
          for (i, x) in source.enumerated() {
            target.storeBytes(
              of: Float(x).bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
          }
        }
      }
    }
    self.init(unchecked: tensor.shape, type, bytes)
  }

  /// An `int64` array of integer indices, with their shape.
  public init(_ indices: IndexTensor) {
    var bytes = [UInt8](repeating: 0, count: indices.scalars.count * 8)
    bytes.withUnsafeMutableBytes { target in
      for (i, x) in indices.scalars.enumerated() {
        target.storeBytes(of: Int64(x).littleEndian, toByteOffset: 8 * i, as: Int64.self)
      }
    }
    self.init(unchecked: indices.shape, .int64, bytes)
  }

  /// A `uint8` array of bytes (pixels, small labels) with `shape`.
  ///
  /// - Precondition: `bytes.count` is the product of `shape`.
  public init(bytes: [UInt8], shape: [Int]) {
    precondition(
      shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == bytes.count,
      "NumPyArray: shape \(shape) does not describe \(bytes.count) bytes")
    self.init(unchecked: shape, .uint8, bytes)
  }

  /// The elements as a tensor of the same shape, each converted to
  /// `Scalar` as `Scalar(value)` does (a `float64` array loses precision
  /// in a `Tensor<Float>`, exactly as `array.astype('float32')` would).
  public func tensor<Scalar: TensorScalar>(of type: Scalar.Type = Scalar.self) -> Tensor<Scalar> {
    let values: [Scalar]
    if Scalar.self == Float.self, elementType == .float32 {
      values = floats() as! [Scalar]
    } else if Scalar.self == Double.self, elementType == .float64 {
      values = doubles() as! [Scalar]
    } else {
      switch elementType {
      case .float32: values = floats().map { Scalar($0) }
      case .float64: values = doubles().map { Scalar($0) }
      case .uint8: values = data.map { Scalar($0) }
      case .int64: values = integers().map { Scalar($0) }
      }
    }
    return Tensor(shape: shape, scalars: values)
  }

  /// The elements as integer indices of the same shape.
  ///
  /// - Throws: ``DataError/invalidContent(path:message:)`` for a
  ///   floating-point array: indices are `uint8` or `int64`.
  public func indexTensor() throws -> IndexTensor {
    switch elementType {
    case .uint8: return IndexTensor(shape: shape, scalars: data.map { Int($0) })
    case .int64: return IndexTensor(shape: shape, scalars: integers().map { Int($0) })
    case .float32, .float64:
      throw DataError.invalidContent(
        path: "<array>",
        message: "expected integer indices (uint8 or int64), found \(elementType.rawValue); "
          + "convert with array.astype('int64')")
    }
  }

  func floats() -> [Float] {
    data.withUnsafeBytes { bytes in
      (0..<count).map {
        Float(
          bitPattern: UInt32(
            littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
      }
    }
  }

  func doubles() -> [Double] {
    data.withUnsafeBytes { bytes in
      (0..<count).map {
        Double(
          bitPattern: UInt64(
            littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self)))
      }
    }
  }

  func integers() -> [Int64] {
    data.withUnsafeBytes { bytes in
      (0..<count).map {
        Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))
      }
    }
  }
}

// MARK: - Files

extension NumPyArray {
  /// The magic string every `.npy` file starts with.
  static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

  /// Reads a `.npy` file.
  ///
  /// The header is read and checked first; the elements are read only
  /// when the header describes an array Cortex takes and the file holds
  /// exactly its bytes.
  ///
  /// - Throws: ``DataError`` for a missing or unreadable file, or one
  ///   whose header or size is not that of a C-order array of one of the
  ///   four ``ElementType``s.
  public static func read(from url: URL) throws -> NumPyArray {
    let reader = try FileReader(url: url)
    return try decode(reader)
  }

  /// Parses the bytes of a `.npy` file.
  ///
  /// - Parameter source: the name used in error messages.
  public static func decode(_ data: Data, source: String = "<memory>") throws -> NumPyArray {
    try data.withUnsafeBytes { buffer in
      try decode(ByteStream(buffer, source: source, format: .raw))
    }
  }

  /// Writes the array to `url` as a version 1.0 `.npy` file (2.0 when the
  /// header needs more than 65,535 bytes), atomically.
  public func write(to url: URL) throws {
    try DataFile.writeAtomically(encoded(), to: url)
  }

  /// The bytes of the array's `.npy` file.
  public func encoded() -> Data {
    var header =
      "{'descr': '\(elementType.descriptor)', 'fortran_order': False, 'shape': \(Self.tuple(shape)), }"
    // NumPy pads the header with spaces to a multiple of 64 bytes, the
    // whole preamble included, and ends it with a newline.
    var prefixLength = Self.magic.count + 2 + 2
    var version: UInt8 = 1
    if header.utf8.count + 1 + 64 > 65_535 {
      version = 2
      prefixLength += 2
    }
    let padding = (64 - (prefixLength + header.utf8.count + 1) % 64) % 64
    header += String(repeating: " ", count: padding) + "\n"
    var bytes = Data(Self.magic)
    bytes.append(contentsOf: [version, 0])
    let length = header.utf8.count
    if version == 1 {
      bytes.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
    } else {
      bytes.append(contentsOf: (0..<4).map { UInt8((length >> (8 * $0)) & 0xFF) })
    }
    bytes.append(contentsOf: Array(header.utf8))
    bytes.append(contentsOf: data)
    return bytes
  }

  /// Python's spelling of a shape: `()`, `(5,)`, `(2, 3)`.
  static func tuple(_ shape: [Int]) -> String {
    shape.count == 1
      ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
  }

  static func byteCount(shape: [Int], type: ElementType, source: String) throws -> Int {
    var count = type.byteWidth
    for size in shape {
      guard size >= 0 else {
        throw DataError.invalidContent(
          path: source, message: "shape \(tuple(shape)) has a negative size")
      }
      let (product, overflow) = count.multipliedReportingOverflow(by: size)
      guard !overflow, product <= maximumBytes else {
        throw DataError.invalidContent(
          path: source,
          message: "shape \(tuple(shape)) of \(type.rawValue) is more than the limit of "
            + "\(maximumBytes) bytes")
      }
      count = product
    }
    return count
  }

  /// Reads an array from `stream`: the preamble, the header, then exactly
  /// the bytes it declares.
  static func decode(_ stream: some ByteReading) throws -> NumPyArray {
    let source = stream.source
    let preamble = try stream.read(count: 8)
    guard preamble.count == 8, Array(preamble[0..<6]) == magic else {
      let found = preamble.prefix(6).map { String(format: "%02X", $0) }.joined(separator: " ")
      throw DataError.invalidContent(
        path: source,
        message: "expected a NumPy .npy file starting with 93 4E 55 4D 50 59 (\\x93NUMPY), "
          + "found \(found.isEmpty ? "an empty file" : found)")
    }
    let (major, minor) = (preamble[6], preamble[7])
    guard (1...3).contains(major), minor == 0 else {
      throw DataError.invalidContent(
        path: source,
        message: "expected .npy format version 1.0, 2.0 or 3.0, found \(major).\(minor)")
    }
    let lengthBytes = try stream.read(count: major == 1 ? 2 : 4)
    guard lengthBytes.count == (major == 1 ? 2 : 4) else {
      throw DataError.invalidContent(path: source, message: "the file ends inside its preamble")
    }
    let headerLength = lengthBytes.enumerated().reduce(0) {
      $0 | Int($1.element) << (8 * $1.offset)
    }
    guard headerLength <= 1 << 20 else {
      throw DataError.invalidContent(
        path: source, message: "declares a header of \(headerLength) bytes, more than 1 MiB")
    }
    let headerBytes = try stream.read(count: headerLength)
    guard headerBytes.count == headerLength else {
      throw DataError.invalidContent(
        path: source,
        message: "declares a header of \(headerLength) bytes but the file ends after "
          + "\(headerBytes.count)")
    }
    guard let text = String(bytes: headerBytes, encoding: major == 3 ? .utf8 : .isoLatin1) else {
      throw DataError.invalidContent(path: source, message: "the header is not valid text")
    }
    let (shape, type) = try parseHeader(text, source: source)
    let byteCount = try byteCount(shape: shape, type: type, source: source)
    let preambleLength = 8 + lengthBytes.count + headerLength
    guard byteCount <= stream.remainingUpperBound else {
      throw DataError.invalidContent(
        path: source,
        message: "header declares shape \(tuple(shape)) of \(type.rawValue) (\(byteCount) bytes) "
          + "but only \(stream.remainingUpperBound) bytes follow the \(preambleLength)-byte header")
    }
    let data = try stream.read(count: byteCount)
    guard data.count == byteCount else {
      throw DataError.invalidContent(
        path: source,
        message: "header declares shape \(tuple(shape)) of \(type.rawValue) (\(byteCount) bytes) "
          + "but the data ends after \(data.count) bytes")
    }
    let extra = try stream.skipToEnd(limit: 1 << 20)
    guard extra == 0 else {
      throw DataError.invalidContent(
        path: source,
        message: "holds \(extra > 1 << 20 ? "more than \(1 << 20)" : "\(extra)") bytes after the "
          + "\(byteCount) bytes its header declares (shape \(tuple(shape)) of \(type.rawValue))")
    }
    return NumPyArray(unchecked: shape, type, data)
  }

  /// The shape and element type a header dictionary declares.
  static func parseHeader(_ text: String, source: String) throws -> ([Int], ElementType) {
    func invalid(_ message: String) -> DataError {
      DataError.invalidContent(path: source, message: message)
    }
    let shown = text.trimmingCharacters(in: .whitespacesAndNewlines)
    guard case .dictionary(let entries)? = try? PythonLiteral.parse(text) else {
      throw invalid(
        "expected a header like {'descr': '<f4', 'fortran_order': False, "
          + "'shape': (2, 3)}, found \(shown.prefix(120))")
    }
    guard let descr = entries["descr"], let order = entries["fortran_order"],
      let shapeValue = entries["shape"]
    else {
      throw invalid(
        "the header lacks one of 'descr', 'fortran_order' and 'shape': \(shown.prefix(120))")
    }
    guard case .string(let descriptor) = descr else {
      throw invalid(
        "holds a structured array (descr \(descr)); Cortex reads plain arrays of float32, "
          + "float64, uint8 or int64")
    }
    guard case .bool(let fortran) = order else {
      throw invalid("the header's 'fortran_order' is \(order), expected True or False")
    }
    guard case .tuple(let sizes) = shapeValue else {
      throw invalid("the header's 'shape' is \(shapeValue), expected a tuple of sizes")
    }
    var shape: [Int] = []
    for size in sizes {
      guard case .integer(let value) = size, value >= 0 else {
        throw invalid("the header's 'shape' is \(shapeValue), expected non-negative sizes")
      }
      shape.append(value)
    }
    let type = try elementType(descriptor, invalid: invalid)
    if fortran {
      throw invalid(
        "holds a Fortran-order array of shape \(tuple(shape)); save it in C order "
          + "(numpy.ascontiguousarray(array))")
    }
    return (shape, type)
  }

  private static func elementType(_ descriptor: String, invalid: (String) -> DataError) throws
    -> ElementType
  {
    switch descriptor {
    case "<f4": return .float32
    case "<f8": return .float64
    case "|u1", "<u1", ">u1", "=u1": return .uint8
    case "<i8": return .int64
    default: break
    }
    let kind = descriptor.dropFirst().prefix(1)
    if kind == "O" {
      throw invalid(
        "holds an object array (descr '\(descriptor)'): Python objects, not numbers; "
          + "convert with array.astype('float32')")
    }
    let name = ["f": "float", "i": "int", "u": "uint"][String(kind)].map {
      $0 + String(8 * (Int(descriptor.dropFirst(2)) ?? 0))
    }
    if descriptor.hasPrefix(">"), let name,
      let native = ElementType.allCases.first(where: { $0.rawValue == name })
    {
      throw invalid(
        "holds big-endian \(name) (descr '\(descriptor)'); convert with "
          + "array.astype('\(native.descriptor)')")
    }
    throw invalid(
      "holds \(name ?? "elements") of descr '\(descriptor)', expected float32 (<f4), float64 (<f8), "
        + "uint8 (|u1) or int64 (<i8); convert with array.astype('float32') or "
        + "array.astype('int64')")
  }
}

// MARK: - Tensors and index tensors

extension Tensor {
  /// Reads a `.npy` file into a tensor of its shape, converting `float32`,
  /// `float64`, `uint8` or `int64` elements to `Scalar`.
  ///
  /// - Throws: ``DataError`` for a missing file or one that is not a C-order
  ///   array of one of those types (see ``NumPyArray``).
  public init(numPyFile url: URL) throws {
    self = try NumPyArray.read(from: url).tensor()
  }

  /// Writes the tensor to a `.npy` file, atomically: `float32` for
  /// `Tensor<Float>`, `float64` for `Tensor<Double>`, C order, its shape.
  public func writeNumPy(to url: URL) throws {
    try NumPyArray(self).write(to: url)
  }
}

extension ShapedArray where Element == Int {
  /// Reads a `.npy` file of `uint8` or `int64` integers into indices of
  /// its shape.
  ///
  /// - Throws: ``DataError`` for a missing file, a floating-point array, or
  ///   one that is not a C-order array of a supported type.
  public init(numPyFile url: URL) throws {
    let array = try NumPyArray.read(from: url)
    do {
      self = try array.indexTensor()
    } catch let error as DataError {
      throw DataError.invalidContent(path: url.path, message: error.message)
    }
  }

  /// Writes the indices to a `.npy` file as `int64`, atomically.
  public func writeNumPy(to url: URL) throws {
    try NumPyArray(self).write(to: url)
  }
}

// MARK: - Header literals

/// The Python literals of a `.npy` header: a dictionary of strings,
/// Booleans, integers and tuples (lists for structured types).
indirect enum PythonLiteral: CustomStringConvertible, Equatable {
  case string(String)
  case integer(Int)
  case bool(Bool)
  case none
  case tuple([PythonLiteral])
  case list([PythonLiteral])
  case dictionary([String: PythonLiteral])

  var description: String {
    switch self {
    case .string(let text): return "'\(text)'"
    case .integer(let value): return String(value)
    case .bool(let value): return value ? "True" : "False"
    case .none: return "None"
    case .tuple(let items):
      return items.count == 1
        ? "(\(items[0]),)" : "(" + items.map(\.description).joined(separator: ", ") + ")"
    case .list(let items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
    case .dictionary(let entries):
      return "{" + entries.keys.sorted().map { "'\($0)': \(entries[$0]!)" }.joined(separator: ", ")
        + "}"
    }
  }

  struct SyntaxError: Error {}

  /// Parses one literal that makes up the whole of `text` (surrounding
  /// spaces aside).
  static func parse(_ text: String) throws -> PythonLiteral {
    var parser = Parser(characters: Array(text.unicodeScalars))
    let value = try parser.value(depth: 0)
    parser.skipSpaces()
    guard parser.index == parser.characters.count else { throw SyntaxError() }
    return value
  }

  struct Parser {
    let characters: [Unicode.Scalar]
    var index = 0

    mutating func skipSpaces() {
      while index < characters.count, characters[index].properties.isWhitespace { index += 1 }
    }

    mutating func peek() -> Unicode.Scalar? {
      skipSpaces()
      return index < characters.count ? characters[index] : nil
    }

    mutating func expect(_ character: Unicode.Scalar) throws {
      guard peek() == character else { throw SyntaxError() }
      index += 1
    }

    mutating func value(depth: Int) throws -> PythonLiteral {
      guard depth < 32, let first = peek() else { throw SyntaxError() }
      switch first {
      case "'", "\"":
        return .string(try string())
      case "{":
        index += 1
        var entries: [String: PythonLiteral] = [:]
        while peek() != "}" {
          guard peek() == "'" || peek() == "\"" else { throw SyntaxError() }
          let key = try string()
          try expect(":")
          entries[key] = try value(depth: depth + 1)
          if peek() == "," { index += 1 } else { break }
        }
        try expect("}")
        return .dictionary(entries)
      case "(", "[":
        index += 1
        let close: Unicode.Scalar = first == "(" ? ")" : "]"
        var items: [PythonLiteral] = []
        while peek() != close {
          items.append(try value(depth: depth + 1))
          if peek() == "," { index += 1 } else { break }
        }
        try expect(close)
        return first == "(" ? .tuple(items) : .list(items)
      default:
        var word = ""
        while index < characters.count,
          characters[index].properties.isAlphabetic || ("0"..."9").contains(characters[index])
            || characters[index] == "-"
        {
          word.unicodeScalars.append(characters[index])
          index += 1
        }
        switch word {
        case "True": return .bool(true)
        case "False": return .bool(false)
        case "None": return .none
        default:
          // Python 2 wrote long integers with an L suffix.
          let digits = word.hasSuffix("L") ? String(word.dropLast()) : word
          guard let value = Int(digits) else { throw SyntaxError() }
          return .integer(value)
        }
      }
    }

    mutating func string() throws -> String {
      guard let quote = peek() else { throw SyntaxError() }
      index += 1
      var text = ""
      while index < characters.count, characters[index] != quote {
        text.unicodeScalars.append(characters[index])
        index += 1
      }
      try expect(quote)
      return text
    }
  }
}
