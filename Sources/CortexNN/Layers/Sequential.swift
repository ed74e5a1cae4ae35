import CortexCore

/// Layers applied one after another, written as a list:
///
/// ```swift
/// let model = try Sequential<Float> {
///   try Conv2D(inputChannels: 1, outputChannels: 6, filterSize: 5, padding: 2)
///   Tanh()
///   try MaxPool2D(size: 2, stride: 2)
///   Flatten()
///   try Dense(inputSize: 1176, outputSize: 10)
/// }
/// ```
///
/// Any number of layers; sequences nest. Parameters are named by position,
/// like PyTorch's `nn.Sequential`: `0.weight`, `0.bias`, ...
public struct Sequential<Scalar: TensorScalar>: Layer, CustomReflectable {
  public var layers: [any Layer<Scalar>]

  public init(_ layers: [any Layer<Scalar>]) {
    self.layers = layers
  }

  public init(@LayerBuilder<Scalar> _ build: () throws -> [any Layer<Scalar>]) rethrows {
    self.layers = try build()
  }

  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    layers.reduce(input) { x, layer in layer(x) }
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    var shape = input
    for (index, layer) in layers.enumerated() {
      do {
        shape = try layer.outputShape(for: shape)
      } catch {
        throw ShapeError("layer \(index) (\(layer.summaryName)): \(error.message)")
      }
    }
    return shape
  }

  public var customMirror: Mirror {
    Mirror(
      self,
      children: layers.enumerated().map { (label: String($0.offset), value: $0.element as Any) })
  }
}

/// Builds the list of layers of a ``Sequential``.
@resultBuilder
public enum LayerBuilder<Scalar: TensorScalar> {
  public static func buildExpression(_ layer: any Layer<Scalar>) -> [any Layer<Scalar>] { [layer] }
  public static func buildExpression(_ layers: [any Layer<Scalar>]) -> [any Layer<Scalar>] {
    layers
  }
  public static func buildBlock(_ parts: [any Layer<Scalar>]...) -> [any Layer<Scalar>] {
    parts.flatMap { $0 }
  }
  public static func buildArray(_ parts: [[any Layer<Scalar>]]) -> [any Layer<Scalar>] {
    parts.flatMap { $0 }
  }
  public static func buildOptional(_ part: [any Layer<Scalar>]?) -> [any Layer<Scalar>] {
    part ?? []
  }
  public static func buildEither(first part: [any Layer<Scalar>]) -> [any Layer<Scalar>] { part }
  public static func buildEither(second part: [any Layer<Scalar>]) -> [any Layer<Scalar>] { part }
}
