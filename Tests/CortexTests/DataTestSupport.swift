import CZlib
import Foundation

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Helpers shared by the Data tests: zlib used independently of the code
/// under test, scratch directories, and error capture.
enum DataTestSupport {
  /// `bytes` compressed in the gzip format.
  static func gzip(_ bytes: [UInt8]) -> [UInt8] {
    var stream = z_stream()
    let start = deflateInit2_(
      &stream, Z_BEST_COMPRESSION, Z_DEFLATED, MAX_WBITS + 16, 8, Z_DEFAULT_STRATEGY,
      zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    precondition(start == Z_OK)
    defer { deflateEnd(&stream) }
    var input = bytes
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 32)
    let status = input.withUnsafeMutableBufferPointer { input in
      output.withUnsafeMutableBufferPointer { output in
        stream.next_in = input.baseAddress
        stream.avail_in = uInt(input.count)
        stream.next_out = output.baseAddress
        stream.avail_out = uInt(output.count)
        return deflate(&stream, Z_FINISH)
      }
    }
    precondition(status == Z_STREAM_END)
    return Array(output[..<Int(stream.total_out)])
  }

  /// The zlib-format `bytes` decompressed, or nil when they are not valid.
  static func inflate(zlib bytes: [UInt8], expectedCount: Int) -> [UInt8]? {
    var output = [UInt8](repeating: 0, count: expectedCount + 1)
    var length = uLong(output.count)
    let status = uncompress(&output, &length, bytes, uLong(bytes.count))
    guard status == Z_OK else { return nil }
    return Array(output[..<Int(length)])
  }

  /// zlib's CRC-32 of `bytes`.
  static func crc32(_ bytes: [UInt8]) -> UInt32 {
    UInt32(CZlib.crc32(0, bytes, uInt(bytes.count)))
  }

  /// A new empty directory under the system's temporary directory.
  static func scratchDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory
      .appendingPathComponent("cortex-data-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// The description of the `DataError` that `body` throws; nil when it
  /// returns or throws another type.
  static func dataError(_ body: () throws -> Void) -> String? {
    do {
      try body()
      return nil
    } catch let error as DataError {
      return error.description
    } catch {
      return "unexpected error type: \(error)"
    }
  }

  /// An IDX file: magic number, big-endian sizes, payload.
  static func idx(magic: UInt32, sizes: [UInt32], payload: [UInt8]) -> [UInt8] {
    bigEndian(magic) + sizes.flatMap(bigEndian) + payload
  }

  /// The 4 big-endian bytes of `value`.
  static func bigEndian(_ value: UInt32) -> [UInt8] {
    [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) }
  }
}
