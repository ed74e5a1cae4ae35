/// Elementwise loops over contiguous buffers, with NumPy broadcasting.
///
/// The loops are `@inline(__always)` so that each caller that passes a
/// closure literal gets a loop specialized for that closure.

/// Row-major strides of `shape` as seen from a broadcast result of rank
/// `rank`: 0 along dimensions that are broadcast.
@usableFromInline
func broadcastStrides(_ shape: [Int], to result: [Int]) -> [Int] {
  let rank = result.count
  var strides = [Int](repeating: 0, count: rank)
  var running = 1
  for i in stride(from: shape.count - 1, through: 0, by: -1) {
    let axis = i + rank - shape.count
    strides[axis] = shape[i] == 1 && result[axis] != 1 ? 0 : running
    running *= shape[i]
  }
  return strides
}

extension KernelSet {
  /// `out[i] = f(a[i])` for `count` elements.
  @inlinable @inline(__always)
  public static func map<S>(
    _ a: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, count: Int, _ f: (S) -> S
  ) {
    for i in 0..<count { out[i] = f(a[i]) }
  }

  /// `out = f(a, b)` with `a` of `shapeA`, `b` of `shapeB`, and `out` of their
  /// broadcast shape `result`.
  @inlinable @inline(__always)
  public static func zip<S>(
    _ a: UnsafePointer<S>, shapeA: [Int], _ b: UnsafePointer<S>, shapeB: [Int],
    _ out: UnsafeMutablePointer<S>, result: [Int], _ f: (S, S) -> S
  ) {
    let count = result.reduce(1, *)
    let countA = shapeA.reduce(1, *)
    let countB = shapeB.reduce(1, *)
    if countA == count && countB == count {
      for i in 0..<count { out[i] = f(a[i], b[i]) }
      return
    }
    if countB == 1 && countA == count {
      let y = b[0]
      for i in 0..<count { out[i] = f(a[i], y) }
      return
    }
    if countA == 1 && countB == count {
      let x = a[0]
      for i in 0..<count { out[i] = f(x, b[i]) }
      return
    }
    // General case: an odometer over all but the last axis, with a tight loop
    // along the last one.
    let rank = result.count
    let stridesA = broadcastStrides(shapeA, to: result)
    let stridesB = broadcastStrides(shapeB, to: result)
    let inner = result[rank - 1]
    let innerA = stridesA[rank - 1]
    let innerB = stridesB[rank - 1]
    var index = [Int](repeating: 0, count: rank)
    var offsetA = 0
    var offsetB = 0
    var written = 0
    while written < count {
      let pa = a + offsetA
      let pb = b + offsetB
      let po = out + written
      if innerA == 1 && innerB == 1 {
        for j in 0..<inner { po[j] = f(pa[j], pb[j]) }
      } else if innerA == 1 {
        let y = pb[0]
        for j in 0..<inner { po[j] = f(pa[j], y) }
      } else if innerB == 1 {
        let x = pa[0]
        for j in 0..<inner { po[j] = f(x, pb[j]) }
      } else {
        let x = pa[0]
        let y = pb[0]
        let value = f(x, y)
        for j in 0..<inner { po[j] = value }
      }
      written += inner
      var axis = rank - 2
      while axis >= 0 {
        index[axis] += 1
        offsetA += stridesA[axis]
        offsetB += stridesB[axis]
        if index[axis] < result[axis] { break }
        offsetA -= stridesA[axis] * result[axis]
        offsetB -= stridesB[axis] * result[axis]
        index[axis] = 0
        axis -= 1
      }
    }
  }
}
