import CortexKernels
import CortexKernelsBaseline

// Elementwise loops with a closure of the caller's: they are inlined into
// each operation, so they are compiled with the library, for the baseline
// target of its architecture. The arithmetic the operations share goes
// through ``binaryKernel(_:_:shapeA:_:shapeB:_:result:)`` instead, to the
// kernels of the current instruction set.

/// The shape two shapes broadcast to under NumPy's rules, or `nil` when they
/// are incompatible: aligned from the right, each pair of dimensions must be
/// equal or contain a 1.
func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
  let rank = max(a.count, b.count)
  var result = [Int](repeating: 1, count: rank)
  for i in 0..<rank {
    let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
    let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
    if da == db || db == 1 {
      result[i] = da
    } else if da == 1 {
      result[i] = db
    } else {
      return nil
    }
  }
  return result
}

/// `out[i] = f(a[i])` for `count` elements.
@inline(__always)
func mapKernel<S>(
  _ a: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, count: Int, _ f: (S) -> S
) {
  BaselineKernels.map(a, out, count: count, f)
}

/// `out = f(a, b)` with `a` of `shapeA`, `b` of `shapeB`, and `out` of their
/// broadcast shape `result`.
@inline(__always)
func zipKernel<S>(
  _ a: UnsafePointer<S>, shapeA: [Int], _ b: UnsafePointer<S>, shapeB: [Int],
  _ out: UnsafeMutablePointer<S>, result: [Int], _ f: (S, S) -> S
) {
  BaselineKernels.zip(a, shapeA: shapeA, b, shapeB: shapeB, out, result: result, f)
}

/// Sums the middle axis of a buffer viewed as `[outer, axis, inner]`:
/// `out[o, i] = Σₖ x[o, k, i]`, through the current set's kernels (along a
/// contiguous axis in eight interleaved partial sums, otherwise in order
/// of `k`).
func sumKernel<S: TensorScalar>(
  _ x: UnsafePointer<S>, outer: Int, axis: Int, inner: Int, _ out: UnsafeMutablePointer<S>,
  using kernels: any KernelSet.Type = ComputeSettings.kernels
) {
  runKernel(.sumAlongAxis(x: x, outer: outer, axis: axis, inner: inner, out: out), using: kernels)
}
