import CortexCore

/// Gradient checks of a layer: with respect to its input and to every
/// trainable parameter, each reported by name.

/// Checks the gradients of `layer` at `input` with respect to the input and
/// to each trainable parameter against central differences, like
/// ``checkGradients(at:step:tolerance:absoluteTolerance:mode:seed:order:of:)-([Tensor<Scalar>],_,_,_,_,_,_,_)``.
///
/// The report has one entry per checked tensor, named `input` or by the
/// parameter's name (`hidden.weight`), with the worst element of each; in
/// fast mode it has entries only when the check failed. The layer runs
/// with its parameters substituted (a functional call), so its own
/// parameters are never changed.
///
/// - Parameters:
///   - layer: the layer; it must be deterministic (dropout in inference).
///   - input: the point to check at, a shape the layer accepts.
///   - step: the central-difference step (the defaults of the tensor check).
///   - tolerance: the relative tolerance `rtol` (likewise).
///   - absoluteTolerance: the absolute tolerance `atol` (likewise).
///   - mode: `.full` (every element) or `.fast` (one random direction).
///   - seed: the seed of the random projection and direction.
///   - order: 1, or 2 for the gradient of the gradient.
public func checkGradients<L: Layer>(
  of layer: L, at input: Tensor<L.Scalar>, step: L.Scalar? = nil, tolerance: Double? = nil,
  absoluteTolerance: Double? = nil, mode: GradientCheckMode = .full, seed: UInt64 = 0,
  order: Int = 1
) -> GradientCheckReport {
  let named = layer.namedParameters.filter(\.parameter.isTrainable)
  let parameters = named.map(\.parameter)
  let values = parameters.map(\.value)
  let report = checkGradients(
    at: [input] + values, step: step, tolerance: tolerance, absoluteTolerance: absoluteTolerance,
    mode: mode, seed: seed, order: order
  ) { values in
    withParameters(parameters, at: Array(values.dropFirst())) { layer(values[0]) }
  }
  let names = ["input"] + named.map(\.name)
  var inputs = report.inputs
  for k in inputs.indices { inputs[k].name = names[inputs[k].input] }
  return GradientCheckReport(
    inputs: inputs, maxRelativeError: report.maxRelativeError, tolerance: report.tolerance,
    absoluteTolerance: report.absoluteTolerance,
    undifferentiableOperation: report.undifferentiableOperation)
}

/// Every built-in layer with a small Double example, for `cortex gradcheck`
/// and the test suite: each is checked with respect to its input and every
/// trainable parameter.
public struct LayerCheck: Sendable {
  /// The layer's name, with its configuration.
  public let name: String
  /// The input shape, as printed.
  public let shape: String
  /// Runs the check in a mode (fast mode checks one random direction) and
  /// of an order (2 for the gradient of the gradient).
  public let run: @Sendable (_ mode: GradientCheckMode, _ order: Int) -> GradientCheckReport

  static func check(
    _ name: String, _ shape: [Int], distinct: Bool = false,
    _ make: @escaping @Sendable () throws -> any Layer<Double>
  ) -> LayerCheck {
    LayerCheck(name: name, shape: "\(shape)") { mode, order in
      let layer = withRandomSeed(11) { try! make() }
      let input =
        distinct
        ? OperationCheck.distinct(shape, seed: 5)
        : Tensor<Double>.randomUniform(shape, lower: -1, upper: 1, seed: 13)
      return checkGradients(of: layer, at: input, mode: mode, order: order)
    }
  }

  /// The catalog of layer checks.
  public static var all: [LayerCheck] {
    [
      check("Dense", [3, 4]) { try Dense(inputSize: 4, outputSize: 5) },
      check("Dense (no bias)", [3, 4]) { try Dense(inputSize: 4, outputSize: 2, useBias: false) },
      check("Conv2D", [2, 2, 5, 5]) {
        try Conv2D(inputChannels: 2, outputChannels: 3, filterSize: 3, padding: 1)
      },
      check("Conv2D (stride 2)", [1, 2, 5, 5]) {
        try Conv2D(inputChannels: 2, outputChannels: 2, filterSize: 3, stride: 2)
      },
      check("MaxPool2D", [2, 2, 4, 4], distinct: true) { try MaxPool2D(size: 2) },
      check("AvgPool2D", [2, 2, 4, 4]) { try AvgPool2D(size: 2) },
      check("GlobalAvgPool2D", [2, 3, 3, 3]) { GlobalAvgPool2D() },
      check("Flatten", [2, 2, 3]) { Flatten() },
      check("Maxout", [3, 4], distinct: true) { try Maxout(inputSize: 4, units: 2, pieces: 3) },
      check("Tanh", [3, 4]) { Tanh() },
      check("ReLU", [3, 4], distinct: true) { ReLU() },
      check("Sigmoid", [3, 4]) { Sigmoid() },
      check("Dropout (inference)", [3, 4]) { InferencePhase(try Dropout(probability: 0.5)) },
      check("BatchNorm2D (training)", [4, 2, 2, 2]) { try BatchNorm2D(channels: 2) },
      check("Sequential", [2, 1, 4, 4]) {
        try Sequential {
          try Conv2D(inputChannels: 1, outputChannels: 2, filterSize: 3, padding: 1)
          Tanh()
          Flatten()
          try Dense(inputSize: 32, outputSize: 3)
        }
      },
      check("Residual", [2, 2, 3, 3]) {
        try Residual {
          try Conv2D(inputChannels: 2, outputChannels: 2, filterSize: 3, padding: 1)
          Tanh()
        }
      },
      check("Branches", [2, 2, 3, 3]) {
        Branches([
          try Sequential { try Conv2D(inputChannels: 2, outputChannels: 1, filterSize: 1) },
          Sequential { Tanh() },
        ])
      },
    ] + researchLayers
  }
}

/// A layer run in the inference phase.
struct InferencePhase<Scalar: TensorScalar>: Layer {
  let base: any Layer<Scalar>
  init(_ base: any Layer<Scalar>) { self.base = base }
  func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    withLearningPhase(.inference) { base(input) }
  }
  func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    try base.outputShape(for: input)
  }
}
