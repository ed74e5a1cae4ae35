import CortexKernels
import Foundation

/// 2-D convolution in NCHW layout with PyTorch's filter layout, and the
/// arithmetic of sliding windows shared with pooling.
///
/// Along each spatial axis, an input of size `H` with zero padding `P`, a
/// filter of size `F` with dilation `D` (extent `F_eff = D·(F − 1) + 1`)
/// and stride `S` give `H2 = (H − F_eff + 2P)/S + 1` outputs. The windows
/// fit when that quotient is whole; otherwise the layer is rejected, unless
/// rounding down was asked for (``ConvolutionRounding/floor``).

/// How an output size is computed when the windows do not tile the padded
/// input exactly.
public enum ConvolutionRounding: Sendable, Hashable {
  /// `(H − F_eff + 2P)/S + 1` must be a whole number; otherwise the
  /// windows "don't fit" and the shape is rejected with the arithmetic in
  /// the message (the CS231n rule).
  case exact
  /// `⌊(H − F_eff + 2P)/S⌋ + 1`: the rows and columns that the last window
  /// cannot reach are left out (PyTorch's rule; ResNet and GoogLeNet need
  /// it).
  case floor
  /// `⌈(H − F + 2P)/S⌉ + 1`, less one if the last window would start past
  /// the input and its left padding: every input row is covered, the last
  /// window overhanging the edge (PyTorch's `ceil_mode=True`; ZFNet's
  /// sizes need it). Max pooling only: a convolution or an average
  /// pooling rejects it.
  case ceil
}

/// What a validation message says about the window it checks: a filter or
/// a pooling window, with the sizes of both axes.
struct WindowDescription {
  /// "filter" or "window".
  var noun: String
  var input: Extent
  var window: Extent
  var stride: Extent
  var padding: Extent
  var dilation: Extent

  /// Whether both axes have the same sizes, so that one message describes
  /// the square case as the notes do ("a 3×3 filter ... a 7×7 input").
  var isSquare: Bool {
    input.height == input.width && window.height == window.width
      && stride.height == stride.width && padding.height == padding.width
      && dilation.height == dilation.width
  }

  /// "a 3×3 filter", followed by its dilation and extent when dilated and
  /// by its stride when asked: "a 3×3 filter with dilation 2 (extent 5)
  /// and stride 3".
  func windowPhrase(extent: Int, withStride: Bool = false) -> String {
    var details: [String] = []
    if dilation != Extent(height: 1, width: 1) {
      details.append(pairPhrase("dilation", dilation) + " (extent \(extent))")
    }
    if withStride { details.append(pairPhrase("stride", stride)) }
    let phrase = "\(article(window.height)) \(window.height)×\(window.width) \(noun)"
    return details.isEmpty ? phrase : phrase + " with " + details.joined(separator: " and ")
  }

  /// "stride 3", or "strides (2, 3)" when the axes differ.
  func pairPhrase(_ name: String, _ pair: Extent) -> String {
    pair.height == pair.width
      ? "\(name) \(pair.height)" : "\(name)s (\(pair.height), \(pair.width))"
  }

  /// "a 7×7 input", or "the width of a 7×9 input" when the axes differ.
  func inputPhrase(axis: String) -> String {
    let input = "\(article(self.input.height)) \(self.input.height)×\(self.input.width) input"
    return isSquare ? input : "the \(axis) of \(input)"
  }
}

/// "an" before a number read with a vowel sound first (8, 11, 18, 80,
/// 800, 11 000, ...), "a" before the others.
func article(_ number: Int) -> String {
  let digits = String(number)
  let eleven = digits.count % 3 == 2 && (digits.hasPrefix("11") || digits.hasPrefix("18"))
  return digits.hasPrefix("8") || eleven ? "an" : "a"
}

/// `numerator/denominator + 1` with enough decimals to show that it is not
/// whole: "2.33".
private func decimalQuotientPlusOne(_ numerator: Int, _ denominator: Int) -> String {
  let digits = max(2, String(denominator).count)
  var text = String(format: "%.\(digits)f", Double(numerator) / Double(denominator) + 1)
  while text.hasSuffix("0") { text.removeLast() }
  return text
}

/// The output size along one axis of a sliding window, or the reason there
/// is none.
///
/// - Parameters:
///   - axis: "height" or "width", named in messages about non-square shapes.
///   - paddingLimit: the largest padding allowed (pooling allows half the
///     window), or `nil` for no limit.
func slidingWindowOutputSize(
  input: Int, window: Int, stride: Int, padding: Int, dilation: Int,
  rounding: ConvolutionRounding, axis: String, paddingLimit: Int? = nil,
  described d: WindowDescription
) throws(ShapeError) -> Int {
  let axisName = d.isSquare ? "size" : axis
  guard input > 0 else { throw ShapeError("input \(axisName) must be positive, found \(input)") }
  guard window > 0 else {
    throw ShapeError("\(d.noun) \(axisName) must be positive, found \(window)")
  }
  guard stride > 0 else { throw ShapeError("stride must be positive, found \(stride)") }
  guard padding >= 0 else { throw ShapeError("padding must not be negative, found \(padding)") }
  guard dilation > 0 else { throw ShapeError("dilation must be positive, found \(dilation)") }
  if let paddingLimit, padding > paddingLimit {
    let window = "\(d.window.height)×\(d.window.width) \(d.noun)"
    let part = d.isSquare ? "" : "'s \(axis)"
    throw ShapeError("padding \(padding) is more than half of the \(window)\(part)")
  }
  let extent = dilation * (window - 1) + 1
  let span = input - extent + 2 * padding
  guard span >= 0 else {
    let what = "\(d.windowPhrase(extent: extent)) is larger than \(d.inputPhrase(axis: axis))"
    let arithmetic = "\(extent) > \(input) + 2·\(padding)"
    throw ShapeError("\(what) padded by \(padding): \(arithmetic)")
  }
  if rounding == .ceil {
    let size = (span + stride - 1) / stride + 1
    return (size - 1) * stride >= input + padding ? size - 1 : size
  }
  if rounding == .exact && span % stride != 0 {
    let arithmetic =
      "(\(input) − \(extent) + 2·\(padding))/\(stride) + 1 = \(decimalQuotientPlusOne(span, stride))"
    let what = d.windowPhrase(extent: extent, withStride: true)
    throw ShapeError("\(arithmetic): \(what) does not fit \(d.inputPhrase(axis: axis))")
  }
  return span / stride + 1
}

/// The output size of a convolution along one spatial axis:
/// `(input − F_eff + 2·padding)/stride + 1`, with
/// `F_eff = dilation·(filter − 1) + 1`.
///
/// With ``ConvolutionRounding/exact`` (the default) the quotient must be
/// whole. The messages describe a square `filter×filter` filter over an
/// `input×input` input, as in the notes: 7 with filter 3 and stride 3
/// throws "(7 − 3 + 2·0)/3 + 1 = 2.33: a 3×3 filter with stride 3 does not
/// fit a 7×7 input". Sizes and strides must be positive, padding must not
/// be negative, and the filter's extent must not exceed the padded input.
///
/// - Returns: the output size; `(32 − 5 + 2·2)/1 + 1 = 32`.
public func convolutionOutputSize(
  input: Int, filter: Int, stride: Int, padding: Int, dilation: Int = 1,
  rounding: ConvolutionRounding = .exact
) throws(ShapeError) -> Int {
  let square = { (size: Int) in Extent(height: size, width: size) }
  return try slidingWindowOutputSize(
    input: input, window: filter, stride: stride, padding: padding, dilation: dilation,
    rounding: rounding, axis: "size",
    described: WindowDescription(
      noun: "filter", input: square(input), window: square(filter), stride: square(stride),
      padding: square(padding), dilation: square(dilation)))
}

/// Validates a convolution's shapes and computes its sizes.
func convolutionGeometry(
  input: [Int], filters: [Int], bias: [Int]?, stride: Extent, padding: Extent,
  dilation: Extent, rounding: ConvolutionRounding
) throws(ShapeError) -> ConvolutionGeometry {
  guard input.count == 4 else {
    throw ShapeError("conv2d expects an input of shape [N, C, H, W], found \(input)")
  }
  guard filters.count == 4 else {
    throw ShapeError("conv2d expects filters of shape [K, C, Fh, Fw], found \(filters)")
  }
  guard input[0] >= 0 else {
    throw ShapeError("batch size must not be negative, found \(input[0])")
  }
  guard input[1] > 0 else { throw ShapeError("input depth must be positive, found \(input[1])") }
  guard filters[0] > 0 else {
    throw ShapeError("the number of filters must be positive, found \(filters[0])")
  }
  guard filters[1] == input[1] else {
    throw ShapeError("filter depth \(filters[1]) does not match input depth \(input[1])")
  }
  if let bias, bias != [filters[0]] {
    throw ShapeError(
      "bias of shape \(bias) does not match \(filters[0]) filters: expected [\(filters[0])]")
  }
  guard rounding != .ceil else {
    throw ShapeError("a convolution fits exactly or floors; ceil rounding is for max pooling")
  }
  let description = WindowDescription(
    noun: "filter", input: Extent(height: input[2], width: input[3]),
    window: Extent(height: filters[2], width: filters[3]), stride: stride, padding: padding,
    dilation: dilation)
  let height = try slidingWindowOutputSize(
    input: input[2], window: filters[2], stride: stride.height, padding: padding.height,
    dilation: dilation.height, rounding: rounding, axis: "height", described: description)
  let width = try slidingWindowOutputSize(
    input: input[3], window: filters[3], stride: stride.width, padding: padding.width,
    dilation: dilation.width, rounding: rounding, axis: "width", described: description)
  return ConvolutionGeometry(
    batch: input[0], channels: input[1], filters: filters[0],
    plane: WindowGeometry(
      input: description.input, window: description.window, stride: stride, padding: padding,
      dilation: dilation, output: Extent(height: height, width: width)))
}

/// The output shape `[N, K, H2, W2]` of
/// ``conv2d(_:filters:bias:strides:paddings:dilations:rounding:)``, or the
/// reason the shapes cannot work; use it to validate a model before
/// running it.
///
/// - Parameters:
///   - input: `[N, C, H, W]`.
///   - filters: `[K, C, Fh, Fw]`; the filter depth must equal the input
///     depth ("filter depth 3 does not match input depth 6").
///   - bias: `[K]`, or `nil`.
///   - strides: `(height, width)` steps of the filter, each at least 1.
///   - paddings: `(height, width)` zeros added on each side.
///   - dilations: `(height, width)` spacing of the filter's taps.
///   - rounding: `.exact` rejects windows that don't fit; `.floor` rounds
///     the output size down.
public func conv2dOutputShape(
  input: [Int], filters: [Int], bias: [Int]? = nil, strides: (Int, Int),
  paddings: (Int, Int) = (0, 0), dilations: (Int, Int) = (1, 1),
  rounding: ConvolutionRounding = .exact
) throws(ShapeError) -> [Int] {
  let g = try convolutionGeometry(
    input: input, filters: filters, bias: bias, stride: Extent(strides),
    padding: Extent(paddings), dilation: Extent(dilations), rounding: rounding)
  return [g.batch, g.filters, g.plane.output.height, g.plane.output.width]
}

/// The output shape `[N, K, H2, W2]` of
/// ``conv2d(_:filters:bias:stride:padding:dilation:rounding:)``, with the
/// same stride, padding and dilation along both axes: 32×32×3 with ten 5×5
/// filters, stride 1 and padding 2 gives `[N, 10, 32, 32]`.
public func conv2dOutputShape(
  input: [Int], filters: [Int], bias: [Int]? = nil, stride: Int = 1, padding: Int = 0,
  dilation: Int = 1, rounding: ConvolutionRounding = .exact
) throws(ShapeError) -> [Int] {
  try conv2dOutputShape(
    input: input, filters: filters, bias: bias, strides: (stride, stride),
    paddings: (padding, padding), dilations: (dilation, dilation), rounding: rounding)
}

/// 2-D convolution (cross-correlation, as in PyTorch) of a batch of images
/// with a bank of filters, with separate `(height, width)` strides,
/// paddings and dilations.
///
/// ```
/// y[n, k, oh, ow] = b[k] + Σ_{c,i,j} w[k, c, i, j]
///                            · x[n, c, oh·Sh − Ph + i·Dh, ow·Sw − Pw + j·Dw]
/// ```
/// where `x` is zero outside the input (zero padding). The output has
/// `H2 = (H − F_eff + 2P)/S + 1` rows (`F_eff = D·(F − 1) + 1`), `W2`
/// columns likewise, and `K` channels.
///
/// Computed with im2col and one GEMM per image. Pullback: the input's
/// gradient is col2im of `Wᵀ·∂y`, the filters' is `Σₙ ∂y·colsᵀ`, the
/// bias's is the sum of `∂y` over images and positions; each is computed
/// only when that input is being differentiated.
///
/// - Parameters:
///   - input: `[N, C, H, W]`.
///   - filters: `[K, C, Fh, Fw]`: `K` filters whose depth equals the input
///     depth `C`; `(Fh·Fw·C)·K` weights.
///   - bias: `[K]`, one per filter, or `nil`.
///   - strides: `(height, width)` steps of the filter, each at least 1.
///   - paddings: `(height, width)` zeros added on each side.
///   - dilations: `(height, width)` spacing of the filter's taps.
///   - rounding: `.exact` (the default) rejects windows that don't fit;
///     `.floor` rounds the output size down.
/// - Returns: `[N, K, H2, W2]`.
/// - Precondition: the shapes pass
///   ``conv2dOutputShape(input:filters:bias:strides:paddings:dilations:rounding:)``;
///   otherwise the call traps with its message.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func conv2d<Scalar>(
  _ input: Tensor<Scalar>, filters: Tensor<Scalar>, bias: Tensor<Scalar>? = nil,
  strides: (Int, Int), paddings: (Int, Int) = (0, 0), dilations: (Int, Int) = (1, 1),
  rounding: ConvolutionRounding = .exact
) -> Tensor<Scalar> {
  let g: ConvolutionGeometry
  do {
    g = try convolutionGeometry(
      input: input.shape, filters: filters.shape, bias: bias?.shape, stride: Extent(strides),
      padding: Extent(paddings), dilation: Extent(dilations), rounding: rounding)
  } catch {
    preconditionFailure(
      "conv2d: \(error.message) (input \(input.shape), filters \(filters.shape))")
  }
  let inputs = [input, filters] + (bias.map { [$0] } ?? [])
  let backend = commonBackend("conv2d", inputs)
  let output = backend.convolution(input, filters: filters, bias: bias, g)
  return recordFused(
    "conv2d", inputs: inputs, output: output,
    composed: { inputs in
      convolutionByPatches(
        inputs[0], filters: inputs[1], bias: inputs.count > 2 ? inputs[2] : nil, g)
    }
  ) { upstream, needsGradient in
    backend.convolutionGradients(
      upstream, input: input, filters: filters, needs: needsGradient, g)
  }
}

/// 2-D convolution with the same stride, padding and dilation along both
/// axes: `conv2d(x, filters: w, bias: b, stride: 2, padding: 1)`.
///
/// See ``conv2d(_:filters:bias:strides:paddings:dilations:rounding:)``.
/// With stride 1, padding `(F − 1)/2` keeps the spatial size.
///
/// - Parameters:
///   - input: `[N, C, H, W]`.
///   - filters: `[K, C, F, F]` (or `[K, C, Fh, Fw]`).
///   - bias: `[K]`, or `nil`.
///   - stride: `S`, the filter's step along both axes.
///   - padding: `P` zeros on each side.
///   - dilation: the spacing of the filter's taps.
///   - rounding: `.exact` rejects windows that don't fit; `.floor` rounds
///     the output size down.
/// - Returns: `[N, K, H2, W2]` with `H2 = (H − F_eff + 2P)/S + 1`.
public func conv2d<Scalar>(
  _ input: Tensor<Scalar>, filters: Tensor<Scalar>, bias: Tensor<Scalar>? = nil,
  stride: Int = 1, padding: Int = 0, dilation: Int = 1, rounding: ConvolutionRounding = .exact
) -> Tensor<Scalar> {
  conv2d(
    input, filters: filters, bias: bias, strides: (stride, stride),
    paddings: (padding, padding), dilations: (dilation, dilation), rounding: rounding)
}

/// The convolution written in recorded operations, for gradients of
/// gradients: the patches of each image (`[N, C·Fh·Fw, H2·W2]`) times the
/// filters seen as a `[K, C·Fh·Fw]` matrix, plus the bias.
private func convolutionByPatches<Scalar>(
  _ input: Tensor<Scalar>, filters: Tensor<Scalar>, bias: Tensor<Scalar>?, _ g: ConvolutionGeometry
) -> Tensor<Scalar> {
  let patches = unfoldedPatches(input, g).permuted([0, 2, 1])
  let product = matmul(patches, filters.reshaped(to: [g.filters, g.patchSize]), transposeB: true)
  let output = product.permuted([0, 2, 1]).reshaped(to: [
    g.batch, g.filters, g.plane.output.height, g.plane.output.width,
  ])
  guard let bias else { return output }
  return output + bias.reshaped(to: [g.filters, 1, 1])
}

/// The column matrix of every image of `input` (`[N, C, H, W]`), as
/// `[N, C·Fh·Fw, H2·W2]` (im2col), recorded: its pullback folds the
/// columns back onto the image (col2im), whose pullback unfolds again.
private func unfoldedPatches<Scalar>(_ input: Tensor<Scalar>, _ g: ConvolutionGeometry)
  -> Tensor<Scalar>
{
  let output = input.backend("im2col").patches(input, g)
  return record("im2col", input, output: output) { foldedPatches($0, g) }
}

/// The adjoint of ``unfoldedPatches(_:_:)``: each column of
/// `[N, C·Fh·Fw, H2·W2]` added onto the image positions it came from.
private func foldedPatches<Scalar>(_ columns: Tensor<Scalar>, _ g: ConvolutionGeometry)
  -> Tensor<Scalar>
{
  let output = columns.backend("col2im").foldedPatches(columns, g)
  return record("col2im", columns, output: output) { unfoldedPatches($0, g) }
}
