/// Direct access to the scalars of host memory, for code that updates a
/// parameter in place (an optimizer's step).

extension Parameter {
  /// Updates the scalars in place, in host memory.
  public func update(_ body: (UnsafeMutableBufferPointer<Scalar>) -> Void) {
    stored.withUnsafeMutableBufferPointer(body)
  }
}
