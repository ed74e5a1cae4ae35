/// Operations that move elements without changing them: reshape, permute,
/// broadcast, slice, concatenate, stack, pad. Their pullbacks move the
/// gradient back the same way.

extension Tensor {
  /// The same storage viewed with another shape of equal size; not recorded.
  func reshapedStorage(_ newShape: [Int]) -> Tensor {
    Tensor(shape: newShape, storage: storage, batch: batch)
  }

  /// A contiguous copy with permuted axes; not recorded.
  func permutedStorage(_ permutation: [Int]) -> Tensor {
    backend("permute").permute(self, permutation)
  }

  /// The same elements in row-major order with a new shape; one dimension
  /// may be −1 and is then inferred. Shares storage with `self`.
  public func reshaped(to newShape: [Int]) -> Tensor {
    var newShape = newShape
    let inferred = newShape.indices.filter { newShape[$0] == -1 }
    precondition(inferred.count <= 1, "reshape: more than one −1 in \(newShape)")
    precondition(
      newShape.allSatisfy { $0 >= -1 }, "reshape: negative dimension in \(newShape)")
    if let axis = inferred.first {
      let known = newShape.filter { $0 != -1 }.reduce(1, *)
      precondition(
        known > 0 && scalarCount % known == 0,
        "reshape: cannot infer the −1 in \(newShape) for a tensor of shape \(shape) (\(scalarCount) elements)"
      )
      newShape[axis] = scalarCount / known
    }
    precondition(
      newShape.reduce(1, *) == scalarCount,
      "reshape: cannot reshape a tensor of shape \(shape) (\(scalarCount) elements) to \(newShape)")
    let oldShape = shape
    return record("reshape", self, output: reshapedStorage(newShape)) { g in
      g.reshaped(to: oldShape)
    }
  }

  /// Flattens the axes from `axis` to the end into one: `[N, C, H, W]`
  /// flattened from 1 is `[N, C·H·W]` (32×32×3 → 3072).
  public func flattened(fromAxis axis: Int = 1) -> Tensor {
    let axis = normalizedAxis(axis, "flatten")
    return reshaped(to: Array(shape[..<axis]) + [shape[axis...].reduce(1, *)])
  }

  /// Removes the given size-1 axes, or all of them when none is given.
  public func squeezed(axes: [Int] = []) -> Tensor {
    let axes =
      axes.isEmpty ? shape.indices.filter { shape[$0] == 1 } : normalizedAxes(axes, "squeeze")
    for axis in axes {
      precondition(
        shape[axis] == 1, "squeeze: axis \(axis) of shape \(shape) has size \(shape[axis]), not 1")
    }
    return reshaped(to: shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element))
  }

  /// Inserts a size-1 axis at `axis` (which may equal the rank).
  public func unsqueezed(at axis: Int) -> Tensor {
    let axis = normalizedAxis(axis, "unsqueeze", extra: 1)
    var newShape = shape
    newShape.insert(1, at: axis)
    return reshaped(to: newShape)
  }

  /// The tensor with its axes reordered: axis `i` of the result is axis
  /// `permutation[i]` of `self`.
  public func permuted(_ permutation: [Int]) -> Tensor {
    precondition(
      permutation.sorted() == Array(0..<rank),
      "permute: \(permutation) is not a permutation of the axes of shape \(shape)")
    let inverse = inversePermutation(permutation)
    return record("permute", self, output: permutedStorage(permutation)) { g in
      g.permuted(inverse)
    }
  }

  /// The tensor with its axes reversed; for a matrix, its transpose.
  public func transposed() -> Tensor { permuted(Array((0..<rank).reversed())) }

  /// The tensor broadcast to `newShape` (NumPy's rules). Pullback: the
  /// gradient summed back to this shape.
  public func broadcasted(to newShape: [Int]) -> Tensor {
    precondition(
      broadcastShape(shape, newShape) == newShape,
      "broadcast: shape \(shape) cannot be broadcast to \(newShape)")
    if newShape == shape { return self }
    let out = backend("broadcast").broadcast(self, to: newShape)
    let oldShape = shape
    return record("broadcast", self, output: out) { $0.unbroadcast(to: oldShape) }
  }

  /// Elements `range` along `axis` (negative axes count from the end).
  public func sliced(alongAxis axis: Int, range: Range<Int>) -> Tensor {
    let axis = normalizedAxis(axis, "slice")
    precondition(
      range.lowerBound >= 0 && range.upperBound <= shape[axis],
      "slice: range \(range) is out of bounds for axis \(axis) of shape \(shape)")
    var outShape = shape
    outShape[axis] = range.count
    var origin = [Int](repeating: 0, count: rank)
    origin[axis] = range.lowerBound
    let out = backend("slice").assemble(
      outShape, zeroFilled: false,
      blocks: [
        BlockCopy(
          source: self, sourceOrigin: origin, region: outShape,
          destinationOrigin: [Int](repeating: 0, count: rank))
      ])
    let inputShape = shape
    let padding = (0..<rank).map { i in
      i == axis ? (range.lowerBound, inputShape[i] - range.upperBound) : (0, 0)
    }
    return record("slice", self, output: out) { g in g.padded(with: padding) }
  }

  /// The tensor surrounded by zeros: `padding[i]` gives the number of zeros
  /// before and after along axis `i`.
  public func padded(with padding: [(before: Int, after: Int)]) -> Tensor {
    precondition(
      padding.count == rank,
      "pad: \(padding.count) padding pairs for a tensor of rank \(rank) (shape \(shape))")
    precondition(
      padding.allSatisfy { $0.before >= 0 && $0.after >= 0 }, "pad: padding must not be negative")
    let outShape = zip(shape, padding).map { $0 + $1.before + $1.after }
    let origin = padding.map(\.before)
    let zeroOrigin = [Int](repeating: 0, count: rank)
    let out = backend("pad").assemble(
      outShape, zeroFilled: true,
      blocks: [
        BlockCopy(source: self, sourceOrigin: zeroOrigin, region: shape, destinationOrigin: origin)
      ])
    let inputShape = shape
    return record("pad", self, output: out) { g in
      fusedOrComposed(
        fused: {
          g.backend("pad").assemble(
            inputShape, zeroFilled: false,
            blocks: [
              BlockCopy(
                source: g, sourceOrigin: origin, region: inputShape, destinationOrigin: zeroOrigin)
            ])
        },
        composed: {
          padding.indices.reduce(g) { grad, axis in
            grad.sliced(alongAxis: axis, range: origin[axis]..<(origin[axis] + inputShape[axis]))
          }
        })
    }
  }

  /// Joins tensors along `axis`; all other dimensions must agree.
  public init(concatenating tensors: [Tensor], alongAxis axis: Int = 0) {
    precondition(!tensors.isEmpty, "concatenate: no tensors to join")
    let first = tensors[0]
    let axis = first.normalizedAxis(axis, "concatenate")
    for t in tensors {
      precondition(
        t.rank == first.rank
          && t.shape.enumerated().allSatisfy {
            $0.offset == axis || $0.element == first.shape[$0.offset]
          },
        "concatenate: shape \(t.shape) does not match \(first.shape) outside axis \(axis)")
    }
    var outShape = first.shape
    outShape[axis] = tensors.map { $0.shape[axis] }.reduce(0, +)
    let backend = commonBackend("concatenate", tensors)
    var offsets: [Int] = []
    var offset = 0
    var blocks: [BlockCopy<Scalar>] = []
    for t in tensors {
      var origin = [Int](repeating: 0, count: first.rank)
      origin[axis] = offset
      offsets.append(offset)
      blocks.append(
        BlockCopy(
          source: t, sourceOrigin: [Int](repeating: 0, count: t.rank), region: t.shape,
          destinationOrigin: origin))
      offset += t.shape[axis]
    }
    let out = backend.assemble(outShape, zeroFilled: false, blocks: blocks)
    let sizes = tensors.map { $0.shape[axis] }
    self = record("concatenate", inputs: tensors, output: out) { g, needs in
      (0..<sizes.count).map { i in
        needs[i] ? g.sliced(alongAxis: axis, range: offsets[i]..<(offsets[i] + sizes[i])) : nil
      }
    }
  }

  /// Stacks tensors of one shape along a new axis.
  public init(stacking tensors: [Tensor], alongAxis axis: Int = 0) {
    precondition(!tensors.isEmpty, "stack: no tensors to stack")
    for t in tensors {
      precondition(
        t.shape == tensors[0].shape, "stack: shape \(t.shape) does not match \(tensors[0].shape)")
    }
    self.init(concatenating: tensors.map { $0.unsqueezed(at: axis) }, alongAxis: axis)
  }
}
