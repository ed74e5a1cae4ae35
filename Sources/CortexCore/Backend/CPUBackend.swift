import CortexKernelsBaseline

/// The backend of host memory: every primitive runs the kernels of the
/// current instruction set (``ComputeSettings/instructionSet``) on the
/// tensors' storage.
///
/// Each primitive is specialized for `Float` and `Double`, so a caller that
/// reaches it through `any Backend` (one dynamic call per operation) runs a
/// concrete, optimized loop, never per-element generic code.
final class CPUBackend: Backend {
  /// The one CPU backend.
  static let shared = CPUBackend()

  var name: String { "cpu" }

  // MARK: Elementwise

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func unary<S: TensorScalar>(_ f: UnaryFunction<S>, _ x: Tensor<S>) -> Tensor<S> {
    let out = Tensor<S>.uninitialized(x.shape)
    unaryKernel(f, x.storage.pointer, out.storage.pointer, count: x.scalarCount)
    return out
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func binary<S: TensorScalar>(
    _ f: BinaryFunction<S>, _ a: Tensor<S>, _ b: Tensor<S>, shape: [Int]
  ) -> Tensor<S> {
    let out = Tensor<S>.uninitialized(shape)
    binaryKernel(
      f, a.storage.pointer, shapeA: a.shape, b.storage.pointer, shapeB: b.shape,
      out.storage.pointer, result: shape)
    return out
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func select<S: TensorScalar>(_ condition: Tensor<S>, _ a: Tensor<S>, _ b: Tensor<S>)
    -> Tensor<S>
  {
    let out = Tensor<S>.uninitialized(a.shape)
    let (c, pa, pb, po) = (
      condition.storage.pointer, a.storage.pointer, b.storage.pointer, out.storage.pointer
    )
    for i in 0..<out.scalarCount { po[i] = c[i] != 0 ? pa[i] : pb[i] }
    return out
  }

  // MARK: Matrix products

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func matmul<S: TensorScalar>(
    _ a: Tensor<S>, transposeA: Bool, _ b: Tensor<S>, transposeB: Bool
  ) -> Tensor<S> {
    let batched = a.rank == 3
    let batch = batched ? a.shape[0] : 1
    let (rowsA, colsA) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
    let (rowsB, colsB) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
    let (m, k) = transposeA ? (colsA, rowsA) : (rowsA, colsA)
    let n = transposeB ? rowsB : colsB
    let out = Tensor<S>.uninitialized(batched ? [batch, m, n] : [m, n])
    for i in 0..<batch {
      gemm(
        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
        a: a.storage.pointer + i * m * k, lda: colsA, b: b.storage.pointer + i * k * n, ldb: colsB,
        c: out.storage.pointer + i * m * n, ldc: n, accumulate: false)
    }
    return out
  }

  // MARK: Reductions

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func sum<S: TensorScalar>(_ x: Tensor<S>, alongAxes axes: [Int]) -> Tensor<S> {
    var value = Tensor<S>(shape: x.shape, storage: x.storage)
    var kept = x.shape
    for axis in axes.reversed() {
      let outer = kept[..<axis].reduce(1, *)
      let inner = kept[(axis + 1)...].reduce(1, *)
      kept[axis] = 1
      let out = Tensor<S>.uninitialized(kept)
      sumKernel(
        value.storage.pointer, outer: outer, axis: value.shape[axis], inner: inner,
        out.storage.pointer)
      value = out
    }
    return value
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func extremum<S: TensorScalar>(
    _ x: Tensor<S>, groups: Int, size: Int, largest: Bool
  ) -> (Tensor<S>, MaxGateWinners) {
    let result = Tensor<S>.uninitialized([groups])
    let winners = MaxGateWinners(count: groups)
    for group in 0..<groups {
      let row = x.storage.pointer + group * size
      var best = 0
      if largest {
        for k in 1..<Swift.max(size, 1) where row[k] > row[best] { best = k }
      } else {
        for k in 1..<Swift.max(size, 1) where row[k] < row[best] { best = k }
      }
      winners.pointer[group] = Int32(group * size + best)
      result.storage.pointer[group] = row[best]
    }
    return (result, winners)
  }

  func extremumPositions<S: TensorScalar>(
    _ x: Tensor<S>, groups: Int, size: Int, largest: Bool
  ) -> [Int] {
    let (_, winners) = extremum(x, groups: groups, size: size, largest: largest)
    return winners.indices.enumerated().map { group, flat in flat - group * size }
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func topKPositions<S: TensorScalar>(_ x: Tensor<S>, k: Int, along axis: Int, largest: Bool)
    -> IndexTensor
  {
    let (outer, size, inner) = extents(x.shape, at: axis)
    var shape = x.shape
    shape[axis] = k
    var positions = [Int](repeating: 0, count: shape.reduce(1, *))
    let values = x.storage.pointer
    for o in 0..<outer {
      for i in 0..<inner {
        let value = { (j: Int) in values[(o * size + j) * inner + i] }
        let order = (0..<size).sorted { a, b in
          let (va, vb) = (value(a), value(b))
          if va == vb { return a < b }
          return largest ? va > vb : va < vb
        }
        for r in 0..<k { positions[(o * k + r) * inner + i] = order[r] }
      }
    }
    return IndexTensor(shape: shape, scalars: positions)
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func firstNonFinite<S: TensorScalar>(_ x: Tensor<S>) -> (index: Int, value: S)? {
    let scalars = x.storage.pointer
    for i in 0..<x.scalarCount where !scalars[i].isFinite { return (i, scalars[i]) }
    return nil
  }

  // MARK: The max gate's routing

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func scatter<S: TensorScalar>(
    _ upstream: Tensor<S>, toWinners winners: MaxGateWinners, route: MaxGateRoute,
    inputShape: [Int]
  ) -> Tensor<S> {
    let gradient = Tensor<S>.uninitialized(inputShape)
    switch route {
    case .general:
      routeToWinners(
        upstream.storage.pointer,
        winners: UnsafeBufferPointer(start: winners.pointer, count: winners.count),
        gradient: gradient.storage.pointer, inputCount: gradient.scalarCount)
    case .pooling2x2(let planes, let g):
      routeToWinners2x2(
        upstream.storage.pointer, winners: winners.pointer, gradient: gradient.storage.pointer,
        planes: planes, g)
    }
    return gradient
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func gather<S: TensorScalar>(
    _ x: Tensor<S>, atWinners winners: MaxGateWinners, shape: [Int]
  ) -> Tensor<S> {
    let gathered = Tensor<S>.uninitialized(shape)
    for i in 0..<winners.count {
      gathered.storage.pointer[i] = x.storage.pointer[Int(winners.pointer[i])]
    }
    return gathered
  }

  // MARK: Copies

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func permute<S: TensorScalar>(_ x: Tensor<S>, _ permutation: [Int]) -> Tensor<S> {
    let out = Tensor<S>.uninitialized(permutation.map { x.shape[$0] })
    permuteKernel(x.storage.pointer, shape: x.shape, permutation: permutation, out.storage.pointer)
    return out
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func broadcast<S: TensorScalar>(_ x: Tensor<S>, to shape: [Int]) -> Tensor<S> {
    let out = Tensor<S>.uninitialized(shape)
    BaselineKernels.zip(
      x.storage.pointer, shapeA: x.shape, x.storage.pointer, shapeB: [], out.storage.pointer,
      result: shape
    ) { a, _ in a }
    return out
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func assemble<S: TensorScalar>(
    _ shape: [Int], zeroFilled: Bool, blocks: [BlockCopy<S>]
  ) -> Tensor<S> {
    let out =
      zeroFilled ? Tensor<S>(shape: shape, repeating: 0, on: .cpu) : Tensor<S>.uninitialized(shape)
    for block in blocks {
      copyBlockKernel(
        region: block.region, from: block.source.storage.pointer, sourceShape: block.source.shape,
        sourceOrigin: block.sourceOrigin, to: out.storage.pointer, destinationShape: shape,
        destinationOrigin: block.destinationOrigin)
    }
    return out
  }
}
