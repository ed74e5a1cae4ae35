import CortexKernels

/// The backend of host memory: every primitive allocates its outputs and
/// calls one kernel of the current instruction set
/// (``ComputeSettings/kernels``) on the tensors' storage.
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
    ComputeSettings.kernels.apply(f, x.storage.pointer, out.storage.pointer, count: x.scalarCount)
    return out
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func binary<S: TensorScalar>(
    _ f: BinaryFunction<S>, _ a: Tensor<S>, _ b: Tensor<S>, shape: [Int]
  ) -> Tensor<S> {
    let out = Tensor<S>.uninitialized(shape)
    ComputeSettings.kernels.apply(
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
    ComputeSettings.kernels.run(
      .select(
        condition: condition.storage.pointer, a: a.storage.pointer, b: b.storage.pointer,
        out: out.storage.pointer, count: out.scalarCount))
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
    let kernels = ComputeSettings.kernels
    for i in 0..<batch {
      kernels.gemm(
        GEMMProduct(
          transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
          a: a.storage.pointer + i * m * k, lda: colsA, b: b.storage.pointer + i * k * n,
          ldb: colsB, c: out.storage.pointer + i * m * n, ldc: n, accumulate: false))
    }
    return out
  }

  // MARK: Reductions

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func sum<S: TensorScalar>(_ x: Tensor<S>, alongAxes axes: [Int]) -> Tensor<S> {
    let kernels = ComputeSettings.kernels
    var value = Tensor<S>(shape: x.shape, storage: x.storage)
    var kept = x.shape
    for axis in axes.reversed() {
      let outer = kept[..<axis].reduce(1, *)
      let inner = kept[(axis + 1)...].reduce(1, *)
      kept[axis] = 1
      let out = Tensor<S>.uninitialized(kept)
      kernels.run(
        .sumAlongAxis(
          x: value.storage.pointer, outer: outer, axis: value.shape[axis], inner: inner,
          out: out.storage.pointer))
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
    ComputeSettings.kernels.run(
      .extremum(
        x: x.storage.pointer, groups: groups, size: size, largest: largest,
        out: result.storage.pointer, winners: winners.pointer))
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
    positions.withUnsafeMutableBufferPointer { positions in
      ComputeSettings.kernels.run(
        .topKPositions(
          x: x.storage.pointer, outer: outer, size: size, inner: inner, k: k, largest: largest,
          positions: positions.baseAddress!))
    }
    return IndexTensor(shape: shape, scalars: positions)
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func firstNonFinite<S: TensorScalar>(_ x: Tensor<S>) -> (index: Int, value: S)? {
    var index = 0
    withUnsafeMutablePointer(to: &index) { index in
      ComputeSettings.kernels.run(
        .firstNonFinite(x: x.storage.pointer, count: x.scalarCount, index: index))
    }
    return index < x.scalarCount ? (index, x.storage.pointer[index]) : nil
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
      ComputeSettings.kernels.run(
        .routeToWinners(
          upstream: upstream.storage.pointer,
          winners: UnsafeBufferPointer(start: winners.pointer, count: winners.count),
          gradient: gradient.storage.pointer, inputCount: gradient.scalarCount))
    case .pooling2x2(let planes, let g):
      ComputeSettings.kernels.run(
        .routeToWinners2x2(
          upstream: upstream.storage.pointer, winners: winners.pointer,
          gradient: gradient.storage.pointer, planes: planes, geometry: g))
    }
    return gradient
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func gather<S: TensorScalar>(
    _ x: Tensor<S>, atWinners winners: MaxGateWinners, shape: [Int]
  ) -> Tensor<S> {
    let gathered = Tensor<S>.uninitialized(shape)
    ComputeSettings.kernels.run(
      .gatherAtWinners(
        x: x.storage.pointer, winners: winners.pointer, count: winners.count,
        out: gathered.storage.pointer))
    return gathered
  }

  // MARK: Copies

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func permute<S: TensorScalar>(_ x: Tensor<S>, _ permutation: [Int]) -> Tensor<S> {
    let out = Tensor<S>.uninitialized(permutation.map { x.shape[$0] })
    ComputeSettings.kernels.run(
      .permute(
        source: x.storage.pointer, shape: x.shape, permutation: permutation,
        out: out.storage.pointer))
    return out
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func broadcast<S: TensorScalar>(_ x: Tensor<S>, to shape: [Int]) -> Tensor<S> {
    let out = Tensor<S>.uninitialized(shape)
    ComputeSettings.kernels.run(
      .broadcast(x: x.storage.pointer, shape: x.shape, out: out.storage.pointer, result: shape))
    return out
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func assemble<S: TensorScalar>(
    _ shape: [Int], zeroFilled: Bool, blocks: [BlockCopy<S>]
  ) -> Tensor<S> {
    let out =
      zeroFilled ? Tensor<S>(shape: shape, repeating: 0, on: .cpu) : Tensor<S>.uninitialized(shape)
    let kernels = ComputeSettings.kernels
    for block in blocks {
      kernels.run(
        .copyBlock(
          region: block.region, source: block.source.storage.pointer,
          sourceShape: block.source.shape, sourceOrigin: block.sourceOrigin,
          destination: out.storage.pointer, destinationShape: shape,
          destinationOrigin: block.destinationOrigin))
    }
    return out
  }
}
