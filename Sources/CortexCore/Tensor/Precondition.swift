/// Checks a precondition and, when it fails, stops the program with the
/// message, in every build configuration (inside a ``ShapeTrace``, it
/// records the message and ends the trace instead).
///
/// The standard library's `precondition` drops its message in optimized
/// builds, and Cortex's library is always optimized; this function, which
/// shadows it inside the module, keeps "add: shapes [2, 3] and [4] cannot
/// be broadcast together" in front of the person who made the mistake.
@inline(__always)
package func precondition(
  _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String = String(),
  file: StaticString = #fileID, line: UInt = #line
) {
  if _slowPath(!condition()) { stop(message(), file: file, line: line) }
}

/// Stops the program with `message`, in every build configuration.
package func preconditionFailure(
  _ message: @autoclosure () -> String = String(), file: StaticString = #fileID,
  line: UInt = #line
) -> Never {
  stop(message(), file: file, line: line)
}

@inline(never)
private func stop(_ message: String, file: StaticString, line: UInt) -> Never {
  ShapeTrace.current?.fail(message)
  fatalError(message, file: file, line: line)
}
