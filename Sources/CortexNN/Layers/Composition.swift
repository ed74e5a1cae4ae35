import CortexCore

/// Layers that combine other layers: skip connections and parallel
/// branches.

/// A residual block: `body(x) + shortcut(x)`, where the shortcut is the
/// identity unless a projection is given. The add gate sends the upstream
/// gradient unchanged down both paths.
///
/// ```swift
/// try Residual<Float> {
///   try Conv2D(inputChannels: 64, outputChannels: 64, filterSize: 3, padding: 1)
///   try BatchNorm2D(channels: 64)
///   ReLU()
///   try Conv2D(inputChannels: 64, outputChannels: 64, filterSize: 3, padding: 1)
///   try BatchNorm2D(channels: 64)
/// }
/// ```
public struct Residual<Scalar: TensorScalar>: Layer {
  public let body: Sequential<Scalar>
  public let shortcut: Sequential<Scalar>?

  public init(@LayerBuilder<Scalar> _ body: () throws -> [any Layer<Scalar>]) rethrows {
    self.body = Sequential(try body())
    self.shortcut = nil
  }

  public init(
    @LayerBuilder<Scalar> _ body: () throws -> [any Layer<Scalar>],
    @LayerBuilder<Scalar> shortcut: () throws -> [any Layer<Scalar>]
  ) rethrows {
    self.body = Sequential(try body())
    self.shortcut = Sequential(try shortcut())
  }

  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    body(input) + (shortcut?(input) ?? input)
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    let main = try body.outputShape(for: input)
    let skip = try shortcut?.outputShape(for: input) ?? input
    guard main == skip else {
      throw ShapeError(
        "residual block: the body gives \(main) but the shortcut gives \(skip); add a projection")
    }
    return main
  }
}

/// Parallel branches applied to the same input, their outputs concatenated
/// along channels (axis 1): an Inception module.
public struct Branches<Scalar: TensorScalar>: Layer, CustomReflectable {
  public let branches: [Sequential<Scalar>]

  public init(_ branches: [Sequential<Scalar>]) {
    self.branches = branches
  }

  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    Tensor(concatenating: branches.map { $0(input) }, alongAxis: 1)
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    let shapes = try branches.map { (branch) throws(ShapeError) in
      try branch.outputShape(for: input)
    }
    guard var result = shapes.first else { throw ShapeError("Branches needs at least one branch") }
    for shape in shapes.dropFirst() {
      guard shape.count == result.count, shape.count >= 2,
        zip(shape, result).enumerated().allSatisfy({
          $0.offset == 1 || $0.element.0 == $0.element.1
        })
      else {
        throw ShapeError("branch outputs \(shapes) differ outside the channel axis")
      }
      result[1] += shape[1]
    }
    return result
  }

  public var customMirror: Mirror {
    Mirror(
      self,
      children: branches.enumerated().map {
        (label: "branch\($0.offset + 1)", value: $0.element as Any)
      })
  }
}
