/// Copies and selections that move scalars without arithmetic: permuted
/// axes, rectangular blocks, broadcasting, and picking one of two tensors
/// element by element.

/// Row-major strides of `shape`.
public func contiguousStrides(_ shape: [Int]) -> [Int] {
  var strides = [Int](repeating: 1, count: shape.count)
  var running = 1
  for axis in stride(from: shape.count - 1, through: 0, by: -1) {
    strides[axis] = running
    running *= shape[axis]
  }
  return strides
}

extension KernelSet {
  /// Writes `source` (of `shape`) with its axes permuted: output axis `i`
  /// is source axis `permutation[i]`.
  @inlinable
  static func permute<S>(
    _ source: UnsafePointer<S>, shape: [Int], permutation: [Int], _ out: UnsafeMutablePointer<S>
  ) {
    let rank = shape.count
    let count = shape.reduce(1, *)
    if count == 0 { return }
    if rank == 0 {
      out[0] = source[0]
      return
    }
    let sourceStrides = contiguousStrides(shape)
    let outShape = permutation.map { shape[$0] }
    let strides = permutation.map { sourceStrides[$0] }
    let inner = outShape[rank - 1]
    let innerStride = strides[rank - 1]
    var index = [Int](repeating: 0, count: rank)
    var offset = 0
    var written = 0
    while written < count {
      let po = out + written
      for j in 0..<inner { po[j] = source[offset + j * innerStride] }
      written += inner
      var axis = rank - 2
      while axis >= 0 {
        index[axis] += 1
        offset += strides[axis]
        if index[axis] < outShape[axis] { break }
        offset -= strides[axis] * outShape[axis]
        index[axis] = 0
        axis -= 1
      }
    }
  }

  /// Copies a block of shape `region` from `source` (of `sourceShape`,
  /// starting at index `sourceOrigin`) into `destination` (of
  /// `destinationShape`, starting at `destinationOrigin`).
  @inlinable
  static func copyBlock<S>(
    region: [Int], from source: UnsafePointer<S>, sourceShape: [Int], sourceOrigin: [Int],
    to destination: UnsafeMutablePointer<S>, destinationShape: [Int], destinationOrigin: [Int]
  ) {
    let rank = region.count
    if region.contains(0) { return }
    if rank == 0 {
      destination[0] = source[0]
      return
    }
    let sourceStrides = contiguousStrides(sourceShape)
    let destinationStrides = contiguousStrides(destinationShape)
    var sourceOffset = Swift.zip(sourceOrigin, sourceStrides).map(*).reduce(0, +)
    var destinationOffset = Swift.zip(destinationOrigin, destinationStrides).map(*).reduce(0, +)
    let inner = region[rank - 1]
    var index = [Int](repeating: 0, count: rank)
    while true {
      (destination + destinationOffset).update(from: source + sourceOffset, count: inner)
      var axis = rank - 2
      while axis >= 0 {
        index[axis] += 1
        sourceOffset += sourceStrides[axis]
        destinationOffset += destinationStrides[axis]
        if index[axis] < region[axis] { break }
        sourceOffset -= sourceStrides[axis] * region[axis]
        destinationOffset -= destinationStrides[axis] * region[axis]
        index[axis] = 0
        axis -= 1
      }
      if axis < 0 { return }
    }
  }

  /// `x` (of `shape`) repeated along its broadcast axes to `result`, with
  /// NumPy's rules.
  @inlinable
  static func broadcast<S>(
    _ x: UnsafePointer<S>, shape: [Int], _ out: UnsafeMutablePointer<S>, result: [Int]
  ) {
    zip(x, shapeA: shape, x, shapeB: [], out, result: result) { a, _ in a }
  }

  /// `out[i] = a[i]` where `condition[i]` is nonzero, `b[i]` elsewhere.
  @inlinable
  static func select<S: BinaryFloatingPoint>(
    _ condition: UnsafePointer<S>, _ a: UnsafePointer<S>, _ b: UnsafePointer<S>,
    _ out: UnsafeMutablePointer<S>, count: Int
  ) {
    for i in 0..<count { out[i] = condition[i] != 0 ? a[i] : b[i] }
  }
}
