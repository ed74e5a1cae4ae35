import CortexCore

/// Activation layers: elementwise functions with no parameters.

/// Hyperbolic tangent; outputs in (−1, 1).
public struct Tanh<Scalar: TensorScalar>: Layer {
  public init() {}
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> { tanh(input) }
  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] { input }
  public var isElementwise: Bool { true }
}

/// `max(0, x)`: the max gate against 0.
public struct ReLU<Scalar: TensorScalar>: Layer {
  public init() {}
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> { relu(input) }
  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] { input }
  public var isElementwise: Bool { true }
}

/// The logistic function `1 / (1 + e⁻ˣ)`.
public struct Sigmoid<Scalar: TensorScalar>: Layer {
  public init() {}
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> { sigmoid(input) }
  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] { input }
  public var isElementwise: Bool { true }
}
