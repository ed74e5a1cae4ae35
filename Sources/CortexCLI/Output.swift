import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Standard output that could not be written: a full disk, a closed pipe,
/// a closed descriptor. `cortex` reports it in one line and exits with 2.
struct OutputError: Error, CustomStringConvertible, Equatable {
  let description: String
}

/// Writes a line to standard output at once, unbuffered, so that progress
/// reaches a log as it happens.
///
/// - Throws: ``OutputError`` when the line cannot be written.
func say(_ line: String) throws {
  // In a distributed run only rank 0 prints.
  guard DistributedRun.isPrimary else { return }
  try write(line + "\n", to: STDOUT_FILENO, name: "standard output")
}

/// Writes `message` to standard error as `error: message`; a failure to
/// write it is ignored, as there is nowhere left to report it.
func printError(_ message: String) {
  try? write("error: " + message + "\n", to: STDERR_FILENO, name: "standard error")
}

/// Writes all of `text` to the descriptor with `write(2)`, retrying
/// interrupted and partial writes.
///
/// - Throws: ``OutputError`` naming the stream and the system's reason.
func write(_ text: String, to descriptor: Int32, name: String) throws {
  let bytes = Array(text.utf8)
  var done = 0
  while done < bytes.count {
    let count = bytes.withUnsafeBytes {
      write(descriptor, $0.baseAddress! + done, bytes.count - done)
    }
    if count < 0 {
      if errno == EINTR { continue }
      throw OutputError(
        description: "cannot write to \(name): \(String(cString: strerror(errno)))")
    }
    done += count
  }
}

/// Prepares the standard streams before a command runs: a write to a
/// closed pipe becomes an error instead of a silent `SIGPIPE` death, and a
/// closed standard error or input is reopened on `/dev/null` so that no
/// file the command opens takes its descriptor.
///
/// - Throws: ``OutputError`` when standard output is closed.
func prepareStandardStreams() throws {
  signal(SIGPIPE, SIG_IGN)
  let stdoutClosed = fcntl(STDOUT_FILENO, F_GETFD) == -1
  for descriptor in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO]
  where fcntl(descriptor, F_GETFD) == -1 {
    let null = open("/dev/null", O_RDWR)
    if null >= 0 && null != descriptor {
      dup2(null, descriptor)
      close(null)
    }
  }
  if stdoutClosed {
    throw OutputError(description: "cannot write to standard output: it is closed")
  }
}

/// Flushes what `print` buffered.
///
/// - Throws: ``OutputError`` when some of it could not be written.
func flushStandardOutput() throws {
  if fflush(nil) != 0 {
    throw OutputError(
      description: "cannot write to standard output: \(String(cString: strerror(errno)))")
  }
}
