import CortexCore
import Foundation

/// Checkpoints in the safetensors format, which PyTorch reads with
/// `safetensors.torch.load_file`.
///
/// A file is an 8-byte little-endian header length `N`, then `N` bytes of
/// JSON, then the tensors' raw little-endian data. The JSON maps each
/// tensor name (`conv1.weight`, as in a PyTorch state dict) to its
/// `dtype`, `shape` and `data_offsets` (`[begin, end)` within the data),
/// and `__metadata__` to string pairs:
///
///     {"__metadata__":{"format":"pt"},
///      "conv1.bias":{"dtype":"F32","shape":[6],"data_offsets":[0,24]}, ...}
///
/// Cortex writes the keys sorted, the tensors' data in the same order, and
/// pads the header with spaces to a multiple of 8 bytes. Loading checks
/// every declared size against the file before it copies anything.
public enum Checkpoint {
  /// The largest header accepted: 100 MB, the limit safetensors itself uses.
  public static let maximumHeaderLength = 100_000_000
  /// The largest checkpoint file the loader reads: 64 GiB.
  public static let maximumBytes = 1 << 36

  /// The bytes per element of every safetensors dtype.
  static let elementSizes: [String: Int] = [
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
  ]

  // MARK: Saving

  /// Writes `tensors` to `url` atomically: a reader sees the old file or
  /// the complete new one, never a partial write.
  ///
  /// - Parameters:
  ///   - tensors: the tensors by name, e.g. `conv1.weight`.
  ///   - metadata: free-form string pairs stored in `__metadata__`;
  ///     `format: pt` tells PyTorch tools the layout is PyTorch's.
  ///   - url: the file to write.
  /// - Throws: ``DataError`` when a name is `__metadata__` or the file
  ///   cannot be written.
  public static func save<Scalar: TensorScalar>(
    _ tensors: [String: Tensor<Scalar>], metadata: [String: String] = ["format": "pt"],
    to url: URL
  ) throws {
    let data = try encode(tensors, metadata: metadata, source: url.path)
    try DataFile.writeAtomically(data, to: url)
  }

  /// The safetensors encoding of `tensors`, as ``save(_:metadata:to:)``
  /// writes it.
  ///
  /// - Parameters:
  ///   - tensors: the tensors by name.
  ///   - metadata: the `__metadata__` string pairs.
  ///   - source: the name used in error messages.
  public static func encode<Scalar: TensorScalar>(
    _ tensors: [String: Tensor<Scalar>], metadata: [String: String] = ["format": "pt"],
    source: String = "<memory>"
  ) throws -> Data {
    guard tensors["__metadata__"] == nil else {
      throw DataError.invalidArgument(
        path: source, message: "'__metadata__' is reserved and cannot name a tensor")
    }
    let sorted = tensors.sorted { precedes($0.key, $1.key) }
    var members: [(key: String, json: String)] = []
    if !metadata.isEmpty {
      let pairs = metadata.sorted { precedes($0.key, $1.key) }.map {
        "\(JSONValue.quoted($0.key)):\(JSONValue.quoted($0.value))"
      }
      members.append(("__metadata__", "{" + pairs.joined(separator: ",") + "}"))
    }
    var offset = 0
    for (name, tensor) in sorted {
      let end = offset + tensor.scalarCount * MemoryLayout<Scalar>.size
      let shape = tensor.shape.map(String.init).joined(separator: ",")
      members.append(
        (
          name,
          #"{"dtype":"\#(Scalar.dtypeName)","shape":[\#(shape)],"#
            + #""data_offsets":[\#(offset),\#(end)]}"#
        ))
      offset = end
    }
    members.sort { precedes($0.key, $1.key) }
    let json = members.map { "\(JSONValue.quoted($0.key)):\($0.json)" }.joined(separator: ",")
    var header = Array("{\(json)}".utf8)
    header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)

    var data = Data(capacity: 8 + header.count + offset)
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(contentsOf: header)
    for (_, tensor) in sorted {
      var bytes = tensor.withUnsafeBufferPointer { [UInt8](UnsafeRawBufferPointer($0)) }
      bytes.withUnsafeMutableBytes {
        swapToLittleEndian($0, elementSize: MemoryLayout<Scalar>.size)
      }
      data.append(contentsOf: bytes)
    }
    return data
  }

  // MARK: Loading

  /// Loads a checkpoint of `F32` tensors.
  ///
  /// - Throws: ``DataError`` when the file is missing, unreadable or
  ///   corrupt, or holds tensors of another dtype.
  public static func load(from url: URL) throws -> [String: Tensor<Float>] {
    try load(Float.self, from: url)
  }

  /// Loads a checkpoint's tensors as `Scalar`.
  ///
  /// - Parameters:
  ///   - type: `Float` or `Double`.
  ///   - url: the file to read.
  ///   - convertingPrecision: also accept tensors of the other precision
  ///     (`F32` for Double, `F64` for Float), converting them; by default
  ///     such a tensor is an error.
  /// - Throws: ``DataError`` when the file is missing, unreadable or
  ///   corrupt, or holds a tensor that cannot be loaded as `Scalar`.
  public static func load<Scalar: TensorScalar>(
    _ type: Scalar.Type, from url: URL, convertingPrecision: Bool = false
  ) throws -> [String: Tensor<Scalar>] {
    let data = try DataFile.contents(of: url, maximumBytes: maximumBytes)
    return try decode(data, as: type, convertingPrecision: convertingPrecision, source: url.path)
  }

  /// The `__metadata__` pairs of the checkpoint at `url`, after checking
  /// the whole file.
  public static func loadMetadata(from url: URL) throws -> [String: String] {
    let data = try DataFile.contents(of: url, maximumBytes: maximumBytes)
    return try decodeMetadata(data, source: url.path)
  }

  /// Decodes a checkpoint held in memory; see ``load(_:from:convertingPrecision:)``.
  ///
  /// - Parameters:
  ///   - data: the file's bytes.
  ///   - type: `Float` or `Double`.
  ///   - convertingPrecision: also accept the other precision, converting it.
  ///   - source: the name used in error messages.
  public static func decode<Scalar: TensorScalar>(
    _ data: Data, as type: Scalar.Type = Float.self, convertingPrecision: Bool = false,
    source: String = "<memory>"
  ) throws -> [String: Tensor<Scalar>] {
    try data.withUnsafeBytes { bytes in
      let layout = try SafetensorsLayout(bytes, source: source)
      var tensors: [String: Tensor<Scalar>] = [:]
      for entry in layout.entries {
        let start = layout.dataStart + entry.begin
        let region = UnsafeRawBufferPointer(rebasing: bytes[start..<start + entry.byteCount])
        tensors[entry.name] = try tensor(
          entry, from: region, as: type, convertingPrecision: convertingPrecision, source: source)
      }
      return tensors
    }
  }

  /// The `__metadata__` pairs of a checkpoint held in memory, after
  /// checking the whole layout.
  ///
  /// - Parameters:
  ///   - data: the file's bytes.
  ///   - source: the name used in error messages.
  public static func decodeMetadata(_ data: Data, source: String = "<memory>") throws
    -> [String: String]
  {
    try data.withUnsafeBytes { try SafetensorsLayout($0, source: source).metadata }
  }

  private static func tensor<Scalar: TensorScalar>(
    _ entry: SafetensorsLayout.Entry, from region: UnsafeRawBufferPointer, as type: Scalar.Type,
    convertingPrecision: Bool, source: String
  ) throws -> Tensor<Scalar> {
    if entry.dtype == Scalar.dtypeName {
      var result = Tensor<Scalar>.uninitialized(entry.shape)
      result.withUnsafeMutableBufferPointer { target in
        let bytes = UnsafeMutableRawBufferPointer(target)
        bytes.copyMemory(from: region)
        swapToLittleEndian(bytes, elementSize: MemoryLayout<Scalar>.size)
      }
      return result
    }
    guard entry.dtype == "F32" || entry.dtype == "F64" else {
      throw DataError.invalidContent(
        path: source,
        message: "tensor '\(entry.name)' has dtype \(entry.dtype), expected F32 or F64")
    }
    guard convertingPrecision else {
      throw DataError.invalidContent(
        path: source,
        message: "tensor '\(entry.name)' is \(entry.dtype), expected \(Scalar.dtypeName) "
          + "(load with convertingPrecision: true to convert it)")
    }
    if entry.dtype == "F32" {
      return Tensor(shape: entry.shape) { i in
        Scalar(
          Float(
            bitPattern: UInt32(
              littleEndian: region.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
      }
    }
    return Tensor(shape: entry.shape) { i in
      Scalar(
        Double(
          bitPattern: UInt64(
            littleEndian: region.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
    }
  }

  /// Reverses the bytes of each element on a big-endian machine (the
  /// same operation converts to and from little-endian); does nothing on a
  /// little-endian one.
  private static func swapToLittleEndian(
    _ bytes: UnsafeMutableRawBufferPointer, elementSize: Int
  ) {
    #if _endian(big)
      for start in stride(from: 0, to: bytes.count, by: elementSize) {
        UnsafeMutableRawBufferPointer(rebasing: bytes[start..<start + elementSize]).reverse()
      }
    #endif
  }

  /// Byte-wise order of UTF-8 names, the order safetensors writers use.
  private static func precedes(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
  }
}

/// The validated header of a safetensors file: where each tensor's bytes
/// are, and the metadata.
struct SafetensorsLayout {
  /// One tensor's description.
  struct Entry {
    var name: String
    var dtype: String
    var shape: [Int]
    /// Offsets within the data section.
    var begin: Int
    var end: Int
    var byteCount: Int { end - begin }
  }

  /// The tensors, in the order of their data.
  var entries: [Entry] = []
  /// The `__metadata__` pairs.
  var metadata: [String: String] = [:]
  /// Where the data section starts in the file.
  var dataStart = 0

  private let source: String

  /// Parses and checks the header of the safetensors file in `bytes`.
  init(_ bytes: UnsafeRawBufferPointer, source: String) throws {
    self.source = source
    guard bytes.count >= 8 else {
      throw invalid("file is \(bytes.count) bytes, shorter than the 8-byte header length")
    }
    let declared = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
    guard declared <= UInt64(Checkpoint.maximumHeaderLength) else {
      throw invalid(
        "header length \(declared) is more than the limit of "
          + "\(Checkpoint.maximumHeaderLength) bytes")
    }
    let headerLength = Int(declared)
    guard headerLength <= bytes.count - 8 else {
      throw invalid(
        "header length \(headerLength) runs past the end of the file (\(bytes.count) bytes)")
    }
    dataStart = 8 + headerLength
    let json: JSONValue
    do {
      json = try JSONParser.parse([UInt8](bytes[8..<dataStart]))
    } catch let error as JSONError {
      throw invalid("corrupt JSON header at byte \(error.offset): \(error.message)")
    }
    guard case .object(let members) = json else {
      throw invalid("header is \(json.kind), expected a JSON object")
    }
    for (key, value) in members {
      if key == "__metadata__" {
        metadata = try parseMetadata(value)
      } else {
        entries.append(try parseEntry(name: key, value))
      }
    }
    try checkCoverage(dataLength: bytes.count - dataStart)
  }

  private func invalid(_ message: String) -> DataError {
    DataError.invalidContent(path: source, message: message)
  }

  private func parseMetadata(_ value: JSONValue) throws -> [String: String] {
    guard case .object(let members) = value else {
      throw invalid("__metadata__ is \(value.kind), expected an object of strings")
    }
    var result: [String: String] = [:]
    for (key, value) in members {
      guard case .string(let text) = value else {
        throw invalid("__metadata__ value of '\(key)' is \(value.kind), expected a string")
      }
      result[key] = text
    }
    return result
  }

  private func parseEntry(name: String, _ value: JSONValue) throws -> Entry {
    guard case .object(let members) = value else {
      throw invalid(
        "tensor '\(name)' is described by \(value.kind), expected an object with dtype, shape "
          + "and data_offsets")
    }
    var fields: [String: JSONValue] = [:]
    for (key, value) in members {
      guard ["dtype", "shape", "data_offsets"].contains(key) else {
        throw invalid("tensor '\(name)' has an unexpected key '\(key)'")
      }
      fields[key] = value
    }
    guard case .string(let dtype)? = fields["dtype"] else {
      throw invalid(
        "tensor '\(name)' needs a string dtype, found \(fields["dtype"]?.kind ?? "none")")
    }
    guard let elementSize = Checkpoint.elementSizes[dtype] else {
      throw invalid("tensor '\(name)' has unknown dtype '\(dtype)'")
    }
    let shape = try integers(fields["shape"], field: "shape", of: name)
    if let negative = shape.first(where: { $0 < 0 }) {
      throw invalid("tensor '\(name)' declares a negative dimension \(negative) in shape \(shape)")
    }
    let offsets = try integers(fields["data_offsets"], field: "data_offsets", of: name)
    guard offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1] else {
      throw invalid(
        "tensor '\(name)' has data_offsets \(offsets), expected [begin, end] with "
          + "0 ≤ begin ≤ end")
    }
    var count = 1
    var overflow = false
    for dimension in shape where !overflow {
      (count, overflow) = count.multipliedReportingOverflow(by: dimension)
    }
    let (byteCount, byteOverflow) = count.multipliedReportingOverflow(by: elementSize)
    let covered = offsets[1] - offsets[0]
    guard !overflow, !byteOverflow, byteCount == covered else {
      let size =
        overflow || byteOverflow ? "too many values" : "\(count) values, \(byteCount) bytes"
      throw invalid(
        "tensor '\(name)' declares shape \(shape) (\(size)) but data_offsets cover "
          + "\(covered) bytes")
    }
    return Entry(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
  }

  private func integers(_ value: JSONValue?, field: String, of name: String) throws -> [Int] {
    guard case .array(let elements)? = value else {
      throw invalid(
        "tensor '\(name)' needs \(field) as an array of integers, found \(value?.kind ?? "none")")
    }
    return try elements.map { element in
      guard case .integer(let integer) = element else {
        throw invalid("tensor '\(name)' has \(element.kind) in \(field), expected integers")
      }
      return integer
    }
  }

  /// Checks that the tensors' data ranges tile the data section exactly:
  /// in bounds, no overlap, no gap, nothing left over.
  private mutating func checkCoverage(dataLength: Int) throws {
    entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
    var position = 0
    var previous: Entry?
    for entry in entries {
      guard entry.end <= dataLength else {
        throw invalid(
          "tensor '\(entry.name)' has data_offsets [\(entry.begin), \(entry.end)] past the end "
            + "of the \(dataLength)-byte data section")
      }
      if entry.begin < position, let previous {
        throw invalid(
          "tensors '\(previous.name)' (bytes \(previous.begin)..<\(previous.end)) and "
            + "'\(entry.name)' (bytes \(entry.begin)..<\(entry.end)) overlap")
      }
      guard entry.begin == position else {
        throw invalid("bytes \(position)..<\(entry.begin) of the data section belong to no tensor")
      }
      position = entry.end
      previous = entry
    }
    guard position == dataLength else {
      throw invalid("bytes \(position)..<\(dataLength) of the data section belong to no tensor")
    }
  }
}
