import CZlib
import CortexCore
import Foundation

/// The zlib services the data formats use: gzip decompression, zlib
/// compression (PNG image data) and CRC-32 (PNG chunks).
enum Zlib {
  /// Deflate can shrink data at most 1032 to 1, so no stream of `n`
  /// compressed bytes inflates to more than `n * 1032` bytes.
  static let maximumExpansion = 1032

  /// Whether `bytes` begins with the gzip magic number 1F 8B.
  static func isGzip(_ bytes: UnsafeRawBufferPointer) -> Bool {
    bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
  }

  /// `bytes` compressed into the zlib format (RFC 1950).
  static func compress(_ bytes: [UInt8], level: Int32 = 9) -> [UInt8] {
    let bound = Int(compressBound(uLong(bytes.count)))
    var output = [UInt8](repeating: 0, count: bound)
    var length = uLong(bound)
    let status = output.withUnsafeMutableBufferPointer { out in
      bytes.withUnsafeBufferPointer { input in
        compress2(out.baseAddress, &length, input.baseAddress, uLong(input.count), level)
      }
    }
    precondition(status == Z_OK, "zlib compress2 failed with status \(status)")
    output.removeSubrange(Int(length)...)
    return output
  }

  /// `bytes` compressed into a bare deflate stream (RFC 1951), the form
  /// a zip archive stores.
  static func deflate(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
    var stream = z_stream()
    var status = deflateInit2_(
      &stream, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
      Int32(MemoryLayout<z_stream>.size))
    precondition(status == Z_OK, "zlib deflateInit2 failed with status \(status)")
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 64)
    var produced = 0
    bytes.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { out in
        var consumed = 0
        repeat {
          let chunk = min(input.count - consumed, Int(UInt32.max))
          stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress.map { $0 + consumed })
          stream.avail_in = uInt(chunk)
          consumed += chunk
          let flush = consumed == input.count ? Z_FINISH : Z_NO_FLUSH
          repeat {
            let space = min(out.count - produced, Int(UInt32.max))
            stream.next_out = out.baseAddress.map { $0 + produced }
            stream.avail_out = uInt(space)
            status = CZlib.deflate(&stream, flush)
            produced += space - Int(stream.avail_out)
          } while stream.avail_in > 0 || (flush == Z_FINISH && status == Z_OK)
        } while consumed < input.count
      }
    }
    precondition(status == Z_STREAM_END, "zlib deflate failed with status \(status)")
    output.removeSubrange(produced...)
    return output
  }

  /// The CRC-32 of `bytes`, continuing from `crc` (0 to start).
  static func crc32(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
    bytes.withUnsafeBytes { crc32($0, continuing: crc) }
  }

  /// The CRC-32 of `bytes`, continuing from `crc` (0 to start).
  static func crc32(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
    var result = uLong(crc)
    var offset = 0
    while let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
      offset < bytes.count
    {
      let count = min(bytes.count - offset, Int(UInt32.max))
      result = CZlib.crc32(result, base + offset, uInt(count))
      offset += count
    }
    return UInt32(truncatingIfNeeded: result)
  }
}

/// Incremental decompression of gzip data held in memory or read from a
/// file.
///
/// Decompressed bytes are produced on demand, so a reader can check a
/// file's header before it decides how much memory to allocate. Members of
/// a multi-member gzip file are read one after the other. An input buffer
/// must stay valid for the reader's lifetime; a file is read 64 KiB at a
/// time, as the inflater needs it.
final class GzipReader {
  private let stream: UnsafeMutablePointer<z_stream>
  private let input: UnsafeRawBufferPointer
  /// The file the input is read from, in place of `input`, and the
  /// buffer it is read into.
  private let file: ReadableFile?
  private let chunk: UnsafeMutableRawBufferPointer?
  /// The length of the whole input.
  private let inputCount: Int
  private let source: String
  private let isRawDeflate: Bool
  private var consumed = 0
  private var finished = false

  /// A reader of the gzip data in `input`, or with `rawDeflate` of a bare
  /// deflate stream (RFC 1951, as a zip archive holds it); `source` names
  /// it in errors.
  convenience init(_ input: UnsafeRawBufferPointer, source: String, rawDeflate: Bool = false)
    throws
  {
    try self.init(input: input, file: nil, source: source, rawDeflate: rawDeflate)
  }

  /// A reader of the gzip data in `file`.
  convenience init(file: ReadableFile) throws {
    try self.init(
      input: UnsafeRawBufferPointer(start: nil, count: 0), file: file, source: file.path,
      rawDeflate: false)
  }

  private init(
    input: UnsafeRawBufferPointer, file: ReadableFile?, source: String, rawDeflate: Bool
  ) throws {
    self.input = input
    self.file = file
    inputCount = file?.size ?? input.count
    chunk = file.map { _ in .allocate(byteCount: 1 << 16, alignment: 1) }
    self.source = source
    isRawDeflate = rawDeflate
    stream = .allocate(capacity: 1)
    stream.initialize(to: z_stream())
    let status = inflateInit2_(
      stream, rawDeflate ? -MAX_WBITS : MAX_WBITS + 16, zlibVersion(),
      Int32(MemoryLayout<z_stream>.size))
    guard status == Z_OK else {
      stream.deinitialize(count: 1)
      stream.deallocate()
      chunk?.deallocate()
      throw DataError.ioFailure(path: source, message: "zlib cannot start (status \(status))")
    }
  }

  deinit {
    inflateEnd(stream)
    stream.deinitialize(count: 1)
    stream.deallocate()
    chunk?.deallocate()
  }

  /// Points the inflater at the next piece of input.
  private func supplyInput() throws {
    if let file, let chunk, let base = chunk.baseAddress {
      let wanted = min(chunk.count, inputCount - consumed)
      let count = try file.read(
        at: consumed, upTo: UnsafeMutableRawBufferPointer(start: base, count: wanted))
      guard count > 0 else {
        throw DataError.ioFailure(
          path: source, message: "the file ends at byte \(consumed), before byte \(inputCount)")
      }
      stream.pointee.next_in = base.assumingMemoryBound(to: Bytef.self)
      stream.pointee.avail_in = uInt(count)
      consumed += count
      return
    }
    guard let start = input.baseAddress else { return }
    let count = min(input.count - consumed, Int(UInt32.max))
    stream.pointee.next_in = UnsafeMutablePointer(
      mutating: (start + consumed).assumingMemoryBound(to: Bytef.self))
    stream.pointee.avail_in = uInt(count)
    consumed += count
  }

  /// Fills `buffer` with decompressed bytes and returns how many it wrote:
  /// fewer than `buffer.count` only when the data has ended.
  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    guard let output = buffer.baseAddress, inputCount > 0 else { return 0 }
    var filled = 0
    while filled < buffer.count && !finished {
      if stream.pointee.avail_in == 0 && consumed < inputCount { try supplyInput() }
      let space = min(buffer.count - filled, Int(UInt32.max))
      stream.pointee.next_out = (output + filled).assumingMemoryBound(to: Bytef.self)
      stream.pointee.avail_out = uInt(space)
      let status = inflate(stream, Z_NO_FLUSH)
      filled += space - Int(stream.pointee.avail_out)
      switch status {
      case Z_OK:
        continue
      case Z_STREAM_END:
        if !isRawDeflate && (stream.pointee.avail_in > 0 || consumed < inputCount) {
          inflateReset(stream)
        } else {
          finished = true
        }
      case Z_BUF_ERROR:
        throw DataError.invalidContent(
          path: source, message: "\(isRawDeflate ? "deflate" : "gzip") data is truncated")
      default:
        let reason = stream.pointee.msg.map { String(cString: $0) } ?? "status \(status)"
        throw DataError.invalidContent(
          path: source, message: "corrupt \(isRawDeflate ? "deflate" : "gzip") data: \(reason)")
      }
    }
    return filled
  }
}
