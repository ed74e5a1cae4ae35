/// The sizes of sliding windows over NCHW planes, shared by convolution and
/// pooling.

/// A pair of sizes, one per spatial axis.
public struct Extent: Sendable, Equatable {
  /// The size along the rows.
  public var height: Int
  /// The size along the columns.
  public var width: Int

  /// The extent `height × width`.
  @inlinable
  public init(height: Int, width: Int) {
    self.height = height
    self.width = width
  }

  /// The extent `(height, width)`.
  @inlinable
  public init(_ pair: (Int, Int)) {
    self.init(height: pair.0, width: pair.1)
  }
}

/// The sizes of a sliding window over one `H×W` plane: the window, its
/// stride, zero padding and dilation, and the output plane they produce.
public struct WindowGeometry: Sendable, Equatable {
  /// The input plane, `H×W`.
  public var input: Extent
  /// The window, `Fh×Fw`.
  public var window: Extent
  /// The step between neighbouring windows.
  public var stride: Extent
  /// Zeros added on each side of the input.
  public var padding: Extent
  /// The step between neighbouring taps of one window.
  public var dilation: Extent
  /// The output plane, `H2×W2`.
  public var output: Extent

  /// The geometry of windows `window` over `input`, producing `output`.
  @inlinable
  public init(
    input: Extent, window: Extent, stride: Extent, padding: Extent, dilation: Extent,
    output: Extent
  ) {
    (self.input, self.window, self.stride) = (input, window, stride)
    (self.padding, self.dilation, self.output) = (padding, dilation, output)
  }

  /// `H·W`.
  @inlinable public var inputCount: Int { input.height * input.width }
  /// `Fh·Fw`.
  @inlinable public var windowCount: Int { window.height * window.width }
  /// `H2·W2`.
  @inlinable public var outputCount: Int { output.height * output.width }

  /// Stride 1 and dilation 1 along both axes: each row of the column matrix
  /// is the input plane shifted by the window tap, with zeros where it
  /// falls in the padding.
  @inlinable public var isUnitStrideAndDilation: Bool {
    let one = Extent(height: 1, width: 1)
    return stride == one && dilation == one
  }

  /// The windows of the transposed convolution that takes an output
  /// gradient back to its input, when there is one that costs about as
  /// much as the convolution: stride 1, padding at most the window's
  /// extent less one, and an input at most an eighth larger than the
  /// output. Its input is this output, padded by `D·(F − 1) − P`; its
  /// output is this input.
  @inlinable public var transposed: WindowGeometry? {
    guard stride == Extent(height: 1, width: 1) else { return nil }
    let reach = Extent(
      height: dilation.height * (window.height - 1), width: dilation.width * (window.width - 1))
    guard padding.height <= reach.height && padding.width <= reach.width,
      8 * inputCount <= 9 * outputCount
    else { return nil }
    return WindowGeometry(
      input: output, window: window, stride: stride,
      padding: Extent(height: reach.height - padding.height, width: reach.width - padding.width),
      dilation: dilation, output: input)
  }

  /// Whether the windows are 2×2 with stride 2 and no padding and tile the
  /// input exactly (even height and width): every input lies in exactly
  /// one window, and the two input rows of an output row are contiguous.
  @inlinable public var tiles2x2: Bool {
    window == Extent(height: 2, width: 2) && stride == Extent(height: 2, width: 2)
      && padding == Extent(height: 0, width: 0) && input.height == 2 * output.height
      && input.width == 2 * output.width
  }
}

/// The sizes of a batched 2-D convolution: input `[N, C, H, W]`, filters
/// `[K, C, Fh, Fw]`, output `[N, K, H2, W2]`.
public struct ConvolutionGeometry: Sendable, Equatable {
  /// `N`.
  public var batch: Int
  /// `C`.
  public var channels: Int
  /// `K`.
  public var filters: Int
  /// The windows over one plane.
  public var plane: WindowGeometry

  /// The geometry of `filters` filters over `batch` images of `channels`
  /// planes.
  @inlinable
  public init(batch: Int, channels: Int, filters: Int, plane: WindowGeometry) {
    (self.batch, self.channels, self.filters, self.plane) = (batch, channels, filters, plane)
  }

  /// The rows of the column matrix: `C·Fh·Fw`, one per filter weight.
  @inlinable public var patchSize: Int { channels * plane.windowCount }
  /// `C·H·W`.
  @inlinable public var inputImageCount: Int { channels * plane.inputCount }
  /// `K·H2·W2`.
  @inlinable public var outputImageCount: Int { filters * plane.outputCount }

  /// A 1×1 convolution with stride 1 and no padding: the column matrix is
  /// the image itself and im2col is skipped.
  @inlinable public var isPointwise: Bool {
    plane.window == Extent(height: 1, width: 1) && plane.stride == Extent(height: 1, width: 1)
      && plane.padding == Extent(height: 0, width: 0)
  }
}
