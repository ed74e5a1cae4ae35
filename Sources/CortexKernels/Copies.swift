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
    // The output's axes with the source strides they step by; axes of size
    // 1 dropped, and an axis merged into the one before it where the two
    // walk the source as one (as the head and feature axes do when heads
    // are split apart).
    var (outShape, strides) = ([Int](), [Int]())
    for axis in permutation where shape[axis] != 1 {
      let (size, stride) = (shape[axis], sourceStrides[axis])
      if let last = strides.last, last == stride * size {
        outShape[outShape.count - 1] *= size
        strides[strides.count - 1] = stride
      } else {
        outShape.append(size)
        strides.append(stride)
      }
    }
    if outShape.isEmpty {
      out[0] = source[0]
      return
    }
    if outShape.count <= 4 {
      let padding = 4 - outShape.count
      outShape.insert(contentsOf: repeatElement(1, count: padding), at: 0)
      strides.insert(contentsOf: repeatElement(0, count: padding), at: 0)
      permuteRuns(source, shape: outShape, strides: strides, out)
      return
    }
    let axes = outShape.count
    let inner = outShape[axes - 1]
    let innerStride = strides[axes - 1]
    var index = [Int](repeating: 0, count: axes)
    var offset = 0
    var written = 0
    while written < count {
      let po = out + written
      for j in 0..<inner { po[j] = source[offset + j * innerStride] }
      written += inner
      var axis = axes - 2
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

  /// ``permute(_:shape:permutation:_:)`` over four output axes of
  /// `shape`, stepping the source by `strides`: loops around runs of the
  /// last axis, copied as contiguous runs where its stride is 1. The
  /// output's blocks along its first two axes are shared out among the
  /// pool's threads.
  @inlinable
  static func permuteRuns<S>(
    _ source: UnsafePointer<S>, shape: [Int], strides: [Int], _ out: UnsafeMutablePointer<S>
  ) {
    let (n0, n1, n2, inner) = (shape[0], shape[1], shape[2], shape[3])
    let (s0, s1, s2, innerStride) = (strides[0], strides[1], strides[2], strides[3])
    forEachChunk(of: n0 * n1, costPerItem: n2 * inner) { _, blocks in
      var target = out + blocks.lowerBound * n2 * inner
      for block in blocks {
        let start = source + ((block / n1) &* s0 &+ (block % n1) &* s1)
        for i2 in 0..<n2 {
          let run = start + i2 &* s2
          if innerStride == 1 {
            for j in 0..<inner { target[j] = run[j] }
          } else {
            for j in 0..<inner { target[j] = run[j &* innerStride] }
          }
          target += inner
        }
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
