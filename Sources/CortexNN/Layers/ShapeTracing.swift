import CortexCore

extension Layer {
  /// The shape of the output for an input of the given shape, found by
  /// running ``callAsFunction(_:)`` on a shape-only input: no scalar is
  /// allocated or computed, and the parameters are read for their shapes
  /// alone. A custom layer gets this without writing `outputShape(for:)`;
  /// the built-in layers keep their own, which compute the shapes directly.
  ///
  /// - Throws: ``ShapeError`` naming the layer's type and the message of
  ///   the first operation whose shape check failed, for example
  ///   "Block: matmul: inner dimensions differ: ...".
  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    switch traceShape(input, { self($0) }) {
    case .success(let shape): return shape
    case .failure(let error): throw ShapeError("\(summaryName): \(error.message)")
    }
  }
}
