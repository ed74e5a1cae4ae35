import CortexCore

/// A fully connected layer: `y = x·Wᵀ + b` with `W` of shape `[out, in]`
/// like PyTorch's `nn.Linear`.
public struct Dense<Scalar: TensorScalar>: Layer {
  public let weight: Parameter<Scalar>
  public let bias: Parameter<Scalar>?

  /// A dense map of `inputSize` features to `outputSize`.
  ///
  /// - Parameters:
  ///   - inputSize: the features of the input, `in`.
  ///   - outputSize: the features of the output, `out`.
  ///   - useBias: whether to add a bias, initialized like PyTorch's (±1/√in).
  ///   - weightInitializer: default `.lecunUniform` (±1/√in, PyTorch's default).
  /// - Throws: ``HyperparameterError`` when a size is not positive.
  public init(
    inputSize: Int, outputSize: Int, useBias: Bool = true,
    weightInitializer: Initializer = .lecunUniform
  ) throws(HyperparameterError) {
    try HyperparameterError.requirePositive(inputSize, "inputSize", of: "Dense")
    try HyperparameterError.requirePositive(outputSize, "outputSize", of: "Dense")
    weight = Parameter(
      weightInitializer.make([outputSize, inputSize], fanIn: inputSize, fanOut: outputSize))
    bias =
      useBias
      ? Parameter(Initializer.lecunUniform.make([outputSize], fanIn: inputSize, fanOut: outputSize))
      : nil
  }

  public var inputSize: Int { weight.shape[1] }
  public var outputSize: Int { weight.shape[0] }

  /// - Parameter input: `[..., in]` (`[N, in]`, or `[N, tokens, in]` for a
  ///   sequence: the map applies to every row). Returns `[..., out]`.
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    linear(input, weight: weight.value, bias: bias?.value)
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    guard let features = input.last else {
      throw ShapeError("Dense expects an input of shape [..., \(inputSize)], found a 0-d input")
    }
    guard features == inputSize else {
      let hint = input.count > 2 ? "; insert a Flatten to map whole volumes" : ""
      throw ShapeError(
        "Dense expects \(inputSize) input features, found \(features) (input shape \(input))\(hint)"
      )
    }
    return input.dropLast() + [outputSize]
  }
}

/// Flattens every axis after the batch axis: `[N, C, H, W]` → `[N, C·H·W]`
/// (a 32×32×3 image becomes 3072 numbers).
public struct Flatten<Scalar: TensorScalar>: Layer {
  public init() {}

  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    input.flattened(fromAxis: 1)
  }

  /// A view of the same scalars: no new activation memory.
  public var isElementwise: Bool { true }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    guard !input.isEmpty else {
      throw ShapeError("Flatten expects a batch axis, found a 0-d input")
    }
    return [input[0], input.dropFirst().reduce(1, *)]
  }
}

/// Maxout (Goodfellow et al.): a dense map to `units · pieces` features
/// `z_ij = xᵀW_ij + b_ij`, then `h_i = max_j z_ij` over each unit's pieces.
/// With enough pieces one unit approximates any convex function.
public struct Maxout<Scalar: TensorScalar>: Layer {
  public let linear: Dense<Scalar>
  public let pieces: Int

  public init(
    inputSize: Int, units: Int, pieces: Int, weightInitializer: Initializer = .lecunUniform
  ) throws(HyperparameterError) {
    try HyperparameterError.requirePositive(inputSize, "inputSize", of: "Maxout")
    try HyperparameterError.requirePositive(units, "units", of: "Maxout")
    try HyperparameterError.requirePositive(pieces, "pieces", of: "Maxout")
    linear = try Dense(
      inputSize: inputSize, outputSize: units * pieces, weightInitializer: weightInitializer)
    self.pieces = pieces
  }

  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    maxout(linear(input), pieces: pieces)
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    let z = try linear.outputShape(for: input)
    return [z[0], z[1] / pieces]
  }
}
