import CortexKernels

/// Row-major layout: how a multi-dimensional index maps to a flat one, and
/// the shape two shapes broadcast to.

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

/// The multi-dimensional index of a row-major flat index.
func unravel(_ flat: Int, _ shape: [Int]) -> [Int] {
  var rest = flat
  var index = [Int](repeating: 0, count: shape.count)
  for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] > 0 {
    index[axis] = rest % shape[axis]
    rest /= shape[axis]
  }
  return index
}
