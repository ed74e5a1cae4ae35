import CortexCore
import CortexKernels

/// The reference backend's convolution, pooling and maxout: each output
/// element is a loop over its window.
///
/// A window at output `(oh, ow)` reads, for its tap `(fh, fw)`, the input
/// at row `oh·Sh − Ph + fh·Dh` and column `ow·Sw − Pw + fw·Dw`; a
/// position outside the input is zero padding. The patches of a
/// convolution are rows `(c·Fh + fh)·Fw + fw` and columns `oh·W2 + ow`.

/// The input position of tap `(fh, fw)` of the window at output
/// `(oh, ow)`, or `nil` where it falls in the padding.
private func tapPosition(_ g: WindowGeometry, _ oh: Int, _ ow: Int, _ fh: Int, _ fw: Int)
  -> (row: Int, column: Int)?
{
  let row = oh * g.stride.height - g.padding.height + fh * g.dilation.height
  let column = ow * g.stride.width - g.padding.width + fw * g.dilation.width
  guard row >= 0 && row < g.input.height && column >= 0 && column < g.input.width else {
    return nil
  }
  return (row, column)
}

/// Calls `body(p, o, i)` for each plane `p`, output position `o` and the
/// position `i` in the plane of each input of its pooling window, the
/// window clipped to the input (dilation 1, padding never visited), in
/// row-major order.
private func forEachPoolingTap(
  planes: Int, _ g: WindowGeometry, _ body: (_ plane: Int, _ output: Int, _ input: Int) -> Void
) {
  for p in 0..<planes {
    for oh in 0..<g.output.height {
      for ow in 0..<g.output.width {
        let (top, left) = (
          oh * g.stride.height - g.padding.height, ow * g.stride.width - g.padding.width
        )
        for ih in Swift.max(top, 0)..<Swift.min(top + g.window.height, g.input.height) {
          for iw in Swift.max(left, 0)..<Swift.min(left + g.window.width, g.input.width) {
            body(p, oh * g.output.width + ow, ih * g.input.width + iw)
          }
        }
      }
    }
  }
}

extension ReferenceBackend {
  // MARK: Convolution

  /// The convolution of `input` `[N, C, H, W]` with `filters`
  /// `[K, C, Fh, Fw]` plus `bias` `[K]`. Returns: `[N, K, H2, W2]`.
  package func convolution<S: TensorScalar>(
    _ input: Tensor<S>, filters: Tensor<S>, bias: Tensor<S>?, _ g: ConvolutionGeometry
  ) -> Tensor<S> {
    let (x, w, b) = (input.scalars, filters.scalars, bias?.scalars)
    let p = g.plane
    var out = [S](repeating: 0, count: g.batch * g.outputImageCount)
    for n in 0..<g.batch {
      for k in 0..<g.filters {
        for oh in 0..<p.output.height {
          for ow in 0..<p.output.width {
            var total = b?[k] ?? 0
            for c in 0..<g.channels {
              for fh in 0..<p.window.height {
                for fw in 0..<p.window.width {
                  guard let (ih, iw) = tapPosition(p, oh, ow, fh, fw) else { continue }
                  total +=
                    x[((n * g.channels + c) * p.input.height + ih) * p.input.width + iw]
                    * w[((k * g.channels + c) * p.window.height + fh) * p.window.width + fw]
                }
              }
            }
            out[((n * g.filters + k) * p.output.height + oh) * p.output.width + ow] = total
          }
        }
      }
    }
    return tensor([g.batch, g.filters, p.output.height, p.output.width], out)
  }

  /// The gradients of a convolution for the input, the filters and the
  /// bias, each computed only when its flag in `needs` is set: every
  /// product of the forward loop sends the upstream gradient of its
  /// output to its input (times the weight) and to its weight (times the
  /// input). Returns: one entry per flag.
  package func convolutionGradients<S: TensorScalar>(
    _ upstream: Tensor<S>, input: Tensor<S>, filters: Tensor<S>, needs: [Bool],
    _ g: ConvolutionGeometry
  ) -> [Tensor<S>?] {
    let (up, x, w) = (upstream.scalars, input.scalars, filters.scalars)
    let p = g.plane
    var dx = [S](repeating: 0, count: x.count)
    var dw = [S](repeating: 0, count: w.count)
    var db = [S](repeating: 0, count: g.filters)
    for n in 0..<g.batch {
      for k in 0..<g.filters {
        for oh in 0..<p.output.height {
          for ow in 0..<p.output.width {
            let gradient = up[((n * g.filters + k) * p.output.height + oh) * p.output.width + ow]
            db[k] += gradient
            for c in 0..<g.channels {
              for fh in 0..<p.window.height {
                for fw in 0..<p.window.width {
                  guard let (ih, iw) = tapPosition(p, oh, ow, fh, fw) else { continue }
                  let i = ((n * g.channels + c) * p.input.height + ih) * p.input.width + iw
                  let j = ((k * g.channels + c) * p.window.height + fh) * p.window.width + fw
                  dx[i] += gradient * w[j]
                  dw[j] += gradient * x[i]
                }
              }
            }
          }
        }
      }
    }
    let results = [tensor(input.shape, dx), tensor(filters.shape, dw), tensor([g.filters], db)]
    return zip(results, needs).map { $1 ? $0 : nil }
  }

  /// The patches of each image of `input` `[N, C, H, W]` as columns
  /// (im2col), zero where a tap falls in the padding. Returns:
  /// `[N, C·Fh·Fw, H2·W2]`.
  package func patches<S: TensorScalar>(_ input: Tensor<S>, _ g: ConvolutionGeometry) -> Tensor<S> {
    let x = input.scalars
    let p = g.plane
    var out = [S](repeating: 0, count: g.batch * g.patchSize * p.outputCount)
    forEachPatchElement(g) { n, row, column, inputIndex in
      out[(n * g.patchSize + row) * p.outputCount + column] = x[inputIndex]
    }
    return tensor([g.batch, g.patchSize, p.outputCount], out)
  }

  /// The adjoint of ``patches(_:_:)``: each column added back onto the
  /// positions it came from (col2im); padding taps are dropped. Returns:
  /// `[N, C, H, W]`.
  package func foldedPatches<S: TensorScalar>(_ columns: Tensor<S>, _ g: ConvolutionGeometry)
    -> Tensor<S>
  {
    let cols = columns.scalars
    let p = g.plane
    var out = [S](repeating: 0, count: g.batch * g.inputImageCount)
    forEachPatchElement(g) { n, row, column, inputIndex in
      out[inputIndex] += cols[(n * g.patchSize + row) * p.outputCount + column]
    }
    return tensor([g.batch, g.channels, p.input.height, p.input.width], out)
  }

  /// Calls `body(n, row, column, inputIndex)` for each element of the
  /// patches of image `n` that reads the input (not the padding).
  private func forEachPatchElement(
    _ g: ConvolutionGeometry, _ body: (Int, Int, Int, Int) -> Void
  ) {
    let p = g.plane
    for n in 0..<g.batch {
      for c in 0..<g.channels {
        for fh in 0..<p.window.height {
          for fw in 0..<p.window.width {
            let row = (c * p.window.height + fh) * p.window.width + fw
            for oh in 0..<p.output.height {
              for ow in 0..<p.output.width {
                guard let (ih, iw) = tapPosition(p, oh, ow, fh, fw) else { continue }
                body(
                  n, row, oh * p.output.width + ow,
                  ((n * g.channels + c) * p.input.height + ih) * p.input.width + iw)
              }
            }
          }
        }
      }
    }
  }

  // MARK: Pooling and maxout

  /// Max pooling over `planes` planes of `x` `[N, C, H, W]`: each output
  /// is the largest input of its window (clipped to the input; padding
  /// never wins), the first in row-major order on a tie, with its flat
  /// index as winner. Returns: `[N, C, H2, W2]`, the winners and
  /// ``MaxGateRoute/general``.
  package func maxPool<S: TensorScalar>(_ x: Tensor<S>, planes: Int, _ g: WindowGeometry) -> (
    Tensor<S>, MaxGateWinners, MaxGateRoute
  ) {
    let values = x.scalars
    var winners = [Int](repeating: -1, count: planes * g.outputCount)
    forEachPoolingTap(planes: planes, g) { p, o, i in
      let (candidate, best) = (p * g.inputCount + i, winners[p * g.outputCount + o])
      if best < 0 || values[candidate] > values[best] { winners[p * g.outputCount + o] = candidate }
    }
    let shape = [x.shape[0], x.shape[1], g.output.height, g.output.width]
    return (tensor(shape, winners.map { values[$0] }), MaxGateWinners(winners), .general)
  }

  /// Average pooling over `planes` planes of `x` `[N, C, H, W]`: each
  /// output is the sum of its window's inputs divided by `Fh·Fw` (padding
  /// counts as zeros). Returns: `[N, C, H2, W2]`.
  package func averagePool<S: TensorScalar>(_ x: Tensor<S>, planes: Int, _ g: WindowGeometry)
    -> Tensor<S>
  {
    let values = x.scalars
    var out = [S](repeating: 0, count: planes * g.outputCount)
    forEachPoolingTap(planes: planes, g) { p, o, i in
      out[p * g.outputCount + o] += values[p * g.inputCount + i]
    }
    let shape = [x.shape[0], x.shape[1], g.output.height, g.output.width]
    return tensor(shape, out.map { $0 / S(g.windowCount) })
  }

  /// The adjoint of ``averagePool(_:planes:_:)``: each output's gradient,
  /// divided by `Fh·Fw`, added to every input of its window. Returns:
  /// `inputShape`.
  package func averagePoolGradient<S: TensorScalar>(
    _ upstream: Tensor<S>, inputShape: [Int], planes: Int, _ g: WindowGeometry
  ) -> Tensor<S> {
    let up = upstream.scalars
    var out = [S](repeating: 0, count: inputShape.reduce(1, *))
    forEachPoolingTap(planes: planes, g) { p, o, i in
      out[p * g.inputCount + i] += up[p * g.outputCount + o] / S(g.windowCount)
    }
    return tensor(inputShape, out)
  }

  /// The largest of each group of `pieces` consecutive features of `z`
  /// (axis 1), the first on a tie, with its flat index as winner: `z`
  /// viewed as `[outer, units·pieces, inner]` gives `[outer, units,
  /// inner]`. Returns: `shape`.
  package func maxout<S: TensorScalar>(_ z: Tensor<S>, pieces: Int, shape: [Int]) -> (
    Tensor<S>, MaxGateWinners
  ) {
    let values = z.scalars
    let (outer, units, inner) = (shape[0], shape[1], shape[2...].reduce(1, *))
    var winners = [Int](repeating: 0, count: outer * units * inner)
    for o in 0..<outer {
      for u in 0..<units {
        for s in 0..<inner {
          var best = ((o * units + u) * pieces) * inner + s
          for j in 1..<Swift.max(pieces, 1) {
            let candidate = ((o * units + u) * pieces + j) * inner + s
            if values[candidate] > values[best] { best = candidate }
          }
          winners[(o * units + u) * inner + s] = best
        }
      }
    }
    return (tensor(shape, winners.map { values[$0] }), MaxGateWinners(winners))
  }
}
