import CortexCore
import Foundation

/// NumPy's `.npz` archives: named ``NumPyArray``s in a zip file, stored
/// (`numpy.savez`) or deflated (`numpy.savez_compressed`).
///
/// ```swift
/// try NumPyArchive.write(
///   ["images": NumPyArray(images), "labels": NumPyArray(labels)],
///   to: URL(fileURLWithPath: "set.npz"), compressed: true)
/// let arrays = try NumPyArchive.read(from: URL(fileURLWithPath: "set.npz"))
/// let images: Tensor<Float> = arrays["images"]!.tensor()
/// ```
///
/// Each member `NAME.npy` of the zip file is the array named `NAME`, as
/// `numpy.load` names it. Every member's checksum (CRC-32) is checked.
public enum NumPyArchive {
  /// Reads every array of a `.npz` file, by name.
  ///
  /// - Throws: ``DataError`` for a missing file, one that is not a zip
  ///   archive, a member that is encrypted, compressed other than by
  ///   deflate, not named `*.npy`, fails its checksum, or is not an array
  ///   Cortex reads (see ``NumPyArray``).
  public static func read(from url: URL) throws -> [String: NumPyArray] {
    let data = try DataFile.contents(of: url, maximumBytes: NumPyArray.maximumBytes)
    return try decode(data, source: url.path)
  }

  /// Parses the bytes of a `.npz` file.
  ///
  /// - Parameter source: the name used in error messages.
  public static func decode(_ data: Data, source: String = "<memory>") throws -> [String:
    NumPyArray]
  {
    try data.withUnsafeBytes { buffer in
      try ZipReader(buffer, source: source).arrays()
    }
  }

  /// Writes `arrays` to `url` as a `.npz` file, atomically, each as the
  /// member `NAME.npy`, in the order of their names.
  ///
  /// - Parameter compressed: deflates every member, as
  ///   `numpy.savez_compressed` does; by default they are stored, as
  ///   `numpy.savez` does.
  /// - Throws: ``DataError/invalidArgument(path:message:)`` for an empty
  ///   name or an archive past the 4 GiB of a zip file without its 64-bit
  ///   extension.
  public static func write(
    _ arrays: [String: NumPyArray], to url: URL, compressed: Bool = false
  ) throws {
    try DataFile.writeAtomically(encoded(arrays, compressed: compressed, source: url.path), to: url)
  }

  /// The bytes of the `.npz` file holding `arrays`.
  public static func encoded(
    _ arrays: [String: NumPyArray], compressed: Bool = false, source: String = "<memory>"
  ) throws -> Data {
    var archive = Data()
    var directory = Data()
    let limit = Int(UInt32.max - 1)
    for name in arrays.keys.sorted() {
      guard !name.isEmpty else {
        throw DataError.invalidArgument(path: source, message: "an array name is empty")
      }
      let member = [UInt8]((name + ".npy").utf8)
      let contents = [UInt8](arrays[name]!.encoded())
      let stored = compressed ? Zlib.deflate(contents) : contents
      let offset = archive.count
      guard contents.count <= limit, archive.count + stored.count + 128 <= limit,
        member.count <= 0xFFFF
      else {
        throw DataError.invalidArgument(
          path: source,
          message: "array '\(name)' makes the archive larger than the 4 GiB of a zip file")
      }
      let crc = Zlib.crc32(contents)
      let method: UInt16 = compressed ? 8 : 0
      /// What the local and the central header share: version 2.0 needed,
      /// UTF-8 names, method, the time and date of 1980-01-01 00:00,
      /// checksum, sizes, the name's length and no extra field.
      func entry(_ writer: inout ZipWriter) {
        writer.half(20)
        writer.half(0x0800)
        writer.half(method)
        writer.half(0)
        writer.half(0x21)
        writer.word(crc)
        writer.word(UInt32(stored.count))
        writer.word(UInt32(contents.count))
        writer.half(UInt16(member.count))
        writer.half(0)
      }
      // Local header: signature, the shared fields, name.
      var local = ZipWriter()
      local.word(0x0403_4B50)
      entry(&local)
      archive.append(contentsOf: local.bytes + member)
      archive.append(contentsOf: stored)

      // Central header: signature, version 2.0 made by, the shared
      // fields, then no comment, disk 0, no attributes, the offset.
      var central = ZipWriter()
      central.word(0x0201_4B50)
      central.half(20)
      entry(&central)
      central.half(0)  // comment
      central.half(0)  // disk
      central.half(0)  // internal attributes
      central.word(0)  // external attributes
      central.word(UInt32(offset))
      directory.append(contentsOf: central.bytes + member)
    }
    guard arrays.count < 0xFFFF, archive.count + directory.count <= limit else {
      throw DataError.invalidArgument(
        path: source, message: "\(arrays.count) arrays make too large an archive for a zip file")
    }
    var end = ZipWriter()
    end.word(0x0605_4B50)
    end.half(0)
    end.half(0)
    end.half(UInt16(arrays.count))
    end.half(UInt16(arrays.count))
    end.word(UInt32(directory.count))
    end.word(UInt32(archive.count))
    end.half(0)
    archive.append(directory)
    archive.append(contentsOf: end.bytes)
    return archive
  }
}

/// Little-endian fields of a zip header.
private struct ZipWriter {
  var bytes: [UInt8] = []
  mutating func half(_ value: UInt16) { bytes += [UInt8(value & 0xFF), UInt8(value >> 8)] }
  mutating func word(_ value: UInt32) {
    (0..<4).forEach { bytes.append(UInt8((value >> (8 * $0)) & 0xFF)) }
  }
}

/// The members of a zip archive in memory, found through its central
/// directory.
private struct ZipReader {
  let buffer: UnsafeRawBufferPointer
  let source: String

  init(_ buffer: UnsafeRawBufferPointer, source: String) {
    self.buffer = buffer
    self.source = source
  }

  func invalid(_ message: String) -> DataError {
    DataError.invalidContent(path: source, message: message)
  }

  func half(_ offset: Int) -> Int {
    Int(buffer[offset]) | Int(buffer[offset + 1]) << 8
  }

  func word(_ offset: Int) -> Int {
    half(offset) | half(offset + 2) << 16
  }

  func long(_ offset: Int) -> Int {
    let value = UInt64(word(offset)) | UInt64(word(offset + 4)) << 32
    return value > UInt64(Int.max) ? Int.max : Int(value)
  }

  /// Whether `count` bytes from `offset` lie inside the archive.
  func holds(_ offset: Int, _ count: Int) -> Bool {
    offset >= 0 && count >= 0 && offset <= buffer.count && count <= buffer.count - offset
  }

  func arrays() throws -> [String: NumPyArray] {
    // The end record is in the last 22 + 65,535 bytes (its comment).
    var end = buffer.count - 22
    while end >= 0, end >= buffer.count - 22 - 0xFFFF, word(end) != 0x0605_4B50 { end -= 1 }
    guard end >= 0, end >= buffer.count - 22 - 0xFFFF else {
      let start = (0..<min(4, buffer.count)).map { String(format: "%02X", buffer[$0]) }
      throw invalid(
        "expected a .npz (zip) archive, found no zip end record"
          + (start.isEmpty
            ? " in an empty file" : " (the file starts \(start.joined(separator: " ")))"))
    }
    var count = half(end + 10)
    var directorySize = word(end + 12)
    var directoryStart = word(end + 16)
    if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryStart == 0xFFFF_FFFF {
      // The zip64 end record, found through its locator just before.
      let locator = end - 20
      guard holds(locator, 20), word(locator) == 0x0706_4B50 else {
        throw invalid("the zip end record points to a zip64 record that is not there")
      }
      let record = long(locator + 8)
      guard holds(record, 56), word(record) == 0x0606_4B50 else {
        throw invalid("the zip64 end record is missing or damaged")
      }
      count = long(record + 32)
      directorySize = long(record + 40)
      directoryStart = long(record + 48)
    }
    guard holds(directoryStart, directorySize), count <= directorySize / 46 else {
      throw invalid(
        "the zip directory of \(count) entries (\(directorySize) bytes at offset "
          + "\(directoryStart)) does not fit in the \(buffer.count)-byte file")
    }
    var arrays: [String: NumPyArray] = [:]
    var entry = directoryStart
    for _ in 0..<count {
      guard holds(entry, 46), word(entry) == 0x0201_4B50 else {
        throw invalid("the zip directory is damaged at offset \(entry)")
      }
      let (flags, method, crc) = (half(entry + 8), half(entry + 10), UInt32(word(entry + 16)))
      var (compressedSize, size) = (word(entry + 20), word(entry + 24))
      let (nameLength, extraLength, commentLength) = (
        half(entry + 28), half(entry + 30), half(entry + 32)
      )
      var localHeader = word(entry + 42)
      guard holds(entry + 46, nameLength + extraLength + commentLength) else {
        throw invalid("the zip directory is damaged at offset \(entry)")
      }
      let name = String(
        decoding: UnsafeRawBufferPointer(rebasing: buffer[entry + 46..<entry + 46 + nameLength]),
        as: UTF8.self)
      // 64-bit sizes and offset, in that order, for the fields set to 0xFFFFFFFF.
      var extra = entry + 46 + nameLength
      let extraEnd = extra + extraLength
      while extra + 4 <= extraEnd {
        let (id, length) = (half(extra), half(extra + 2))
        if id == 1 {
          var field = extra + 4
          let fieldEnd = min(extra + 4 + length, extraEnd)
          func next() -> Int? {
            guard field + 8 <= fieldEnd else { return nil }
            defer { field += 8 }
            return long(field)
          }
          if size == 0xFFFF_FFFF, let value = next() { size = value }
          if compressedSize == 0xFFFF_FFFF, let value = next() { compressedSize = value }
          if localHeader == 0xFFFF_FFFF, let value = next() { localHeader = value }
        }
        extra += 4 + length
      }
      entry += 46 + nameLength + extraLength + commentLength

      let memberSource = "\(source)[\(name)]"
      guard name.hasSuffix(".npy"), name.count > 4 else {
        throw invalid("holds the member '\(name)', expected only NAME.npy arrays")
      }
      guard flags & 1 == 0 else {
        throw DataError.invalidContent(
          path: memberSource, message: "is encrypted, which Cortex cannot read")
      }
      guard method == 0 || method == 8 else {
        throw DataError.invalidContent(
          path: memberSource,
          message: "is compressed with zip method \(method), expected stored (0) or deflated (8)")
      }
      guard holds(localHeader, 30), word(localHeader) == 0x0403_4B50 else {
        throw DataError.invalidContent(
          path: memberSource, message: "its local zip header at offset \(localHeader) is damaged")
      }
      let start = localHeader + 30 + half(localHeader + 26) + half(localHeader + 28)
      guard holds(start, compressedSize), method == 8 || size == compressedSize else {
        throw DataError.invalidContent(
          path: memberSource,
          message: "declares \(compressedSize) bytes at offset \(start), past the end of the "
            + "\(buffer.count)-byte archive")
      }
      let bytes = UnsafeRawBufferPointer(rebasing: buffer[start..<start + compressedSize])
      let stream = CheckedStream(
        try ByteStream(bytes, source: memberSource, format: method == 8 ? .deflate : .raw))
      let array = try NumPyArray.decode(stream)
      guard stream.crc == crc, stream.count == size else {
        throw DataError.invalidContent(
          path: memberSource,
          message: "fails its checksum: CRC-32 \(String(stream.crc, radix: 16)) of \(stream.count) "
            + "bytes, expected \(String(crc, radix: 16)) of \(size)")
      }
      arrays[String(name.dropLast(4))] = array
    }
    return arrays
  }
}

/// A stream that keeps the CRC-32 and the count of the bytes read through it.
private final class CheckedStream: ByteReading {
  let base: ByteStream
  private(set) var crc: UInt32 = 0
  private(set) var count = 0

  init(_ base: ByteStream) { self.base = base }

  var source: String { base.source }
  var remainingUpperBound: Int { base.remainingUpperBound }

  func read(count: Int) throws -> [UInt8] {
    let bytes = try base.read(count: count)
    crc = Zlib.crc32(bytes, continuing: crc)
    self.count += bytes.count
    return bytes
  }

  func skipToEnd(limit: Int) throws -> Int {
    let extra = try base.skipToEnd(limit: limit)
    count += extra
    return extra
  }
}
