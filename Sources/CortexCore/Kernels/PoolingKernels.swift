import CortexKernels

// Pooling over NCHW buffers, plane by plane, and the routing kernel of the
// max gate, through the current set's kernels (the loops are in
// CortexKernels' Pooling.swift).
//
// A window at output `(oh, ow)` covers input rows `oh·Sh − Ph ..< oh·Sh −
// Ph + Fh` and columns likewise; positions in the zero padding are skipped
// by max pooling (they never win) and count as zeros for average pooling.

/// Max pooling of `planes` planes: `output[p, oh, ow]` is the largest input
/// of its window, and `winners` receives its flat index in `input`. The
/// window is scanned in row-major order and only a strictly larger value
/// replaces the best so far, so the first maximum wins a tie.
func maxPool2DForward<S: TensorScalar>(
  _ input: UnsafePointer<S>, output: UnsafeMutablePointer<S>,
  winners: UnsafeMutablePointer<Int32>, planes: Int, _ g: WindowGeometry,
  using kernels: any KernelSet.Type = ComputeSettings.kernels
) {
  runKernel(
    .maxPool(input: input, output: output, winners: winners, planes: planes, geometry: g),
    using: kernels)
}

/// Average pooling of `planes` planes: each output is the sum of its
/// window's inputs divided by the full window size `Fh·Fw` (padding counts
/// as zeros).
func avgPool2DForward<S: TensorScalar>(
  _ input: UnsafePointer<S>, output: UnsafeMutablePointer<S>, planes: Int, _ g: WindowGeometry,
  using kernels: any KernelSet.Type = ComputeSettings.kernels
) {
  runKernel(
    .averagePool(input: input, output: output, planes: planes, geometry: g), using: kernels)
}

/// The gradient of ``avgPool2DForward(_:output:planes:_:using:)``: every
/// output's gradient, divided by `Fh·Fw`, is added to each input of its
/// window. `inputGradient` is overwritten.
func avgPool2DBackward<S: TensorScalar>(
  _ upstream: UnsafePointer<S>, inputGradient: UnsafeMutablePointer<S>, planes: Int,
  _ g: WindowGeometry, using kernels: any KernelSet.Type = ComputeSettings.kernels
) {
  runKernel(
    .averagePoolGradient(
      upstream: upstream, inputGradient: inputGradient, planes: planes, geometry: g),
    using: kernels)
}

/// Maxout over consecutive groups along the feature axis of a buffer viewed
/// as `[outer, units·pieces, inner]`: `output[o, u, s]` is the largest of
/// `input[o, u·pieces + j, s]` for `j` in `0..<pieces`, and `winners`
/// receives its flat index. Only a strictly larger piece replaces the best
/// so far, so the first maximum wins a tie.
func maxoutForward<S: TensorScalar>(
  _ input: UnsafePointer<S>, output: UnsafeMutablePointer<S>,
  winners: UnsafeMutablePointer<Int32>, outer: Int, units: Int, pieces: Int, inner: Int,
  using kernels: any KernelSet.Type = ComputeSettings.kernels
) {
  runKernel(
    .maxout(
      input: input, output: output, winners: winners, outer: outer, units: units,
      pieces: pieces, inner: inner), using: kernels)
}

/// The routing of the max gate: `gradient[winners[i]] += upstream[i]` for
/// every `i`; `gradient` has `inputCount` elements and is overwritten.
func routeToWinners<S: TensorScalar>(
  _ upstream: UnsafePointer<S>, winners: UnsafeBufferPointer<Int32>,
  gradient: UnsafeMutablePointer<S>, inputCount: Int,
  using kernels: any KernelSet.Type = ComputeSettings.kernels
) {
  runKernel(
    .routeToWinners(
      upstream: upstream, winners: winners, gradient: gradient, inputCount: inputCount),
    using: kernels)
}

/// ``maxPool2DForward(_:output:winners:planes:_:using:)`` for geometries
/// that ``WindowGeometry/tiles2x2``: the same outputs and winners
/// (row-major window order, the first maximum wins a tie), eight outputs
/// at a time in single precision.
func maxPool2x2Forward<S: TensorScalar>(
  _ input: UnsafePointer<S>, output: UnsafeMutablePointer<S>,
  winners: UnsafeMutablePointer<Int32>, planes: Int, _ g: WindowGeometry,
  using kernels: any KernelSet.Type = ComputeSettings.kernels
) {
  precondition(g.tiles2x2, "maxPool2x2Forward: the windows must tile the input 2×2")
  runKernel(
    .maxPool2x2(input: input, output: output, winners: winners, planes: planes, geometry: g),
    using: kernels)
}

/// The max gate's routing for windows that ``WindowGeometry/tiles2x2``:
/// each input's gradient is its window's upstream gradient if it is the
/// window's winner, else 0, written once (no clearing pass, no scatter).
func routeToWinners2x2<S: TensorScalar>(
  _ upstream: UnsafePointer<S>, winners: UnsafePointer<Int32>,
  gradient: UnsafeMutablePointer<S>, planes: Int, _ g: WindowGeometry,
  using kernels: any KernelSet.Type = ComputeSettings.kernels
) {
  precondition(g.tiles2x2, "routeToWinners2x2: the windows must tile the input 2×2")
  runKernel(
    .routeToWinners2x2(
      upstream: upstream, winners: winners, gradient: gradient, planes: planes, geometry: g),
    using: kernels)
}
