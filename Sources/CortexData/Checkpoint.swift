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
///
/// Every file Cortex writes carries its own integrity in two metadata
/// entries: ``tensorChecksumsKey``, the CRC-32 of each tensor's bytes, and
/// ``headerChecksumKey``, the CRC-32 of the header's content. Loading
/// verifies both and refuses a mismatch, naming the first tensor whose
/// bytes changed; a file without them, written by another program, loads
/// with ``Contents/note`` saying it could not be verified. Every loaded
/// tensor is also scanned for NaN and infinity, which are refused unless
/// the caller allows them.
public enum Checkpoint {
  /// The metadata key of the tensors' checksums: the CRC-32 (zlib's,
  /// the polynomial of gzip and PNG) of each tensor's bytes in the file,
  /// as 8 lowercase hexadecimal digits, separated by spaces, in the
  /// byte-wise order of the tensors' names.
  public static let tensorChecksumsKey = "cortex.crc32.tensors"
  /// The metadata key of the header's checksum: the CRC-32 of a canonical
  /// text of the header, one line `name dtype shape` per tensor in the
  /// byte-wise order of the names, then one line `key=value` per metadata
  /// entry other than this one, in the same order (fields separated by
  /// tabs, lines ended by a newline). It covers every name, dtype, shape
  /// and metadata value, the tensors' checksums included; the data
  /// offsets are checked against the file instead.
  public static let headerChecksumKey = "cortex.crc32.header"

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
    var metadata = metadata
    metadata[headerChecksumKey] = nil
    metadata[tensorChecksumsKey] = sorted.map { _, tensor in
      littleEndianBytes(of: tensor) { hexadecimal(Zlib.crc32($0)) }
    }.joined(separator: " ")
    metadata[headerChecksumKey] = hexadecimal(
      Zlib.crc32(
        canonicalHeader(
          tensors: sorted.map { ($0.key, Scalar.dtypeName, $0.value.shape) }, metadata: metadata)))
    var members: [(key: String, json: String)] = []
    let pairs = metadata.sorted { precedes($0.key, $1.key) }.map {
      "\(JSONValue.quoted($0.key)):\(JSONValue.quoted($0.value))"
    }
    members.append(("__metadata__", "{" + pairs.joined(separator: ",") + "}"))
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
      littleEndianBytes(of: tensor) { data.append(contentsOf: $0) }
    }
    return data
  }

  /// Calls `body` with the bytes of `tensor` as a file holds them:
  /// little-endian.
  private static func littleEndianBytes<Scalar: TensorScalar, Result>(
    of tensor: Tensor<Scalar>, _ body: (UnsafeRawBufferPointer) -> Result
  ) -> Result {
    #if _endian(big)
      var bytes = tensor.withUnsafeBufferPointer { [UInt8](UnsafeRawBufferPointer($0)) }
      bytes.withUnsafeMutableBytes {
        swapToLittleEndian($0, elementSize: MemoryLayout<Scalar>.size)
      }
      return bytes.withUnsafeBytes(body)
    #else
      return tensor.withUnsafeBufferPointer { body(UnsafeRawBufferPointer($0)) }
    #endif
  }

  /// `0000002a`.
  static func hexadecimal(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
  }

  /// The text ``headerChecksumKey`` is the CRC-32 of.
  static func canonicalHeader(
    tensors: [(name: String, dtype: String, shape: [Int])], metadata: [String: String]
  ) -> [UInt8] {
    var text = ""
    for tensor in tensors.sorted(by: { precedes($0.name, $1.name) }) {
      text += "\(tensor.name)\t\(tensor.dtype)\t"
      text += tensor.shape.map(String.init).joined(separator: ",") + "\n"
    }
    for (key, value) in metadata.sorted(by: { precedes($0.key, $1.key) })
    where key != headerChecksumKey {
      text += "\(key)=\(value)\n"
    }
    return Array(text.utf8)
  }

  // MARK: Loading

  /// A checkpoint as loaded: its tensors, its metadata, and whether its
  /// checksums were there to verify it.
  public struct Contents<Scalar: TensorScalar> {
    /// The tensors by name.
    public var tensors: [String: Tensor<Scalar>]
    /// The `__metadata__` pairs, without the checksum entries.
    public var metadata: [String: String]
    /// Whether the file carried checksums, which then all matched.
    public var isVerified: Bool
    /// The header's checksum (``headerChecksumKey``), which covers every
    /// tensor's checksum and so digests the whole content; `nil` for a
    /// file without checksums.
    public var checksum: String?
    /// One line for a file without checksums, such as one written by
    /// another program, saying that its contents could not be verified;
    /// `nil` for a verified file.
    public var note: String?
  }

  /// Loads a checkpoint of `F32` tensors.
  ///
  /// - Throws: ``DataError`` when the file is missing, unreadable,
  ///   corrupt (a checksum does not match), holds a NaN or an infinity, or
  ///   holds tensors of another dtype.
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
  ///   - allowingNonFinite: accept NaN and infinities; by default a
  ///     tensor holding one is an error that names it.
  /// - Throws: ``DataError`` when the file is missing, unreadable or
  ///   corrupt, or holds a tensor that cannot be loaded as `Scalar`.
  public static func load<Scalar: TensorScalar>(
    _ type: Scalar.Type, from url: URL, convertingPrecision: Bool = false,
    allowingNonFinite: Bool = false
  ) throws -> [String: Tensor<Scalar>] {
    try read(
      type, from: url, convertingPrecision: convertingPrecision,
      allowingNonFinite: allowingNonFinite
    ).tensors
  }

  /// Loads a checkpoint's tensors and metadata, verifying its checksums
  /// when it has them.
  ///
  /// The header is read first and every tensor's offsets are compared with
  /// the file's size; only then is the data read, each tensor straight
  /// into its own storage, so loading never holds the file twice and a
  /// file whose header does not match its size costs no more than its
  /// header.
  ///
  /// - Parameters:
  ///   - type: `Float` or `Double`.
  ///   - url: the file to read.
  ///   - convertingPrecision: also accept tensors of the other precision.
  ///   - allowingNonFinite: accept NaN and infinities.
  /// - Throws: ``DataError`` when the file is missing, unreadable or
  ///   corrupt, a checksum does not match (naming the first tensor whose
  ///   bytes differ), or a tensor holds a NaN or an infinity.
  public static func read<Scalar: TensorScalar>(
    _ type: Scalar.Type, from url: URL, convertingPrecision: Bool = false,
    allowingNonFinite: Bool = false
  ) throws -> Contents<Scalar> {
    let file = try ReadableFile(url, maximumBytes: maximumBytes)
    let layout = try SafetensorsLayout(size: file.size, source: file.path) {
      try file.read(at: $0, into: $1)
    }
    return try contents(
      of: layout, as: type, convertingPrecision: convertingPrecision,
      allowingNonFinite: allowingNonFinite
    ) { try file.read(at: $0, into: $1) }
  }

  /// The `__metadata__` pairs of the checkpoint at `url`, without the
  /// checksum entries, after checking its header: every tensor's offsets
  /// against the file's size, and the header's checksum when it has one.
  /// The tensors' data is not read.
  public static func loadMetadata(from url: URL) throws -> [String: String] {
    let file = try ReadableFile(url, maximumBytes: maximumBytes)
    return try SafetensorsLayout(size: file.size, source: file.path) {
      try file.read(at: $0, into: $1)
    }.metadata
  }

  /// Decodes a checkpoint held in memory; see ``read(_:from:convertingPrecision:allowingNonFinite:)``.
  ///
  /// - Parameters:
  ///   - data: the file's bytes.
  ///   - type: `Float` or `Double`.
  ///   - convertingPrecision: also accept the other precision, converting it.
  ///   - allowingNonFinite: accept NaN and infinities.
  ///   - source: the name used in error messages.
  public static func decode<Scalar: TensorScalar>(
    _ data: Data, as type: Scalar.Type = Float.self, convertingPrecision: Bool = false,
    allowingNonFinite: Bool = false, source: String = "<memory>"
  ) throws -> [String: Tensor<Scalar>] {
    try decodeContents(
      data, as: type, convertingPrecision: convertingPrecision,
      allowingNonFinite: allowingNonFinite, source: source
    ).tensors
  }

  /// Decodes a checkpoint held in memory, with its metadata and whether
  /// it was verified; see ``read(_:from:convertingPrecision:allowingNonFinite:)``.
  ///
  /// - Parameters:
  ///   - data: the file's bytes.
  ///   - type: `Float` or `Double`.
  ///   - convertingPrecision: also accept the other precision, converting it.
  ///   - allowingNonFinite: accept NaN and infinities.
  ///   - source: the name used in error messages.
  public static func decodeContents<Scalar: TensorScalar>(
    _ data: Data, as type: Scalar.Type = Float.self, convertingPrecision: Bool = false,
    allowingNonFinite: Bool = false, source: String = "<memory>"
  ) throws -> Contents<Scalar> {
    try data.withUnsafeBytes { bytes in
      let copy = { (offset: Int, target: UnsafeMutableRawBufferPointer) in
        target.copyMemory(
          from: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + target.count]))
      }
      let layout = try SafetensorsLayout(size: bytes.count, source: source, read: copy)
      return try contents(
        of: layout, as: type, convertingPrecision: convertingPrecision,
        allowingNonFinite: allowingNonFinite, read: copy)
    }
  }

  /// The `__metadata__` pairs of a checkpoint held in memory, without the
  /// checksum entries, after checking the whole layout.
  ///
  /// - Parameters:
  ///   - data: the file's bytes.
  ///   - source: the name used in error messages.
  public static func decodeMetadata(_ data: Data, source: String = "<memory>") throws
    -> [String: String]
  {
    try data.withUnsafeBytes { bytes in
      try SafetensorsLayout(size: bytes.count, source: source) { offset, target in
        target.copyMemory(
          from: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + target.count]))
      }.metadata
    }
  }

  /// Reads every tensor of `layout` with `read(offset, buffer)`, checking
  /// its checksum and, unless allowed, that its values are finite.
  private static func contents<Scalar: TensorScalar>(
    of layout: SafetensorsLayout, as type: Scalar.Type, convertingPrecision: Bool,
    allowingNonFinite: Bool, read: (Int, UnsafeMutableRawBufferPointer) throws -> Void
  ) throws -> Contents<Scalar> {
    let source = layout.source
    var tensors: [String: Tensor<Scalar>] = [:]
    for entry in layout.entries {
      let start = layout.dataStart + entry.begin
      var checksum: UInt32 = 0
      var tensor: Tensor<Scalar>
      if entry.dtype == Scalar.dtypeName {
        tensor = Tensor<Scalar>.uninitialized(entry.shape)
        try tensor.withUnsafeMutableBufferPointer { target in
          let bytes = UnsafeMutableRawBufferPointer(target)
          try read(start, bytes)
          checksum = Zlib.crc32(UnsafeRawBufferPointer(bytes))
          swapToLittleEndian(bytes, elementSize: MemoryLayout<Scalar>.size)
        }
      } else {
        try checkConvertible(entry, to: type, convertingPrecision: convertingPrecision, source)
        var bytes = [UInt8](repeating: 0, count: entry.byteCount)
        try bytes.withUnsafeMutableBytes { try read(start, $0) }
        checksum = bytes.withUnsafeBytes { Zlib.crc32($0) }
        tensor = bytes.withUnsafeBytes { converted(entry, from: $0, as: type) }
      }
      if let recorded = layout.checksums?[entry.name], recorded != checksum {
        throw DataError.invalidContent(
          path: source,
          message: "tensor '\(entry.name)' does not match its checksum (CRC-32 "
            + "\(hexadecimal(checksum)), recorded \(hexadecimal(recorded))): the file is corrupt")
      }
      if !allowingNonFinite { try checkFinite(tensor, named: entry.name, source: source) }
      tensors[entry.name] = tensor
    }
    let verified = layout.checksums != nil
    return Contents(
      tensors: tensors, metadata: layout.metadata, isVerified: verified,
      checksum: layout.headerChecksum,
      note: verified
        ? nil
        : "note: \(source) carries no checksums (written by another program?); "
          + "its contents cannot be verified")
  }

  /// Throws unless every value of `tensor` is finite, naming the tensor,
  /// the first value that is not and how many are not.
  static func checkFinite<Scalar: TensorScalar>(
    _ tensor: Tensor<Scalar>, named name: String, source: String
  ) throws {
    let problem = tensor.withUnsafeBufferPointer { values -> (Int, Scalar, Int)? in
      guard let first = values.firstIndex(where: { !$0.isFinite }) else { return nil }
      let count = values[first...].reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
      return (first, values[first], count)
    }
    guard let (index, value, count) = problem else { return }
    let kind = value.isNaN ? "NaN" : value > 0 ? "inf" : "-inf"
    throw DataError.invalidContent(
      path: source,
      message: "tensor '\(name)' holds \(kind) at index \(index) (\(count) of "
        + "\(tensor.scalarCount) \(tensor.scalarCount == 1 ? "value" : "values") not finite): "
        + "the checkpoint is not usable")
  }

  /// Throws unless a tensor of `entry`'s dtype can be loaded as `Scalar`.
  private static func checkConvertible<Scalar: TensorScalar>(
    _ entry: SafetensorsLayout.Entry, to type: Scalar.Type, convertingPrecision: Bool,
    _ source: String
  ) throws {
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
  }

  /// The values of an `F32` or `F64` tensor's little-endian bytes as `Scalar`.
  private static func converted<Scalar: TensorScalar>(
    _ entry: SafetensorsLayout.Entry, from region: UnsafeRawBufferPointer, as type: Scalar.Type
  ) -> Tensor<Scalar> {
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
  /// The `__metadata__` pairs, without the checksum entries.
  var metadata: [String: String] = [:]
  /// Where the data section starts in the file.
  var dataStart = 0
  /// The CRC-32 of each tensor's bytes, by name, when the file records
  /// them.
  var checksums: [String: UInt32]?
  /// The header's recorded checksum, when the file has one.
  var headerChecksum: String?

  /// The name used in error messages.
  let source: String

  /// Reads and checks the header of a safetensors file of `size` bytes,
  /// with `read(offset, buffer)` filling `buffer` from the file: the
  /// header length against the limit and the file, every tensor's offsets
  /// against the size of the data section, and the header's checksum
  /// when it has one. Only the header is read.
  init(
    size: Int, source: String, read: (Int, UnsafeMutableRawBufferPointer) throws -> Void
  ) throws {
    self.source = source
    guard size >= 8 else {
      throw invalid("file is \(size) bytes, shorter than the 8-byte header length")
    }
    var prefix: UInt64 = 0
    try withUnsafeMutableBytes(of: &prefix) { try read(0, $0) }
    let declared = UInt64(littleEndian: prefix)
    guard declared <= UInt64(Checkpoint.maximumHeaderLength) else {
      throw invalid(
        "header length \(declared) is more than the limit of "
          + "\(Checkpoint.maximumHeaderLength) bytes")
    }
    let headerLength = Int(declared)
    guard headerLength <= size - 8 else {
      throw invalid(
        "header length \(headerLength) runs past the end of the file (\(size) bytes)")
    }
    dataStart = 8 + headerLength
    var header = [UInt8](repeating: 0, count: headerLength)
    try header.withUnsafeMutableBytes { try read(8, $0) }
    let json: JSONValue
    do {
      json = try JSONParser.parse(header)
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
    try checkCoverage(dataLength: size - dataStart)
    try verifyHeader()
  }

  /// Checks the header's checksum, reads the tensors' checksums, and
  /// takes both out of the metadata. A file with neither is unverified; a
  /// file with one but not the other, or with checksums that do not
  /// match, is refused.
  private mutating func verifyHeader() throws {
    let headerText = metadata[Checkpoint.headerChecksumKey]
    let tensorsText = metadata[Checkpoint.tensorChecksumsKey]
    guard headerText != nil || tensorsText != nil else { return }
    guard let headerText, let recorded = UInt32(headerText, radix: 16), headerText.count == 8
    else {
      throw invalid(
        "the metadata's '\(Checkpoint.headerChecksumKey)' is "
          + (headerText.map { "'\($0)'" } ?? "missing")
          + ", expected 8 hexadecimal digits: the header is corrupt")
    }
    let actual = Zlib.crc32(
      Checkpoint.canonicalHeader(
        tensors: entries.map { ($0.name, $0.dtype, $0.shape) }, metadata: metadata))
    guard actual == recorded else {
      throw invalid(
        "the header does not match its checksum (CRC-32 \(Checkpoint.hexadecimal(actual)), "
          + "recorded \(headerText)): a name, shape, dtype or metadata value is corrupt")
    }
    let names = entries.map(\.name).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    let values = (tensorsText ?? "").split(separator: " ").map { word in
      word.count == 8 ? UInt32(word, radix: 16) : nil
    }
    guard tensorsText != nil, values.count == names.count, !values.contains(nil) else {
      throw invalid(
        "the metadata's '\(Checkpoint.tensorChecksumsKey)' holds "
          + (tensorsText == nil ? "nothing" : "\(values.count) words")
          + ", expected \(names.count) checksums of 8 hexadecimal digits")
    }
    checksums = Dictionary(uniqueKeysWithValues: zip(names, values.map { $0! }))
    headerChecksum = headerText
    metadata[Checkpoint.headerChecksumKey] = nil
    metadata[Checkpoint.tensorChecksumsKey] = nil
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
