/// Strided copies: permutation of axes and copies of rectangular blocks.

/// Writes `source` (of `shape`) with its axes permuted: output axis `i` is
/// source axis `permutation[i]`.
@_specialize(where S == Float)
@_specialize(where S == Double)
func permuteKernel<S>(
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
@_specialize(where S == Float)
@_specialize(where S == Double)
func copyBlockKernel<S>(
  region: [Int],
  from source: UnsafePointer<S>, sourceShape: [Int], sourceOrigin: [Int],
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
  var sourceOffset = zip(sourceOrigin, sourceStrides).map(*).reduce(0, +)
  var destinationOffset = zip(destinationOrigin, destinationStrides).map(*).reduce(0, +)
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
