import CortexCore

/// Convolution and pooling layers, NCHW, with PyTorch's weight shapes.

/// A 2-D convolution: `K` filters of shape `[C, F, F]` slid over the input
/// with stride `S` and zero padding `P`; output `W2 = (W1 − F + 2P)/S + 1`,
/// `D2 = K`, with `F·F·C·K` weights and `K` biases.
public struct Conv2D<Scalar: TensorScalar>: Layer {
  /// `[K, C, F, F]`.
  public let weight: Parameter<Scalar>
  /// `[K]`.
  public let bias: Parameter<Scalar>?
  public let stride: Int
  public let padding: Int
  public let dilation: Int
  public let rounding: ConvolutionRounding

  /// A convolution of `inputChannels` → `outputChannels` with square
  /// `filterSize × filterSize` filters.
  ///
  /// - Parameters:
  ///   - inputChannels: `C`, the depth of the input.
  ///   - outputChannels: `K`, the number of filters.
  ///   - filterSize: `F`.
  ///   - stride: `S`, at least 1.
  ///   - padding: `P` zeros on each side, at least 0; `(F − 1)/2` keeps the
  ///     size at stride 1.
  ///   - dilation: the spacing of the filter's taps, at least 1.
  ///   - useBias: whether to add a bias per filter.
  ///   - rounding: `.exact` rejects inputs the filter does not fit;
  ///     `.floor` drops the leftover rows and columns like PyTorch.
  ///   - weightInitializer: default `.lecunUniform` (±1/√(C·F·F), PyTorch's default).
  /// - Throws: ``HyperparameterError`` for a size that is not positive or
  ///   a negative padding.
  public init(
    inputChannels: Int, outputChannels: Int, filterSize: Int, stride: Int = 1, padding: Int = 0,
    dilation: Int = 1, useBias: Bool = true, rounding: ConvolutionRounding = .exact,
    weightInitializer: Initializer = .lecunUniform
  ) throws(HyperparameterError) {
    for (value, name) in [
      (inputChannels, "inputChannels"), (outputChannels, "outputChannels"),
      (filterSize, "filterSize"), (stride, "stride"), (dilation, "dilation"),
    ] {
      try HyperparameterError.requirePositive(value, name, of: "Conv2D")
    }
    guard padding >= 0 else {
      throw HyperparameterError("Conv2D: padding must not be negative, found \(padding)")
    }
    let fanIn = inputChannels * filterSize * filterSize
    weight = Parameter(
      weightInitializer.make(
        [outputChannels, inputChannels, filterSize, filterSize], fanIn: fanIn,
        fanOut: outputChannels * filterSize * filterSize))
    bias =
      useBias
      ? Parameter(
        Initializer.lecunUniform.make([outputChannels], fanIn: fanIn, fanOut: outputChannels)) : nil
    self.stride = stride
    self.padding = padding
    self.dilation = dilation
    self.rounding = rounding
  }

  /// - Parameter input: `[N, C, H, W]`. Returns `[N, K, H2, W2]`.
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    conv2d(
      input, filters: weight.value, bias: bias?.value, stride: stride, padding: padding,
      dilation: dilation,
      rounding: rounding)
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    try conv2dOutputShape(
      input: input, filters: weight.shape, bias: bias?.shape, stride: stride, padding: padding,
      dilation: dilation, rounding: rounding)
  }
}

/// The window of a pooling layer: its size, stride, padding and rounding,
/// validated once.
public struct PoolingWindow: Equatable, Sendable {
  public let size: Int
  public let stride: Int
  public let padding: Int
  public let rounding: ConvolutionRounding

  /// Windows must have a positive size and stride, and padding of at most
  /// half the window, so that every window holds part of the input.
  ///
  /// - Parameters:
  ///   - layer: the layer's name, for the error message.
  ///   - size: `F`, the side of the window.
  ///   - stride: `S`; the window's size when `nil`.
  ///   - padding: `P` on each side.
  ///   - rounding: `.exact` rejects windows that don't fit; `.floor` rounds
  ///     the output size down.
  init(
    _ layer: String, size: Int, stride: Int?, padding: Int, rounding: ConvolutionRounding
  ) throws(HyperparameterError) {
    try HyperparameterError.requirePositive(size, "size", of: layer)
    try HyperparameterError.requirePositive(stride ?? size, "stride", of: layer)
    guard padding >= 0 else {
      throw HyperparameterError("\(layer): padding must not be negative, found \(padding)")
    }
    guard 2 * padding <= size else {
      throw HyperparameterError(
        "\(layer): padding \(padding) is more than half of the \(size)×\(size) window")
    }
    self.size = size
    self.stride = stride ?? size
    self.padding = padding
    self.rounding = rounding
  }

  func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    try pool2dOutputShape(
      input: input, size: size, stride: stride, padding: padding, rounding: rounding)
  }
}

/// Max pooling over `size × size` windows: the max gate per window.
public struct MaxPool2D<Scalar: TensorScalar>: Layer {
  public let window: PoolingWindow

  /// - Parameters:
  ///   - size: `F`, the side of the window.
  ///   - stride: `S`; the window's size when `nil`.
  ///   - padding: `P` on each side, at most half the window.
  ///   - rounding: `.exact` rejects windows that don't fit; `.floor` rounds
  ///     the output size down; `.ceil` rounds it up (PyTorch's `ceil_mode`).
  /// - Throws: ``HyperparameterError`` for a size or stride that is not
  ///   positive, or a padding outside `0...size/2`.
  public init(
    size: Int, stride: Int? = nil, padding: Int = 0, rounding: ConvolutionRounding = .exact
  ) throws(HyperparameterError) {
    window = try PoolingWindow(
      "MaxPool2D", size: size, stride: stride, padding: padding, rounding: rounding)
  }

  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    maxPool2d(
      input, size: window.size, stride: window.stride, padding: window.padding,
      rounding: window.rounding)
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    try window.outputShape(for: input)
  }
}

/// Average pooling over `size × size` windows.
public struct AvgPool2D<Scalar: TensorScalar>: Layer {
  public let window: PoolingWindow

  /// - Parameters:
  ///   - size: `F`, the side of the window.
  ///   - stride: `S`; the window's size when `nil`.
  ///   - padding: `P` on each side, at most half the window.
  ///   - rounding: `.exact` rejects windows that don't fit; `.floor` rounds
  ///     the output size down.
  /// - Throws: ``HyperparameterError`` for a size or stride that is not
  ///   positive, or a padding outside `0...size/2`.
  public init(
    size: Int, stride: Int? = nil, padding: Int = 0, rounding: ConvolutionRounding = .exact
  ) throws(HyperparameterError) {
    guard rounding != .ceil else {
      throw HyperparameterError("AvgPool2D: ceil rounding is for max pooling; use .exact or .floor")
    }
    window = try PoolingWindow(
      "AvgPool2D", size: size, stride: stride, padding: padding, rounding: rounding)
  }

  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    avgPool2d(
      input, size: window.size, stride: window.stride, padding: window.padding,
      rounding: window.rounding)
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    try window.outputShape(for: input)
  }
}

/// The mean of each channel: `[N, C, H, W]` → `[N, C]` (GoogLeNet's
/// replacement of the fully connected layers).
public struct GlobalAvgPool2D<Scalar: TensorScalar>: Layer {
  public init() {}

  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> { globalAvgPool2d(input) }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    guard input.count == 4 else {
      throw ShapeError("GlobalAvgPool2D expects [N, C, H, W], found \(input)")
    }
    return [input[0], input[1]]
  }
}
