import CortexCore
import CortexData
import CortexNN

/// The value of `loss(layers(input))` and the gradient of each parameter,
/// handed to `ready(index, gradient)` as soon as the backward pass has
/// finished it, while the pass goes on through the earlier layers.
///
/// Each parameter is recorded on the tape just before the first layer that
/// holds it runs, followed by an identity entry; when the backward walk
/// reaches that entry, every use of the parameter lies behind it, so its
/// gradient is complete. Gradients therefore arrive layer by layer, last
/// layer first. A parameter the computation does not use gets zeros after
/// the walk. `ready` is called once per parameter, on the calling thread.
///
/// - Parameters:
///   - parameters: the parameters to differentiate; `index` counts in this list.
///   - layers: run in order on `input`, each with the parameters it holds.
///   - loss: maps the last layer's output to one scalar.
/// - Returns: the loss and the last layer's output, without derivatives.
func valueWithGradientStream<Scalar: TensorScalar>(
  for parameters: [Parameter<Scalar>],
  layers: [(layer: any Layer<Scalar>, parameters: [Parameter<Scalar>])], input: Tensor<Scalar>,
  loss: (Tensor<Scalar>) -> Tensor<Scalar>,
  ready: @escaping (_ index: Int, _ gradient: Tensor<Scalar>) -> Void
) -> (value: Tensor<Scalar>, output: Tensor<Scalar>) {
  let tape = Tape<Scalar>()
  var position: [ObjectIdentifier: Int] = [:]
  for (index, parameter) in parameters.enumerated() {
    position[ObjectIdentifier(parameter)] = index
  }
  var delivered = [Bool](repeating: false, count: parameters.count)
  var leaves: [Int] = []

  func record(_ parameter: Parameter<Scalar>) {
    let key = ObjectIdentifier(parameter)
    guard let index = position[key], tape.bindings[key] == nil else { return }
    let leaf = tape.watch(parameter.value, name: "parameter")
    leaves.append(tape.count - 1)
    tape.bindings[key] = tape.append(
      "gradient ready", inputs: [leaf], output: leaf.withoutDerivative
    ) { upstream, _ in
      delivered[index] = true
      ready(index, upstream)
      return [upstream]
    }
  }

  var output = input
  let value = ActiveTape.$current.withValue(tape) {
    for (layer, held) in layers {
      for parameter in held { record(parameter) }
      output = layer(output)
    }
    return loss(output)
  }
  tape.bindings.removeAll()
  precondition(
    value.scalarCount == 1,
    "gradient: the loss must be one scalar, found a tensor of shape \(value.shape)")
  if let outputIndex = tape.index(of: value) {
    _ = tape.backward(
      from: outputIndex, seed: Tensor(repeating: 1, shape: value.shape), wanted: leaves)
  }
  for (index, parameter) in parameters.enumerated() where !delivered[index] {
    ready(index, Tensor.zeros(parameter.shape))
  }
  return (value.withoutDerivative, output.withoutDerivative)
}
