import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The folder one training run writes into, held by that run alone: a
/// lock file in it stays locked (`flock`) while the run lives, so a second
/// run into the same folder is refused instead of mixing its files with
/// the first's. The lock goes away with the process, even one killed.
final class OutputFolder {
  let url: URL
  private let lock: Int32
  /// The folders this run created, outermost first.
  private let created: [String]
  /// Whether this run created the lock file.
  private let createdLock: Bool

  /// The name of the lock file inside the folder.
  static let lockName = ".cortex-train.lock"

  /// Creates the folder and its parents if needed and locks it.
  ///
  /// - Throws: ``CommandLineError`` for an empty path, a folder that
  ///   cannot be created or written, or one locked by another run.
  init(path: String) throws {
    guard !path.isEmpty else {
      throw CommandLineError("--out needs a folder name, found an empty one")
    }
    url = URL(fileURLWithPath: path, isDirectory: true)
    let created = try Self.createDirectories(url.path)
    let lockPath = url.appendingPathComponent(Self.lockName).path
    let lockExisted = access(lockPath, F_OK) == 0
    let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
      let reason = String(cString: strerror(errno))
      Self.remove(created)
      throw CommandLineError("cannot write into the output folder \(url.path): \(reason)")
    }
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
      var bytes = [UInt8](repeating: 0, count: 32)
      let count = read(descriptor, &bytes, bytes.count)
      close(descriptor)
      Self.remove(created)
      let holder = String(decoding: bytes.prefix(Swift.max(count, 0)), as: UTF8.self)
        .trimmingCharacters(in: .whitespacesAndNewlines)
      throw CommandLineError(
        "the output folder \(url.path) is in use by another training run"
          + (holder.isEmpty ? "" : " (process \(holder))")
          + "; wait for it to end or choose another --out")
    }
    let pid = "\(getpid())\n"
    _ = ftruncate(descriptor, 0)
    _ = pid.withCString { write(descriptor, $0, strlen($0)) }
    lock = descriptor
    self.created = created
    createdLock = !lockExisted
  }

  /// Closing the lock file releases the lock.
  deinit { close(lock) }

  /// Removes what this run added for a run that failed before it wrote
  /// anything: its lock file, and the folders it created that are left
  /// empty. A folder that holds anything else stays.
  func removeIfUnused() {
    if createdLock { unlink(file(Self.lockName).path) }
    Self.remove(created)
  }

  /// Removes `folders` that are empty, innermost first.
  private static func remove(_ folders: [String]) {
    for folder in folders.reversed() where rmdir(folder) != 0 { break }
  }

  /// The file `name` inside the folder.
  func file(_ name: String) -> URL { url.appendingPathComponent(name) }

  /// `mkdir -p`, with the system's reason when it fails; returns the
  /// folders it created, outermost first.
  @discardableResult
  static func createDirectories(_ path: String) throws -> [String] {
    var prefix = path.hasPrefix("/") ? "/" : ""
    var created: [String] = []
    for component in path.split(separator: "/") {
      prefix += component + "/"
      if mkdir(prefix, 0o755) == 0 {
        created.append(prefix)
      } else if errno != EEXIST {
        let reason = String(cString: strerror(errno))
        remove(created)
        throw CommandLineError("cannot create the output folder \(path): \(reason)")
      }
    }
    var status = stat()
    guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
      remove(created)
      throw CommandLineError("cannot create the output folder \(path): a file of that name exists")
    }
    return created
  }
}
