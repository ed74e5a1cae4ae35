/// Pooling over NCHW planes, maxout, and the routing kernel of the max
/// gate.
///
/// A window at output `(oh, ow)` covers input rows `oh·Sh − Ph ..< oh·Sh −
/// Ph + Fh` and columns likewise; positions in the zero padding are skipped
/// by max pooling (they never win) and count as zeros for average pooling.
/// Every maximum is found in row-major order, and only a strictly larger
/// value replaces the best so far, so the first maximum wins a tie.

/// The input rows (or columns) that the window at output index `o` covers,
/// clipped to the input.
@inlinable @inline(__always)
func windowRange(_ o: Int, stride: Int, padding: Int, window: Int, size: Int) -> Range<Int> {
  let start = o * stride - padding
  return max(start, 0)..<min(start + window, size)
}

extension WindowGeometry {
  /// The input rows that the windows of output row `oh` cover.
  @inlinable @inline(__always)
  func rows(of oh: Int) -> Range<Int> {
    windowRange(
      oh, stride: stride.height, padding: padding.height, window: window.height,
      size: input.height)
  }

  /// The input columns that the windows of output column `ow` cover.
  @inlinable @inline(__always)
  func columns(of ow: Int) -> Range<Int> {
    windowRange(
      ow, stride: stride.width, padding: padding.width, window: window.width, size: input.width)
  }
}

extension KernelSet {
  /// Max pooling of `planes` planes: `output[p, oh, ow]` is the largest
  /// input of its window, and `winners` receives its flat index in `input`.
  @inlinable
  static func maxPool<S: BinaryFloatingPoint>(
    _ input: UnsafePointer<S>, output: UnsafeMutablePointer<S>,
    winners: UnsafeMutablePointer<Int32>, planes: Int, _ g: WindowGeometry
  ) {
    forEachChunk(of: planes, costPerItem: g.outputCount * g.windowCount) { _, chunk in
      for p in chunk {
        let plane = input + p * g.inputCount
        for oh in 0..<g.output.height {
          let rows = g.rows(of: oh)
          for ow in 0..<g.output.width {
            let columns = g.columns(of: ow)
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
            winners[o] = Int32(truncatingIfNeeded: p * g.inputCount + best)
          }
        }
      }
    }
  }

  /// Average pooling of `planes` planes: each output is the sum of its
  /// window's inputs divided by the full window size `Fh·Fw`.
  @inlinable
  static func averagePool<S: BinaryFloatingPoint>(
    _ input: UnsafePointer<S>, output: UnsafeMutablePointer<S>, planes: Int, _ g: WindowGeometry
  ) {
    let scale = 1 / S(g.windowCount)
    forEachChunk(of: planes, costPerItem: g.outputCount * g.windowCount) { _, chunk in
      for p in chunk {
        let plane = input + p * g.inputCount
        for oh in 0..<g.output.height {
          let rows = g.rows(of: oh)
          for ow in 0..<g.output.width {
            let columns = g.columns(of: ow)
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

  /// The gradient of average pooling: every output's gradient, divided by
  /// `Fh·Fw`, is added to each input of its window. `inputGradient` is
  /// overwritten.
  @inlinable
  static func averagePoolGradient<S: BinaryFloatingPoint>(
    _ upstream: UnsafePointer<S>, inputGradient: UnsafeMutablePointer<S>, planes: Int,
    _ g: WindowGeometry
  ) {
    let scale = 1 / S(g.windowCount)
    forEachChunk(of: planes, costPerItem: g.outputCount * g.windowCount) { _, chunk in
      for p in chunk {
        let plane = inputGradient + p * g.inputCount
        plane.update(repeating: 0, count: g.inputCount)
        for oh in 0..<g.output.height {
          let rows = g.rows(of: oh)
          for ow in 0..<g.output.width {
            let columns = g.columns(of: ow)
            let share = upstream[p * g.outputCount + oh * g.output.width + ow] * scale
            for ih in rows {
              for iw in columns { plane[ih * g.input.width + iw] += share }
            }
          }
        }
      }
    }
  }

  /// Maxout over consecutive groups along the feature axis of a buffer
  /// viewed as `[outer, units·pieces, inner]`: `output[o, u, s]` is the
  /// largest of `input[o, u·pieces + j, s]` for `j` in `0..<pieces`, and
  /// `winners` receives its flat index.
  @inlinable
  static func maxout<S: BinaryFloatingPoint>(
    _ input: UnsafePointer<S>, output: UnsafeMutablePointer<S>,
    winners: UnsafeMutablePointer<Int32>, outer: Int, units: Int, pieces: Int, inner: Int
  ) {
    for group in 0..<(outer * units) {
      let best = output + group * inner
      let bestIndex = winners + group * inner
      let first = group * pieces * inner
      best.update(from: input + first, count: inner)
      for s in 0..<inner { bestIndex[s] = Int32(truncatingIfNeeded: first + s) }
      for j in 1..<max(pieces, 1) {
        let piece = first + j * inner
        for s in 0..<inner where input[piece + s] > best[s] {
          best[s] = input[piece + s]
          bestIndex[s] = Int32(truncatingIfNeeded: piece + s)
        }
      }
    }
  }

  /// `gradient[winners[i]] += upstream[i]` for every `i`; `gradient` has
  /// `inputCount` elements and is overwritten.
  @inlinable
  static func routeToWinners<S: BinaryFloatingPoint>(
    _ upstream: UnsafePointer<S>, winners: UnsafeBufferPointer<Int32>,
    gradient: UnsafeMutablePointer<S>, inputCount: Int
  ) {
    gradient.update(repeating: 0, count: inputCount)
    for (i, winner) in winners.enumerated() { gradient[Int(winner)] += upstream[i] }
  }
}

// MARK: - 2×2 windows with stride 2

extension KernelSet {
  /// ``maxPool(_:output:winners:planes:_:)`` for geometries that
  /// ``WindowGeometry/tiles2x2``: the same outputs and winners, eight
  /// outputs at a time in single precision.
  @inlinable
  static func maxPool2x2<S: BinaryFloatingPoint>(
    _ input: UnsafePointer<S>, output: UnsafeMutablePointer<S>,
    winners: UnsafeMutablePointer<Int32>, planes: Int, _ g: WindowGeometry
  ) {
    let width = g.input.width
    let outputWidth = g.output.width
    forEachOutputRow2x2(planes: planes, g) { top, o in
      var ow = 0
      if S.self == Float.self {
        ow = maxPool2x2RowFloat(
          UnsafeRawPointer(input).assumingMemoryBound(to: Float.self), top: top, width: width,
          output: UnsafeMutableRawPointer(output + o).assumingMemoryBound(to: Float.self),
          winners: winners + o, count: outputWidth)
      }
      // Selections rather than branches: which input wins is data, and
      // mispredicted branches made rows too short for the vector path
      // (7×7 outputs) cost as much as the rest of the pooling.
      for ow in ow..<outputWidth {
        let first = top + 2 * ow
        var (best, value) = (first, input[first])
        @inline(__always) func consider(_ candidate: Int) {
          let next = input[candidate]
          let wins = next > value
          best = wins ? candidate : best
          value = wins ? next : value
        }
        consider(first + 1)
        consider(first + width)
        consider(first + width + 1)
        output[o + ow] = value
        winners[o + ow] = Int32(truncatingIfNeeded: best)
      }
    }
  }

  /// ``routeToWinners(_:winners:gradient:inputCount:)`` for windows that
  /// ``WindowGeometry/tiles2x2``: each input's gradient is its window's
  /// upstream gradient if it is the window's winner, else 0: in single
  /// precision, rows of eight outputs or more are written once, eight
  /// windows at a time; other rows are cleared, then written at the
  /// winners.
  @inlinable
  static func routeToWinners2x2<S: BinaryFloatingPoint>(
    _ upstream: UnsafePointer<S>, winners: UnsafePointer<Int32>,
    gradient: UnsafeMutablePointer<S>, planes: Int, _ g: WindowGeometry
  ) {
    let width = g.input.width
    let outputWidth = g.output.width
    forEachOutputRow2x2(planes: planes, g) { top, o in
      var ow = 0
      if S.self == Float.self {
        ow = route2x2RowFloat(
          UnsafeRawPointer(upstream + o).assumingMemoryBound(to: Float.self),
          winners: winners + o, top: top, width: width,
          gradient: UnsafeMutableRawPointer(gradient).assumingMemoryBound(to: Float.self),
          count: outputWidth)
      }
      // The rest of the two input rows cleared (vector stores), then each
      // window's gradient written at its winner.
      guard ow < outputWidth else { return }
      let (start, count) = (top + 2 * ow, 2 * (outputWidth - ow))
      (gradient + start).update(repeating: 0, count: count)
      (gradient + start + width).update(repeating: 0, count: count)
      for ow in ow..<outputWidth { gradient[Int(winners[o + ow])] = upstream[o + ow] }
    }
  }
}

/// Calls `body(top, o)` for every output row of a 2×2 tiling, the planes
/// split over the worker pool: `top` is the offset of the row's first
/// input, `o` of its first output.
@inlinable @inline(__always)
func forEachOutputRow2x2(
  planes: Int, _ g: WindowGeometry, _ body: (_ top: Int, _ o: Int) -> Void
) {
  forEachChunk(of: planes, costPerItem: 4 * g.outputCount) { _, chunk in
    for p in chunk {
      for oh in 0..<g.output.height {
        body(p * g.inputCount + 2 * oh * g.input.width, p * g.outputCount + oh * g.output.width)
      }
    }
  }
}

/// One output row of 2×2 max pooling in blocks of eight outputs; returns
/// how many outputs it wrote: all of them, or none when there are fewer
/// than eight.
@inlinable @inline(__always)
func maxPool2x2RowFloat(
  _ input: UnsafePointer<Float>, top: Int, width: Int, output: UnsafeMutablePointer<Float>,
  winners: UnsafeMutablePointer<Int32>, count: Int
) -> Int {
  let lanes = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)
  let below = Int32(truncatingIfNeeded: width)
  guard count >= 8 else { return 0 }
  var ow = 0
  while ow < count {
    // The last block overlaps the one before it when `count` is not a
    // multiple of 8; it writes the same values again.
    let block = min(ow, count - 8)
    let upper = UnsafeRawPointer(input + top + 2 * block).loadUnaligned(as: SIMD16<Float>.self)
    let lower = UnsafeRawPointer(input + top + width + 2 * block).loadUnaligned(
      as: SIMD16<Float>.self)
    var best = upper.evenHalf
    var offset = SIMD8<Int32>()
    let secondWins = upper.oddHalf .> best
    best.replace(with: upper.oddHalf, where: secondWins)
    offset.replace(with: 1, where: secondWins)
    let thirdWins = lower.evenHalf .> best
    best.replace(with: lower.evenHalf, where: thirdWins)
    offset.replace(with: below, where: thirdWins)
    let fourthWins = lower.oddHalf .> best
    best.replace(with: lower.oddHalf, where: fourthWins)
    offset.replace(with: below + 1, where: fourthWins)
    UnsafeMutableRawPointer(output + block).storeBytes(of: best, as: SIMD8<Float>.self)
    let first = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: top + 2 * block))
    UnsafeMutableRawPointer(winners + block).storeBytes(
      of: first &+ lanes &+ offset, as: SIMD8<Int32>.self)
    ow = block + 8
  }
  return count
}

/// One output row of the 2×2 routing in blocks of eight outputs; returns
/// how many it routed: all of them, or none when there are fewer than
/// eight.
@inlinable @inline(__always)
func route2x2RowFloat(
  _ upstream: UnsafePointer<Float>, winners: UnsafePointer<Int32>, top: Int, width: Int,
  gradient: UnsafeMutablePointer<Float>, count: Int
) -> Int {
  let lanes = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)
  let below = Int32(truncatingIfNeeded: width)
  guard count >= 8 else { return 0 }
  var ow = 0
  while ow < count {
    // The last block overlaps the one before it when `count` is not a
    // multiple of 8; it writes the same values again.
    let block = min(ow, count - 8)
    let value = UnsafeRawPointer(upstream + block).loadUnaligned(as: SIMD8<Int32>.self)
    let first = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: top + 2 * block)) &+ lanes
    let offset = UnsafeRawPointer(winners + block).loadUnaligned(as: SIMD8<Int32>.self) &- first
    let a = keep(value, where: offset, is: 0)
    let b = keep(value, where: offset, is: 1)
    let c = keep(value, where: offset, is: below)
    let d = keep(value, where: offset, is: below + 1)
    UnsafeMutableRawPointer(gradient + top + 2 * block).storeBytes(
      of: interleave(a, b), as: SIMD16<Int32>.self)
    UnsafeMutableRawPointer(gradient + top + width + 2 * block).storeBytes(
      of: interleave(c, d), as: SIMD16<Int32>.self)
    ow = block + 8
  }
  return count
}

/// The bits of `value` in the lanes where `offset` equals `target`, zero
/// (+0.0) in the others, with integer operations only: the generic
/// `replacing(with:where:)` does not compile to vector code.
@inlinable @inline(__always)
func keep(_ value: SIMD8<Int32>, where offset: SIMD8<Int32>, is target: Int32) -> SIMD8<Int32> {
  let difference = offset ^ SIMD8(repeating: target)
  // All ones where the difference is nonzero (its sign or its negation's).
  let differs = (difference | (SIMD8<Int32>() &- difference)) &>> 31
  return value & ~differs
}

/// `(x₀, y₀, x₁, y₁, …, x₇, y₇)`.
@inlinable @inline(__always)
func interleave(_ x: SIMD8<Int32>, _ y: SIMD8<Int32>) -> SIMD16<Int32> {
  SIMD16(
    x[0], y[0], x[1], y[1], x[2], y[2], x[3], y[3], x[4], y[4], x[5], y[5], x[6], y[6], x[7],
    y[7])
}
