/// Pooling over NCHW buffers, plane by plane, and the routing kernel of the
/// max gate.
///
/// A window at output `(oh, ow)` covers input rows `oh·Sh − Ph ..< oh·Sh −
/// Ph + Fh` and columns likewise; positions in the zero padding are skipped
/// by max pooling (they never win) and count as zeros for average pooling.

/// The input rows (or columns) that the window at output index `o` covers,
/// clipped to the input.
@inline(__always)
private func windowRange(_ o: Int, stride: Int, padding: Int, window: Int, size: Int) -> Range<Int>
{
  let start = o * stride - padding
  return max(start, 0)..<min(start + window, size)
}

/// Max pooling of `planes` planes: `output[p, oh, ow]` is the largest input
/// of its window, and `winners` receives its flat index in `input`. The
/// window is scanned in row-major order and only a strictly larger value
/// replaces the best so far, so the first maximum wins a tie.
@_specialize(where S == Float)
@_specialize(where S == Double)
func maxPool2DForward<S: TensorScalar>(
  _ input: UnsafePointer<S>, output: UnsafeMutablePointer<S>,
  winners: UnsafeMutableBufferPointer<Int>,
  planes: Int, _ g: WindowGeometry
) {
  forEachChunk(of: planes, costPerItem: g.outputCount * g.windowCount) { _, chunk in
    for p in chunk {
      let plane = input + p * g.inputCount
      for oh in 0..<g.output.height {
        let rows = windowRange(
          oh, stride: g.stride.height, padding: g.padding.height, window: g.window.height,
          size: g.input.height)
        for ow in 0..<g.output.width {
          let columns = windowRange(
            ow, stride: g.stride.width, padding: g.padding.width, window: g.window.width,
            size: g.input.width)
          var best = rows.lowerBound * g.input.width + columns.lowerBound
          var bestValue = plane[best]
          for ih in rows {
            let row = ih * g.input.width
            for iw in columns where plane[row + iw] > bestValue {
              best = row + iw
              bestValue = plane[best]
            }
          }
          let o = p * g.outputCount + oh * g.output.width + ow
          output[o] = bestValue
          winners[o] = p * g.inputCount + best
        }
      }
    }
  }
}

/// Average pooling of `planes` planes: each output is the sum of its
/// window's inputs divided by the full window size `Fh·Fw` (padding counts
/// as zeros).
@_specialize(where S == Float)
@_specialize(where S == Double)
func avgPool2DForward<S: TensorScalar>(
  _ input: UnsafePointer<S>, output: UnsafeMutablePointer<S>, planes: Int, _ g: WindowGeometry
) {
  let scale = 1 / S(g.windowCount)
  forEachChunk(of: planes, costPerItem: g.outputCount * g.windowCount) { _, chunk in
    for p in chunk {
      let plane = input + p * g.inputCount
      for oh in 0..<g.output.height {
        let rows = windowRange(
          oh, stride: g.stride.height, padding: g.padding.height, window: g.window.height,
          size: g.input.height)
        for ow in 0..<g.output.width {
          let columns = windowRange(
            ow, stride: g.stride.width, padding: g.padding.width, window: g.window.width,
            size: g.input.width)
          var sum: S = 0
          for ih in rows {
            for iw in columns { sum += plane[ih * g.input.width + iw] }
          }
          output[p * g.outputCount + oh * g.output.width + ow] = sum * scale
        }
      }
    }
  }
}

/// The gradient of ``avgPool2DForward(_:output:planes:_:)``: every output's
/// gradient, divided by `Fh·Fw`, is added to each input of its window.
/// `inputGradient` is overwritten.
@_specialize(where S == Float)
@_specialize(where S == Double)
func avgPool2DBackward<S: TensorScalar>(
  _ upstream: UnsafePointer<S>, inputGradient: UnsafeMutablePointer<S>, planes: Int,
  _ g: WindowGeometry
) {
  let scale = 1 / S(g.windowCount)
  forEachChunk(of: planes, costPerItem: g.outputCount * g.windowCount) { _, chunk in
    for p in chunk {
      let plane = inputGradient + p * g.inputCount
      plane.update(repeating: 0, count: g.inputCount)
      for oh in 0..<g.output.height {
        let rows = windowRange(
          oh, stride: g.stride.height, padding: g.padding.height, window: g.window.height,
          size: g.input.height)
        for ow in 0..<g.output.width {
          let columns = windowRange(
            ow, stride: g.stride.width, padding: g.padding.width, window: g.window.width,
            size: g.input.width)
          let share = upstream[p * g.outputCount + oh * g.output.width + ow] * scale
          for ih in rows {
            for iw in columns { plane[ih * g.input.width + iw] += share }
          }
        }
      }
    }
  }
}

/// Maxout over consecutive groups along the feature axis of a buffer viewed
/// as `[outer, units·pieces, inner]`: `output[o, u, s]` is the largest of
/// `input[o, u·pieces + j, s]` for `j` in `0..<pieces`, and `winners`
/// receives its flat index. Only a strictly larger piece replaces the best
/// so far, so the first maximum wins a tie.
@_specialize(where S == Float)
@_specialize(where S == Double)
func maxoutForward<S: TensorScalar>(
  _ input: UnsafePointer<S>, output: UnsafeMutablePointer<S>,
  winners: UnsafeMutableBufferPointer<Int>,
  outer: Int, units: Int, pieces: Int, inner: Int
) {
  for group in 0..<(outer * units) {
    let best = output + group * inner
    let first = group * pieces * inner
    best.update(from: input + first, count: inner)
    for s in 0..<inner { winners[group * inner + s] = first + s }
    for j in 1..<max(pieces, 1) {
      let piece = first + j * inner
      for s in 0..<inner where input[piece + s] > best[s] {
        best[s] = input[piece + s]
        winners[group * inner + s] = piece + s
      }
    }
  }
}

/// The routing of the max gate: `gradient[winners[i]] += upstream[i]` for
/// every `i`; `gradient` has `inputCount` elements and is overwritten.
@_specialize(where S == Float)
@_specialize(where S == Double)
func routeToWinners<S: TensorScalar>(
  _ upstream: UnsafePointer<S>, winners: UnsafeBufferPointer<Int>,
  gradient: UnsafeMutablePointer<S>, inputCount: Int
) {
  gradient.update(repeating: 0, count: inputCount)
  for (i, winner) in winners.enumerated() { gradient[winner] += upstream[i] }
}
