// The elementwise functions go through ``unaryKernel(_:_:_:count:using:)``
// and ``binaryKernel(_:_:shapeA:_:shapeB:_:result:using:)`` to the kernels
// of the current instruction set (CortexKernels/ElementwiseFunctions.swift).

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
