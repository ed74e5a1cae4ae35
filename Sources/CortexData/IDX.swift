import CortexCore
import Foundation

/// The IDX format of the MNIST files: a big-endian magic number
/// `0x0000TTRR` (type code `TT`, `RR` dimensions), then `RR` big-endian
/// 32-bit sizes, then the values in row-major order. Cortex reads type
/// 0x08, unsigned bytes, the type of every MNIST file.
struct IDXArray {
  /// The declared size of each dimension.
  var dimensions: [Int]
  /// The values, row-major.
  var bytes: [UInt8]

  /// The magic number of an array of unsigned bytes with `rank` dimensions.
  static func magic(rank: Int) -> UInt32 { 0x0800 | UInt32(rank) }

  /// Parses an IDX array of unsigned bytes with `rank` dimensions from
  /// `data`, raw or gzip-compressed (recognized by its magic number).
  ///
  /// Nothing is allocated from a declared size before it is checked: the
  /// data size must fit in `maximumBytes` and in what the input can hold
  /// (its remaining length when raw, 1032 times its length when
  /// compressed), and must match the input exactly.
  static func decode(
    _ data: Data, rank: Int, source: String, maximumBytes: Int
  ) throws -> IDXArray {
    try data.withUnsafeBytes { buffer in
      let stream = try ByteStream(buffer, source: source)
      return try decode(stream, rank: rank, maximumBytes: maximumBytes)
    }
  }

  /// Reads an IDX array of unsigned bytes with `rank` dimensions from the
  /// file at `url`, raw or gzip-compressed.
  ///
  /// A raw file is read in place: its header is compared with the file's
  /// size before the data is read, so a file with a missing or surplus
  /// tail is refused without reading it, and the data is read once, into
  /// the array that is returned. A gzip file, whose size says little about
  /// its contents, is read 64 KiB at a time as it is inflated, as in
  /// ``decode(_:rank:source:maximumBytes:)``: only what the inflater
  /// reaches is read.
  static func load(_ url: URL, rank: Int, maximumBytes: Int) throws -> IDXArray {
    let file = try ReadableFile(url, maximumBytes: maximumBytes)
    var magic: [UInt8] = [0, 0]
    let count = try magic.withUnsafeMutableBytes { try file.read(at: 0, upTo: $0) }
    let stream = try ByteStream(file: file, compressed: count == 2 && magic == [0x1F, 0x8B])
    return try decode(stream, rank: rank, maximumBytes: maximumBytes)
  }

  private static func decode(_ stream: ByteStream, rank: Int, maximumBytes: Int) throws
    -> IDXArray
  {
    let source = stream.source
    let expected = magic(rank: rank)
    let header = try stream.read(count: 4)
    guard header.count == 4 else {
      throw DataError.invalidContent(
        path: source,
        message:
          "holds \(header.count) bytes, expected an IDX file starting with a 4-byte magic number")
    }
    let found = bigEndianWord(header, at: 0)
    guard found == expected else {
      throw DataError.invalidContent(
        path: source,
        message: "expected IDX magic \(describe(magic: expected)), found \(describe(magic: found))")
    }
    let sizes = try stream.read(count: 4 * rank)
    guard sizes.count == 4 * rank else {
      throw DataError.invalidContent(
        path: source,
        message: "header ends after \(4 + sizes.count) bytes, expected \(4 + 4 * rank) "
          + "(magic number and \(rank) dimension sizes)")
    }
    let dimensions = (0..<rank).map { Int(bigEndianWord(sizes, at: 4 * $0)) }
    let headerLength = 4 + 4 * rank
    var byteCount = 1
    for size in dimensions {
      let (product, overflow) = byteCount.multipliedReportingOverflow(by: size)
      guard !overflow, product <= maximumBytes else {
        throw DataError.invalidContent(
          path: source,
          message: "header declares dimensions \(dimensions), more than the limit of "
            + "\(maximumBytes) bytes")
      }
      byteCount = product
    }
    guard byteCount <= stream.remainingUpperBound else {
      let message =
        stream.isCompressed
        ? "header declares dimensions \(dimensions) (\(byteCount) bytes of data), more than "
          + "\(stream.inputCount) bytes of gzip data can hold"
        : "header declares dimensions \(dimensions) (\(byteCount) bytes of data) but only "
          + "\(stream.remainingUpperBound) bytes follow the \(headerLength)-byte header"
      throw DataError.invalidContent(path: source, message: message)
    }
    // Raw input's length is known: surplus bytes are refused before the
    // data is read.
    if !stream.isCompressed, stream.remainingUpperBound > byteCount {
      throw surplus(
        stream.remainingUpperBound - byteCount, isExact: true, byteCount: byteCount,
        dimensions: dimensions, source: source)
    }
    let bytes = try stream.read(count: byteCount)
    guard bytes.count == byteCount else {
      throw DataError.invalidContent(
        path: source,
        message: "header declares dimensions \(dimensions) (\(byteCount) bytes of data) but "
          + "the data ends after \(bytes.count) bytes")
    }
    let extra = try stream.skipToEnd(limit: 1 << 20)
    guard extra == 0 else {
      throw surplus(
        extra, isExact: extra <= 1 << 20, byteCount: byteCount, dimensions: dimensions,
        source: source)
    }
    return IDXArray(dimensions: dimensions, bytes: bytes)
  }

  /// The error for `extra` bytes after the data; a gzip stream is not
  /// inflated past 1 MiB of surplus to count it (`isExact` false).
  private static func surplus(
    _ extra: Int, isExact: Bool, byteCount: Int, dimensions: [Int], source: String
  ) -> DataError {
    let amount = isExact ? bytes(extra) : "more than \(1 << 20) bytes"
    return DataError.invalidContent(
      path: source,
      message: "holds \(amount) after the \(byteCount) bytes of data its header "
        + "declares (dimensions \(dimensions))")
  }

  /// `1 byte`, `60 bytes`.
  private static func bytes(_ count: Int) -> String { count == 1 ? "1 byte" : "\(count) bytes" }

  private static func bigEndianWord(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
  }

  /// `0x00000803 (unsigned bytes, 3 dimensions)`, or just the hex digits
  /// when the number is not an IDX magic number of unsigned bytes.
  private static func describe(magic: UInt32) -> String {
    let digits = String(magic, radix: 16, uppercase: true)
    let hex = "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    guard magic & 0xFFFF_FF00 == 0x0800 else { return hex }
    let rank = magic & 0xFF
    return "\(hex) (unsigned bytes, \(rank) dimension\(rank == 1 ? "" : "s"))"
  }
}

/// Bytes read in order, from memory or a file: what the array decoders
/// read their headers and data from.
protocol ByteReading: AnyObject {
  /// The name of the input in error messages.
  var source: String { get }
  /// The most bytes that can still follow.
  var remainingUpperBound: Int { get }
  /// The next `count` bytes, or fewer when the input ends first.
  func read(count: Int) throws -> [UInt8]
  /// Reads and discards the rest of the input; returns how many bytes
  /// there were, stopping once more than `limit` have been seen.
  func skipToEnd(limit: Int) throws -> Int
}

/// Bytes read in order from memory, raw or compressed.
final class ByteStream: ByteReading {
  /// How the bytes in memory are stored.
  enum Format {
    /// Gzip data when it starts with the gzip magic number, else raw.
    case detect
    /// Raw bytes, whatever they start with.
    case raw
    /// A bare deflate stream, as in a zip archive.
    case deflate
  }

  /// The name of the input in error messages.
  let source: String
  /// Whether the input is gzip data.
  let isCompressed: Bool
  /// The length of the input as given (compressed or not).
  let inputCount: Int
  private let raw: UnsafeRawBufferPointer
  /// The file raw input is read from, in place of `raw`.
  private let file: ReadableFile?
  private var offset = 0
  private let gzip: GzipReader?
  private var produced = 0

  /// A stream over `input`, inflated on the fly when it is gzip data
  /// (with `.detect`) or a deflate stream (with `.deflate`).
  init(_ input: UnsafeRawBufferPointer, source: String, format: Format = .detect) throws {
    self.source = source
    raw = input
    file = nil
    inputCount = input.count
    switch format {
    case .detect: isCompressed = Zlib.isGzip(input)
    case .raw: isCompressed = false
    case .deflate: isCompressed = true
    }
    gzip =
      isCompressed ? try GzipReader(input, source: source, rawDeflate: format == .deflate) : nil
  }

  /// A stream over the contents of `file`, read from the file as they
  /// are asked for, and inflated on the fly when `compressed`.
  init(file: ReadableFile, compressed: Bool) throws {
    source = file.path
    raw = UnsafeRawBufferPointer(start: nil, count: 0)
    self.file = compressed ? nil : file
    inputCount = file.size
    isCompressed = compressed
    gzip = compressed ? try GzipReader(file: file) : nil
  }

  /// The length of raw input.
  private var rawCount: Int { file?.size ?? raw.count }

  /// The most bytes that can still follow: exact for raw input, the
  /// deflate expansion limit for gzip input.
  var remainingUpperBound: Int {
    if isCompressed { return inputCount * Zlib.maximumExpansion - produced }
    return rawCount - offset
  }

  /// The next `count` bytes, or fewer when the input ends first.
  ///
  /// Raw input is read in one allocation of the bytes that are there. A
  /// gzip stream's upper bound is 1032 times its size, so its output is
  /// read in chunks that double, from 1 MiB: a small stream that declares
  /// a large size costs memory for what it actually inflates to, at most
  /// twice over.
  func read(count: Int) throws -> [UInt8] {
    let available = min(count, remainingUpperBound)
    guard isCompressed else { return try read(exactly: available) }
    var bytes: [UInt8] = []
    var chunk = 1 << 20
    while bytes.count < available {
      let requested = min(chunk, available - bytes.count)
      let part = try read(exactly: requested)
      bytes += part
      if part.count < requested { break }
      chunk *= 2
    }
    return bytes
  }

  /// Up to `count` bytes in one allocation of `count`.
  private func read(exactly count: Int) throws -> [UInt8] {
    var filled = 0
    let bytes = try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
      filled = try read(into: UnsafeMutableRawBufferPointer(buffer))
      initialized = filled
    }
    produced += filled
    return bytes
  }

  /// Reads and discards the rest of the input; returns how many bytes
  /// there were, stopping once more than `limit` have been seen.
  func skipToEnd(limit: Int) throws -> Int {
    guard let gzip else {
      let rest = rawCount - offset
      offset = rawCount
      return rest
    }
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 1)
    defer { scratch.deallocate() }
    var total = 0
    while total <= limit {
      let count = try gzip.read(into: scratch)
      total += count
      if count < scratch.count { break }
    }
    return total
  }

  private func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    if let gzip { return try gzip.read(into: buffer) }
    if let file {
      let count = try file.read(at: offset, upTo: buffer)
      offset += count
      return count
    }
    let count = min(buffer.count, raw.count - offset)
    if count > 0, let target = buffer.baseAddress, let base = raw.baseAddress {
      target.copyMemory(from: base + offset, byteCount: count)
    }
    offset += count
    return count
  }
}
