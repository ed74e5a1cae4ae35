import CortexKernels

/// Pooling over NCHW tensors: max pooling (the max gate over each window),
/// average pooling and global average pooling. Pooling has no parameters
/// and keeps the depth; a window of size `F` and stride `S` gives
/// `H2 = (H − F + 2P)/S + 1`, with the same fit rule as convolution.

/// Validates a pooling's shapes and computes its sizes.
func poolingGeometry(
  input: [Int], size: Extent, stride: Extent, padding: Extent, rounding: ConvolutionRounding
) throws(ShapeError) -> (planes: Int, plane: WindowGeometry) {
  guard input.count == 4 else {
    throw ShapeError("pooling expects an input of shape [N, C, H, W], found \(input)")
  }
  guard input[0] >= 0 && input[1] >= 0 else {
    throw ShapeError("pooling expects a non-negative batch size and depth, found \(input)")
  }
  let one = Extent(height: 1, width: 1)
  let description = WindowDescription(
    noun: "window", input: Extent(height: input[2], width: input[3]), window: size,
    stride: stride, padding: padding, dilation: one)
  let height = try slidingWindowOutputSize(
    input: input[2], window: size.height, stride: stride.height, padding: padding.height,
    dilation: 1, rounding: rounding, axis: "height", paddingLimit: size.height / 2,
    described: description)
  let width = try slidingWindowOutputSize(
    input: input[3], window: size.width, stride: stride.width, padding: padding.width,
    dilation: 1, rounding: rounding, axis: "width", paddingLimit: size.width / 2,
    described: description)
  return (
    input[0] * input[1],
    WindowGeometry(
      input: description.input, window: size, stride: stride, padding: padding, dilation: one,
      output: Extent(height: height, width: width))
  )
}

/// The output shape `[N, C, H2, W2]` of max or average pooling with
/// `(height, width)` window sizes, strides and paddings, or the reason the
/// shapes cannot work: `H2 = (H − Fh + 2Ph)/Sh + 1` must be whole (unless
/// `rounding` is `.floor`), and padding may be at most half the window.
///
/// - Parameters:
///   - input: `[N, C, H, W]`.
///   - sizes: `(height, width)` of the window.
///   - strides: `(height, width)` steps of the window.
///   - paddings: `(height, width)` on each side.
///   - rounding: `.exact` rejects windows that don't fit; `.floor` rounds
///     the output size down.
public func pool2dOutputShape(
  input: [Int], sizes: (Int, Int), strides: (Int, Int), paddings: (Int, Int) = (0, 0),
  rounding: ConvolutionRounding = .exact
) throws(ShapeError) -> [Int] {
  let (_, plane) = try poolingGeometry(
    input: input, size: Extent(sizes), stride: Extent(strides), padding: Extent(paddings),
    rounding: rounding)
  return [input[0], input[1], plane.output.height, plane.output.width]
}

/// The output shape `[N, C, H2, W2]` of pooling with a square window:
/// 2×2 with stride 2 halves the width and height (224×224×64 →
/// 112×112×64).
///
/// - Parameters:
///   - input: `[N, C, H, W]`.
///   - size: `F`, the side of the window.
///   - stride: `S`, the window's step.
///   - padding: `P` on each side, at most half the window.
///   - rounding: `.exact` rejects windows that don't fit; `.floor` rounds
///     the output size down.
public func pool2dOutputShape(
  input: [Int], size: Int, stride: Int, padding: Int = 0, rounding: ConvolutionRounding = .exact
) throws(ShapeError) -> [Int] {
  try pool2dOutputShape(
    input: input, sizes: (size, size), strides: (stride, stride), paddings: (padding, padding),
    rounding: rounding)
}

/// The pooling geometry of `x`, trapping with `name` and the reason when
/// the shapes cannot work.
private func validatedPooling<Scalar>(
  _ name: String, _ x: Tensor<Scalar>, sizes: (Int, Int), strides: (Int, Int),
  paddings: (Int, Int), rounding: ConvolutionRounding
) -> (planes: Int, plane: WindowGeometry) {
  precondition(
    rounding != .ceil || name == "maxPool2d",
    "\(name): ceil rounding is for max pooling; an overhanging window has no PyTorch divisor here")
  do {
    return try poolingGeometry(
      input: x.shape, size: Extent(sizes), stride: Extent(strides), padding: Extent(paddings),
      rounding: rounding)
  } catch {
    preconditionFailure("\(name): \(error.message) (input \(x.shape))")
  }
}

// MARK: - Max pooling

/// Max pooling with `(height, width)` window sizes, strides and paddings:
/// `y[n, c, oh, ow] = max_{i,j} x[n, c, oh·Sh − Ph + i, ow·Sw − Pw + j]`
/// over the positions inside the input.
///
/// Pullback: the max gate. Each output's gradient goes to the input that
/// attained the maximum of its window, 0 to the others (summed where
/// windows overlap). On a tie the first element of the window in row-major
/// order wins; padding positions never win (they act as −∞).
///
/// - Parameters:
///   - x: `[N, C, H, W]`.
///   - sizes: `(height, width)` of the window.
///   - strides: `(height, width)` steps of the window.
///   - paddings: `(height, width)`; padding is at most
///     half the window.
///   - rounding: `.exact` (the default) rejects windows that don't fit;
///     `.floor` rounds the output size down; `.ceil` rounds it up, the
///     last window overhanging the edge (only the positions inside the
///     input compete).
/// - Returns: `[N, C, H2, W2]`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func maxPool2d<Scalar>(
  _ x: Tensor<Scalar>, sizes: (Int, Int), strides: (Int, Int), paddings: (Int, Int) = (0, 0),
  rounding: ConvolutionRounding = .exact
) -> Tensor<Scalar> {
  let (planes, g) = validatedPooling(
    "maxPool2d", x, sizes: sizes, strides: strides, paddings: paddings, rounding: rounding)
  requireWinnerIndices("maxPool2d", x)
  let (output, winners, route) = x.backend("maxPool2d").maxPool(x, planes: planes, g)
  return recordMaxGate("maxPool2d", x, output: output, winners: winners, route: route)
}

/// Max pooling with a square `size×size` window:
/// `maxPool2d(x, size: 2, stride: 2)` halves the width and height.
///
/// See ``maxPool2d(_:sizes:strides:paddings:rounding:)``; the gradient goes
/// to the first maximum of each window.
///
/// - Parameters:
///   - x: `[N, C, H, W]`.
///   - size: `F`, the side of the window.
///   - stride: `S`, the window's step.
///   - padding: `P` on each side, at most half the window.
///   - rounding: `.exact` rejects windows that don't fit; `.floor` rounds
///     the output size down.
/// - Returns: `[N, C, H2, W2]` with `H2 = (H − F + 2P)/S + 1`.
public func maxPool2d<Scalar>(
  _ x: Tensor<Scalar>, size: Int, stride: Int, padding: Int = 0,
  rounding: ConvolutionRounding = .exact
) -> Tensor<Scalar> {
  maxPool2d(
    x, sizes: (size, size), strides: (stride, stride), paddings: (padding, padding),
    rounding: rounding)
}

// MARK: - Average pooling

/// Average pooling with `(height, width)` window sizes, strides and
/// paddings:
/// ```
/// y[n, c, oh, ow] = (1 / (Fh·Fw)) Σ_{i,j} x[n, c, oh·Sh − Ph + i, ow·Sw − Pw + j]
/// ```
///
/// Padding positions count as zeros and the divisor is always the full
/// window size `Fh·Fw` (PyTorch's default, `count_include_pad = true`).
/// Pullback: each output's gradient, divided by `Fh·Fw`, goes to every
/// input of its window.
///
/// - Parameters:
///   - x: `[N, C, H, W]`.
///   - sizes: `(height, width)` of the window.
///   - strides: `(height, width)` steps of the window.
///   - paddings: `(height, width)`; padding is at most
///     half the window.
///   - rounding: `.exact` (the default) or `.floor`.
/// - Returns: `[N, C, H2, W2]`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func avgPool2d<Scalar>(
  _ x: Tensor<Scalar>, sizes: (Int, Int), strides: (Int, Int), paddings: (Int, Int) = (0, 0),
  rounding: ConvolutionRounding = .exact
) -> Tensor<Scalar> {
  let (planes, g) = validatedPooling(
    "avgPool2d", x, sizes: sizes, strides: strides, paddings: paddings, rounding: rounding)
  return averagePooled(x, planes: planes, g)
}

/// Average pooling, recorded: its pullback spreads each output's gradient
/// over its window (the adjoint), recorded in turn with average pooling as
/// its pullback, so that gradients of any order exist.
private func averagePooled<Scalar>(_ x: Tensor<Scalar>, planes: Int, _ g: WindowGeometry)
  -> Tensor<Scalar>
{
  let output = x.backend("avgPool2d").averagePool(x, planes: planes, g)
  let inputShape = x.shape
  return record("avgPool2d", x, output: output) { upstream in
    let gradient = upstream.backend("avgPool2d").averagePoolGradient(
      upstream, inputShape: inputShape, planes: planes, g)
    return record("avgPool2d′", upstream, output: gradient) { averagePooled($0, planes: planes, g) }
  }
}

/// Average pooling with a square `size×size` window; padding counts as
/// zeros and the divisor is `size²`.
///
/// See ``avgPool2d(_:sizes:strides:paddings:rounding:)``.
///
/// - Parameters:
///   - x: `[N, C, H, W]`.
///   - size: `F`, the side of the window.
///   - stride: `S`, the window's step.
///   - padding: `P` on each side, at most half the window.
///   - rounding: `.exact` rejects windows that don't fit; `.floor` rounds
///     the output size down.
/// - Returns: `[N, C, H2, W2]` with `H2 = (H − F + 2P)/S + 1`.
public func avgPool2d<Scalar>(
  _ x: Tensor<Scalar>, size: Int, stride: Int, padding: Int = 0,
  rounding: ConvolutionRounding = .exact
) -> Tensor<Scalar> {
  avgPool2d(
    x, sizes: (size, size), strides: (stride, stride), paddings: (padding, padding),
    rounding: rounding)
}

/// Global average pooling: the mean of each channel over its whole plane,
/// `y[n, c] = (1 / (H·W)) Σ_{h,w} x[n, c, h, w]`, as GoogLeNet and ResNet
/// use in place of large fully connected layers (7×7×512 → 512).
///
/// The result is `[N, C]`, ready for a linear layer without flattening.
/// Pullback: each gradient, divided by `H·W`, goes to every element of its
/// plane.
///
/// - Parameter x: `[N, C, H, W]`.
/// - Returns: `[N, C]`.
public func globalAvgPool2d<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
  precondition(
    x.rank == 4, "globalAvgPool2d: expects an input of shape [N, C, H, W], found \(x.shape)")
  precondition(
    x.shape[2] > 0 && x.shape[3] > 0,
    "globalAvgPool2d: the planes of an input of shape \(x.shape) are empty")
  return x.mean(alongAxes: [2, 3])
}
