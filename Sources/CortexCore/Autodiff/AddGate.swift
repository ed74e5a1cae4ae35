/// The add gate: the upstream gradient flows unchanged to both inputs.
///
/// The tape sums the gradients of a value that fans out with this gate, a
/// recorded operation of its own (not the public, broadcasting `+`), so
/// that the sum is differentiated like any other operation when a gradient
/// is taken of a gradient.

/// `a + b` for two tensors of one shape, recorded as the add gate.
func addGate<Scalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) -> Tensor<Scalar> {
  precondition(a.shape == b.shape, "add: shapes \(a.shape) and \(b.shape) differ")
  let out = commonBackend("add", a, b).binary(.add, a, b, shape: a.shape)
  return record("add", a, b, output: out, pullbackX: { $0 }, pullbackY: { $0 })
}
