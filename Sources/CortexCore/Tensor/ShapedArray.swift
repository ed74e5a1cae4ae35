/// An n-dimensional array of non-differentiable elements (integer indices
/// or Booleans), row-major, with the shape visible like a ``Tensor``'s.
public struct ShapedArray<Element: Sendable & Equatable>: Sendable, Equatable {
  /// The size of each dimension; empty for a 0-d value.
  public let shape: [Int]
  /// The elements in row-major order.
  public let scalars: [Element]
  /// The vmap batch axes of indices computed inside `vmap` (``Tensor/topK(_:alongAxis:largest:)``
  /// of a batched tensor): `scalars` then holds every example's, and
  /// `shape` is one example's.
  let batch: [BatchAxis]

  /// An array of the given shape holding `scalars` in row-major order.
  ///
  /// - Precondition: `scalars.count` equals the product of `shape`.
  public init(shape: [Int], scalars: [Element]) {
    self.init(shape: shape, scalars: scalars, batch: [])
  }

  init(shape: [Int], scalars: [Element], batch: [BatchAxis]) {
    precondition(
      shape.allSatisfy { $0 >= 0 }
        && shape.reduce(1, *) * batch.reduce(1) { $0 * $1.size } == scalars.count,
      "ShapedArray: shape \(shape) does not describe \(scalars.count) elements")
    self.shape = shape
    self.scalars = scalars
    self.batch = batch
  }

  /// A 1-D array.
  public init(_ scalars: [Element]) {
    self.init(shape: [scalars.count], scalars: scalars)
  }

  /// The number of dimensions.
  public var rank: Int { shape.count }
}

/// Integer indices with a shape: what ``gather(_:alongAxis:indices:)``
/// reads and ``Tensor/argmax(alongAxis:keepDims:)`` returns.
public typealias IndexTensor = ShapedArray<Int>

/// Booleans with a shape: the condition of ``select(_:_:_:)``.
public typealias Mask = ShapedArray<Bool>

extension Tensor {
  /// A mask holding `predicate` of each element, in this tensor's shape:
  /// `x.mask { $0 > 0 }`.
  public func mask(_ predicate: (Scalar) -> Bool) -> Mask {
    Mask(shape: shape, scalars: scalars.map(predicate))
  }
}
