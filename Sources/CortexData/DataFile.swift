import CortexCore
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Whole-file reads with a size limit, and atomic writes.
package enum DataFile {
  /// The contents of the regular file at `url`.
  ///
  /// The size is checked against `maximumBytes` before anything is
  /// allocated, so a huge or endless file (a device, a pipe) is refused
  /// instead of exhausting memory. The file is opened without blocking, so
  /// a named pipe with no writer is refused too instead of hanging the
  /// reader.
  static func contents(of url: URL, maximumBytes: Int) throws -> Data {
    let file = try ReadableFile(url, maximumBytes: maximumBytes)
    var data = Data(count: file.size)
    let bytesRead = try data.withUnsafeMutableBytes { try file.read(at: 0, upTo: $0) }
    if bytesRead < file.size { data.count = bytesRead }
    return data
  }

  /// Writes `data` to `url` so that a reader sees either the old file or
  /// the complete new one, never a partial write.
  ///
  /// The bytes go to a temporary file in the same directory, which is
  /// flushed to disk and then renamed over the target; the directory is
  /// flushed last so that the rename itself survives a crash.
  package static func writeAtomically(_ data: Data, to url: URL) throws {
    let path = url.path
    let directory = url.deletingLastPathComponent().path
    let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    let temporary = "\(directory)/.\(url.lastPathComponent).\(suffix).tmp"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
      throw DataError.ioFailure(
        path: path, message: "cannot create a temporary file: \(systemMessage(errno))")
    }
    var failure: Error?
    do {
      try writeAll(data, to: descriptor, path: path)
      if fsync(descriptor) != 0 {
        failure = DataError.ioFailure(path: path, message: "cannot flush: \(systemMessage(errno))")
      }
    } catch {
      failure = error
    }
    if close(descriptor) != 0, failure == nil {
      failure = DataError.ioFailure(path: path, message: "cannot close: \(systemMessage(errno))")
    }
    if let failure {
      unlink(temporary)
      throw failure
    }
    guard rename(temporary, path) == 0 else {
      let code = errno
      unlink(temporary)
      throw DataError.ioFailure(
        path: path, message: "cannot rename into place: \(systemMessage(code))")
    }
    let directoryDescriptor = open(directory, O_RDONLY | O_CLOEXEC)
    if directoryDescriptor >= 0 {
      fsync(directoryDescriptor)
      close(directoryDescriptor)
    }
  }

  private static func writeAll(_ data: Data, to descriptor: Int32, path: String) throws {
    try data.withUnsafeBytes { buffer in
      guard let base = buffer.baseAddress else { return }
      var done = 0
      while done < buffer.count {
        let count = write(descriptor, base + done, buffer.count - done)
        if count < 0 {
          if errno == EINTR { continue }
          throw DataError.ioFailure(path: path, message: "cannot write: \(systemMessage(errno))")
        }
        done += count
      }
    }
  }

  /// What a non-regular file is, for error messages.
  static func fileKind(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFIFO: return "a named pipe"
    case S_IFDIR: return "a folder"
    case S_IFCHR, S_IFBLK: return "a device"
    case S_IFSOCK: return "a socket"
    default: return "a special file"
    }
  }

  static func systemMessage(_ code: Int32) -> String {
    String(cString: strerror(code))
  }
}

/// An open regular file whose size was checked when it was opened, read
/// piece by piece at given offsets: a reader compares what a header
/// declares with ``size`` before it reads, or allocates for, the rest.
final class ReadableFile {
  /// The path, for error messages.
  let path: String
  /// The file's size in bytes when it was opened.
  let size: Int
  private let descriptor: Int32

  /// Opens the regular file at `url`.
  ///
  /// The size is checked against `maximumBytes` before anything is
  /// read, so a huge or endless file (a device, a pipe) is refused
  /// instead of exhausting memory. The file is opened without blocking, so
  /// a named pipe with no writer is refused too instead of hanging the
  /// reader.
  init(_ url: URL, maximumBytes: Int) throws {
    path = url.path
    let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard descriptor >= 0 else {
      let code = errno
      if code == ENOENT { throw DataError.fileNotFound(path: url.path) }
      throw DataError.ioFailure(
        path: url.path, message: "cannot open: \(DataFile.systemMessage(code))")
    }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else {
      let code = errno
      close(descriptor)
      throw DataError.ioFailure(
        path: url.path, message: "cannot stat: \(DataFile.systemMessage(code))")
    }
    guard status.st_mode & S_IFMT == S_IFREG else {
      close(descriptor)
      throw DataError.ioFailure(
        path: url.path, message: "is \(DataFile.fileKind(status.st_mode)), not a regular file")
    }
    let size = Int(status.st_size)
    guard size <= maximumBytes else {
      close(descriptor)
      throw DataError.invalidContent(
        path: url.path,
        message: "file is \(size) bytes, more than the limit of \(maximumBytes) bytes")
    }
    self.descriptor = descriptor
    self.size = size
  }

  deinit { close(descriptor) }

  /// Reads from `offset` into `buffer` until it is full or the file ends;
  /// returns the number of bytes read.
  func read(at offset: Int, upTo buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    guard let base = buffer.baseAddress else { return 0 }
    var done = 0
    while done < buffer.count {
      let count = pread(descriptor, base + done, buffer.count - done, off_t(offset + done))
      if count < 0 {
        if errno == EINTR { continue }
        throw DataError.ioFailure(
          path: path, message: "cannot read: \(DataFile.systemMessage(errno))")
      }
      if count == 0 { break }
      done += count
    }
    return done
  }

  /// Fills `buffer` from `offset`.
  ///
  /// - Throws: ``DataError`` when the file ends first: it shrank after it
  ///   was opened.
  func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
    let count = try read(at: offset, upTo: buffer)
    guard count == buffer.count else {
      throw DataError.ioFailure(
        path: path,
        message: "the file ends at byte \(offset + count), before byte \(offset + buffer.count); "
          + "it was \(size) bytes when opened")
    }
  }
}

/// A regular file read in order, a part at a time: a header can be read and
/// checked before the rest of the file is.
///
/// The file is opened as a ``ReadableFile``: without blocking, and only if
/// it is a regular file.
final class FileReader: ByteReading {
  let source: String
  /// The file's size when it was opened.
  let size: Int
  private let file: ReadableFile
  private var offset = 0

  init(url: URL) throws {
    file = try ReadableFile(url, maximumBytes: .max)
    source = file.path
    size = file.size
  }

  var remainingUpperBound: Int { max(0, size - offset) }

  func read(count: Int) throws -> [UInt8] {
    let wanted = min(count, remainingUpperBound)
    let bytes = try [UInt8](unsafeUninitializedCapacity: wanted) { buffer, initialized in
      initialized = 0
      initialized = try file.read(at: offset, upTo: UnsafeMutableRawBufferPointer(buffer))
    }
    offset += bytes.count
    return bytes
  }

  func skipToEnd(limit: Int) throws -> Int {
    let rest = remainingUpperBound
    offset = size
    return rest
  }
}
