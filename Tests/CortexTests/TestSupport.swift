import Foundation
import Synchronization
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Expects `actual` to have `expected`'s shape and every element within
/// `tolerance` of it.
func expectClose<Scalar>(
  _ actual: Tensor<Scalar>, _ expected: Tensor<Scalar>, tolerance: Scalar = 1e-12,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(actual.shape == expected.shape, sourceLocation: sourceLocation)
  #expect(
    actual.isAlmostEqual(to: expected, absoluteTolerance: tolerance, relativeTolerance: 0),
    "\(actual) is not within \(tolerance) of \(expected)", sourceLocation: sourceLocation)
}

/// Expects `actual` within `tolerance` of `expected`.
func expectClose<Scalar: BinaryFloatingPoint>(
  _ actual: Scalar, _ expected: Scalar, tolerance: Scalar = 1e-12,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(
    Swift.abs(actual - expected) <= tolerance,
    "\(actual) is not within \(tolerance) of \(expected)",
    sourceLocation: sourceLocation)
}

/// Expects a gradient check to pass, reporting it when it does not.
func expectPasses(
  _ report: GradientCheckReport, sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(report.passed, "\(report)", sourceLocation: sourceLocation)
}

/// Seeded uniform draws in `[-1, 1)`, in Double.
func random(_ shape: [Int], seed: UInt64) -> Tensor<Double> {
  Tensor.randomUniform(shape, lower: -1, upper: 1, seed: seed)
}

/// Seeded uniform draws in `[lower, upper)`, in Double, for functions
/// defined only on part of the line.
func random(_ shape: [Int], in range: Range<Double>, seed: UInt64) -> Tensor<Double> {
  Tensor.randomUniform(shape, lower: range.lowerBound, upper: range.upperBound, seed: seed)
}

/// `C[i, j] = Σₚ A[i, p] · B[p, j]`, by the textbook loop, as a reference for
/// the GEMM kernel.
func referenceMatmul(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Tensor<Double> {
  let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
  precondition(b.shape[0] == k)
  var c = Tensor<Double>.zeros([m, n])
  for i in 0..<m {
    for j in 0..<n {
      var total = 0.0
      for p in 0..<k { total += a[i, p] * b[p, j] }
      c[i, j] = total
    }
  }
  return c
}

/// The transpose of a matrix, by the textbook loop.
func referenceTranspose(_ a: Tensor<Double>) -> Tensor<Double> {
  var t = Tensor<Double>.zeros([a.shape[1], a.shape[0]])
  for i in 0..<a.shape[0] {
    for j in 0..<a.shape[1] { t[j, i] = a[i, j] }
  }
  return t
}

extension Tensor {
  /// `f` applied to every element on the host: a reference for tests, not
  /// an operation (operations name their elementwise function for the
  /// backend).
  func map(_ f: (Scalar) -> Scalar) -> Tensor {
    Tensor(shape: shape, scalars: scalars.map(f))
  }
}

/// Held while a test redirects the process's standard output or error, so
/// that two tests running side by side never redirect them at once (the
/// second would take the first one's lines).
let standardStreamRedirection = Mutex<Void>(())

/// Runs `process` to its end with standard output discarded, and returns
/// its exit status and what it wrote to standard error.
func statusAndStandardError(of process: Process) throws -> (status: Int32, text: String) {
  let pipe = Pipe()
  process.standardError = pipe
  process.standardOutput = FileHandle.nullDevice
  try process.run()
  let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
  process.waitUntilExit()
  return (process.terminationStatus, text)
}
