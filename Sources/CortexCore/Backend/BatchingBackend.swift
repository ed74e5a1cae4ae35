import CortexKernels

/// The batching rules of `vmap`: one backend per vmap level, serving every
/// primitive whose inputs include a tensor batched at that level (the
/// innermost among them).
///
/// Each rule views its batched inputs with the batch axis first (their
/// storage already is), lets an input that is not batched at this level
/// broadcast across the examples or repeats it where the primitive needs
/// every operand batched, calls the same primitive on those views through
/// the backend they belong to (the next vmap level out, or the device's),
/// and marks the batch axis of the result again. Most rules fold the batch
/// into an axis the primitive already has: rows of a matrix product, images
/// of a convolution or pooling, the leading axis of an elementwise or
/// indexing primitive. A convolution whose filters are batched, a layer
/// norm whose weight is batched, the gradients of a convolution's filters
/// and a gate's routing by winners recorded outside this level run the
/// primitive once per example and stack the results.
///
/// The primitives that return host values (the fused losses, batch
/// normalization's moments, optimizer updates) have no rule: the
/// operations that call them take their composed form when an input is
/// batched, and an optimizer update inside `vmap` traps.
final class BatchingBackend: Backend, @unchecked Sendable {
  let level: Int

  init(level: Int) { self.level = level }

  var name: String { "vmap" }

  // MARK: Views

  /// The number of examples at this level among `tensors`.
  private func size<S>(_ tensors: [Tensor<S>?]) -> Int {
    for case let tensor? in tensors {
      if let axis = tensor.batch.last, axis.level == level { return axis.size }
    }
    preconditionFailure("vmap: no input of a primitive is batched at level \(level)")
  }

  /// `x` with this level's batch axis first: its own, or `x` repeated
  /// `size` times when it is the same for every example.
  private func expanded<S>(_ x: Tensor<S>, _ size: Int) -> Tensor<S> {
    if let physical = x.physical(at: level) { return physical }
    requireOuter(x)
    let one = x.reshapedStorage([1] + x.shape)
    return one.backend("vmap").broadcast(one, to: [size] + x.shape)
  }

  /// `x` with this level's batch axis first, or with a size-1 axis there,
  /// so that it broadcasts against batched operands.
  private func broadcastable<S>(_ x: Tensor<S>) -> Tensor<S> {
    if let physical = x.physical(at: level) { return physical }
    requireOuter(x)
    return x.reshapedStorage([1] + x.shape)
  }

  private func requireOuter<S>(_ x: Tensor<S>) {
    precondition(
      x.batchLevel < level,
      "vmap: a tensor batched by an inner vmap (level \(x.batchLevel)) reached level \(level); values computed inside a vmap must be returned by it"
    )
  }

  /// The first axis of `physical` made this level's batch axis again.
  private func wrap<S>(_ physical: Tensor<S>) -> Tensor<S> { physical.batched(at: level) }

  /// Example `index` of a tensor whose first axis is this level's batch.
  private func example<S>(_ physical: Tensor<S>, _ index: Int) -> Tensor<S> {
    physical.backend("vmap").selectSlices(physical, [index], along: 0)
      .reshapedStorage(Array(physical.shape.dropFirst()))
  }

  /// The examples `body(0)`, `body(1)`, … stacked along a batch axis.
  private func stacked<S>(_ size: Int, _ body: (Int) -> Tensor<S>) -> Tensor<S> {
    let examples = (0..<size).map(body)
    let shape = examples.first?.shape ?? []
    let rank = shape.count
    let blocks = examples.enumerated().map { index, value in
      BlockCopy(
        source: value.reshapedStorage([1] + shape),
        sourceOrigin: [Int](repeating: 0, count: rank + 1),
        region: [1] + shape, destinationOrigin: [index] + [Int](repeating: 0, count: rank))
    }
    let whole = [size] + shape
    guard let first = blocks.first?.source else { return wrap(Tensor.zeros(whole)) }
    return wrap(first.backend("vmap").assemble(whole, zeroFilled: false, blocks: blocks))
  }

  /// Each example of `x` (unbatched at this level: `x` itself).
  private func slice<S>(_ x: Tensor<S>?, _ index: Int) -> Tensor<S>? {
    guard let x else { return nil }
    guard let physical = x.physical(at: level) else { return x }
    return example(physical, index)
  }

  /// `indices` with this level's batch axis first, repeated `size` times
  /// when they are the same for every example.
  private func expanded(_ indices: IndexTensor, _ size: Int) -> IndexTensor {
    if let last = indices.batch.last, last.level == level {
      return IndexTensor(
        shape: [last.size] + indices.shape, scalars: indices.scalars,
        batch: Array(indices.batch.dropLast()))
    }
    let block = indices.shape.reduce(1, *)
    var scalars: [Int] = []
    scalars.reserveCapacity(indices.scalars.count * size)
    for start in stride(from: 0, to: indices.scalars.count, by: Swift.max(block, 1)) {
      for _ in 0..<size { scalars += indices.scalars[start..<(start + block)] }
    }
    return IndexTensor(shape: [size] + indices.shape, scalars: scalars, batch: indices.batch)
  }

  /// The number of examples at this level of `x` or of `indices`.
  private func size<S>(_ x: Tensor<S>, _ indices: IndexTensor) -> Int {
    if let axis = indices.batch.last, axis.level == level { return axis.size }
    return size([x])
  }

  // MARK: Elementwise

  func unary<S: TensorScalar>(_ f: UnaryFunction<S>, _ x: Tensor<S>) -> Tensor<S> {
    let p = expanded(x, size([x]))
    return wrap(p.backend("vmap").unary(f, p))
  }

  func binary<S: TensorScalar>(
    _ f: BinaryFunction<S>, _ a: Tensor<S>, _ b: Tensor<S>, shape: [Int]
  ) -> Tensor<S> {
    let count = size([a, b])
    func aligned(_ x: Tensor<S>) -> Tensor<S> {
      let p = broadcastable(x)
      return p.reshapedStorage(
        [p.shape[0]] + [Int](repeating: 1, count: shape.count - x.rank) + x.shape)
    }
    let (pa, pb) = (aligned(a), aligned(b))
    return wrap(commonBackend("vmap", pa, pb).binary(f, pa, pb, shape: [count] + shape))
  }

  func select<S: TensorScalar>(_ condition: Tensor<S>, _ a: Tensor<S>, _ b: Tensor<S>) -> Tensor<S>
  {
    let count = size([condition, a, b])
    let (pc, pa, pb) = (expanded(condition, count), expanded(a, count), expanded(b, count))
    return wrap(commonBackend("vmap", pc, pa, pb).select(pc, pa, pb))
  }

  // MARK: Matrix products

  func matmul<S: TensorScalar>(
    _ a: Tensor<S>, transposeA: Bool, _ b: Tensor<S>, transposeB: Bool
  ) -> Tensor<S> {
    let count = size([a, b])
    let batchA = a.physical(at: level) != nil
    let batchB = b.physical(at: level) != nil
    if batchA && !batchB && b.rank == 2 && !transposeA {
      // Every example's rows times one matrix: one product with B·m rows.
      let pa = expanded(a, count)
      let rows = pa.reshapedStorage([pa.scalarCount / a.shape[a.rank - 1], a.shape[a.rank - 1]])
      let product = commonBackend("vmap", rows, b).matmul(
        rows, transposeA: false, b, transposeB: transposeB)
      return wrap(
        product.reshapedStorage([count] + a.shape.dropLast() + [product.shape[1]]))
    }
    if batchB && !batchA && a.rank == 2 && b.shape[transposeB ? 0 : 1] == 1 {
      // One matrix times every example's vector: the vectors as the rows
      // of one product, op(a)·x = (xᵀ·op(a)ᵀ)ᵀ.
      let vectors = expanded(b, count).reshapedStorage([count, b.scalarCount])
      let product = commonBackend("vmap", vectors, a).matmul(
        vectors, transposeA: false, a, transposeB: !transposeA)
      return wrap(product.reshapedStorage([count, product.shape[1], 1]))
    }
    // Otherwise one product per example (and per batch entry of a 3-D
    // operand), over operands repeated where they are shared.
    // (The operands have one rank: both matrices or both batches of them.)
    let depth = a.rank == 3 ? a.shape[0] : 1
    func matrices(_ x: Tensor<S>) -> Tensor<S> {
      expanded(x, count).reshapedStorage([count * depth] + x.shape.suffix(2))
    }
    let (pa, pb) = (matrices(a), matrices(b))
    let product = commonBackend("vmap", pa, pb).matmul(
      pa, transposeA: transposeA, pb, transposeB: transposeB)
    return wrap(product.reshapedStorage([count] + a.shape.dropLast(2) + product.shape.suffix(2)))
  }

  // MARK: Reductions

  func sum<S: TensorScalar>(_ x: Tensor<S>, alongAxes axes: [Int]) -> Tensor<S> {
    let p = expanded(x, size([x]))
    return wrap(p.backend("vmap").sum(p, alongAxes: axes.map { $0 + 1 }))
  }

  func extremum<S: TensorScalar>(_ x: Tensor<S>, groups: Int, size: Int, largest: Bool) -> (
    Tensor<S>, MaxGateWinners
  ) {
    let count = self.size([x])
    let p = expanded(x, count)
    let (values, winners) = p.backend("vmap").extremum(
      p, groups: count * groups, size: size, largest: largest)
    winners.batch.append(BatchAxis(level: level, size: count))
    return (wrap(values.reshapedStorage([count, groups])), winners)
  }

  func extremumPositions<S: TensorScalar>(_ x: Tensor<S>, groups: Int, size: Int, largest: Bool)
    -> [Int]
  {
    let count = self.size([x])
    let p = expanded(x, count)
    return p.backend("vmap").extremumPositions(
      p, groups: count * groups, size: size, largest: largest)
  }

  func topKPositions<S: TensorScalar>(_ x: Tensor<S>, k: Int, along axis: Int, largest: Bool)
    -> IndexTensor
  {
    let p = expanded(x, size([x]))
    let positions = p.backend("vmap").topKPositions(p, k: k, along: axis + 1, largest: largest)
    return IndexTensor(
      shape: Array(positions.shape.dropFirst()), scalars: positions.scalars,
      batch: positions.batch + [BatchAxis(level: level, size: positions.shape[0])])
  }

  func firstNonFinite<S: TensorScalar>(_ x: Tensor<S>) -> (index: Int, value: S)? {
    let p = expanded(x, size([x]))
    return p.backend("vmap").firstNonFinite(p)
  }

  // MARK: The max gate's routing

  func scatter<S: TensorScalar>(
    _ upstream: Tensor<S>, toWinners winners: MaxGateWinners, route: MaxGateRoute,
    inputShape: [Int]
  ) -> Tensor<S> {
    guard let axis = winners.batch.first(where: { $0.level == level }) else {
      // Winners found outside this level: the same routing for each example.
      let p = expanded(upstream, size([upstream]))
      return stacked(p.shape[0]) { index in
        let g = example(p, index)
        return g.backend("vmap").scatter(
          g, toWinners: winners, route: route, inputShape: inputShape)
      }
    }
    let p = expanded(upstream, axis.size)
    return wrap(
      p.backend("vmap").scatter(
        p, toWinners: winners, route: route, inputShape: [axis.size] + inputShape))
  }

  func gather<S: TensorScalar>(_ x: Tensor<S>, atWinners winners: MaxGateWinners, shape: [Int])
    -> Tensor<S>
  {
    guard let axis = winners.batch.first(where: { $0.level == level }) else {
      let p = expanded(x, size([x]))
      return stacked(p.shape[0]) { index in
        let value = example(p, index)
        return value.backend("vmap").gather(value, atWinners: winners, shape: shape)
      }
    }
    let p = expanded(x, axis.size)
    return wrap(p.backend("vmap").gather(p, atWinners: winners, shape: [axis.size] + shape))
  }

  // MARK: Convolution and pooling

  /// `g` over the images of every example: `B·N` images.
  private func folded(_ g: ConvolutionGeometry, _ count: Int) -> ConvolutionGeometry {
    var g = g
    g.batch *= count
    return g
  }

  /// The first two axes of a physical image batch `[B, N, …]` as one.
  private func images<S>(_ p: Tensor<S>) -> Tensor<S> {
    p.reshapedStorage([p.shape[0] * p.shape[1]] + p.shape.dropFirst(2))
  }

  /// A physical image batch `[B·N, …]` split back into `[B, N, …]`.
  private func unfolded<S>(_ p: Tensor<S>, _ count: Int) -> Tensor<S> {
    wrap(p.reshapedStorage([count, p.shape[0] / count] + p.shape.dropFirst()))
  }

  func convolution<S: TensorScalar>(
    _ input: Tensor<S>, filters: Tensor<S>, bias: Tensor<S>?, _ g: ConvolutionGeometry
  ) -> Tensor<S> {
    let count = size([input, filters, bias])
    if filters.physical(at: level) == nil && bias?.physical(at: level) == nil {
      let p = images(expanded(input, count))
      let output = commonBackend("vmap", [p, filters] + (bias.map { [$0] } ?? []))
        .convolution(p, filters: filters, bias: bias, folded(g, count))
      return unfolded(output, count)
    }
    return stacked(count) { index in
      let (x, w, b) = (slice(input, index)!, slice(filters, index)!, slice(bias, index))
      return commonBackend("vmap", [x, w] + (b.map { [$0] } ?? [])).convolution(
        x, filters: w, bias: b, g)
    }
  }

  func convolutionGradients<S: TensorScalar>(
    _ upstream: Tensor<S>, input: Tensor<S>, filters: Tensor<S>, needs: [Bool],
    _ g: ConvolutionGeometry
  ) -> [Tensor<S>?] {
    let count = size([upstream, input, filters])
    if filters.physical(at: level) == nil && !needs.dropFirst().contains(true) {
      // Only the input's gradient, through one set of filters.
      let (pu, px) = (images(expanded(upstream, count)), images(expanded(input, count)))
      let gradients = commonBackend("vmap", pu, px, filters).convolutionGradients(
        pu, input: px, filters: filters, needs: needs, folded(g, count))
      return [gradients[0].map { unfolded($0, count) }, nil, nil]
    }
    // The filters' gradients are per example: one pass per example.
    let perExample = (0..<count).map { index in
      let (u, x, w) = (slice(upstream, index)!, slice(input, index)!, slice(filters, index)!)
      return commonBackend("vmap", u, x, w).convolutionGradients(
        u, input: x, filters: w, needs: needs, g)
    }
    return needs.indices.map { k in
      needs[k] ? stacked(count) { perExample[$0][k]! } : nil
    }
  }

  func patches<S: TensorScalar>(_ input: Tensor<S>, _ g: ConvolutionGeometry) -> Tensor<S> {
    let count = size([input])
    let p = images(expanded(input, count))
    return unfolded(p.backend("vmap").patches(p, folded(g, count)), count)
  }

  func foldedPatches<S: TensorScalar>(_ columns: Tensor<S>, _ g: ConvolutionGeometry) -> Tensor<S> {
    let count = size([columns])
    let p = images(expanded(columns, count))
    return unfolded(p.backend("vmap").foldedPatches(p, folded(g, count)), count)
  }

  func maxPool<S: TensorScalar>(_ x: Tensor<S>, planes: Int, _ g: WindowGeometry) -> (
    Tensor<S>, MaxGateWinners, MaxGateRoute
  ) {
    let count = size([x])
    let p = images(expanded(x, count))
    let (output, winners, route) = p.backend("vmap").maxPool(p, planes: planes * count, g)
    winners.batch.append(BatchAxis(level: level, size: count))
    return (unfolded(output, count), winners, route)
  }

  func averagePool<S: TensorScalar>(_ x: Tensor<S>, planes: Int, _ g: WindowGeometry) -> Tensor<S> {
    let count = size([x])
    let p = images(expanded(x, count))
    return unfolded(p.backend("vmap").averagePool(p, planes: planes * count, g), count)
  }

  func averagePoolGradient<S: TensorScalar>(
    _ upstream: Tensor<S>, inputShape: [Int], planes: Int, _ g: WindowGeometry
  ) -> Tensor<S> {
    let count = size([upstream])
    let p = images(expanded(upstream, count))
    let shape = [count * inputShape[0]] + inputShape.dropFirst()
    return unfolded(
      p.backend("vmap").averagePoolGradient(
        p, inputShape: shape, planes: planes * count, g), count)
  }

  func maxout<S: TensorScalar>(_ z: Tensor<S>, pieces: Int, shape: [Int]) -> (
    Tensor<S>, MaxGateWinners
  ) {
    let count = size([z])
    let p = images(expanded(z, count))
    let (output, winners) = p.backend("vmap").maxout(
      p, pieces: pieces, shape: [count * shape[0]] + shape.dropFirst())
    winners.batch.append(BatchAxis(level: level, size: count))
    return (unfolded(output, count), winners)
  }

  // MARK: Copies

  func permute<S: TensorScalar>(_ x: Tensor<S>, _ permutation: [Int]) -> Tensor<S> {
    let p = expanded(x, size([x]))
    return wrap(p.backend("vmap").permute(p, [0] + permutation.map { $0 + 1 }))
  }

  func broadcast<S: TensorScalar>(_ x: Tensor<S>, to shape: [Int]) -> Tensor<S> {
    let count = size([x])
    let p = expanded(x, count)
    let aligned = p.reshapedStorage(
      [count] + [Int](repeating: 1, count: shape.count - x.rank) + x.shape)
    return wrap(aligned.backend("vmap").broadcast(aligned, to: [count] + shape))
  }

  func assemble<S: TensorScalar>(_ shape: [Int], zeroFilled: Bool, blocks: [BlockCopy<S>])
    -> Tensor<S>
  {
    let count = size(blocks.map(\.source))
    let physical = blocks.map { block in
      BlockCopy(
        source: expanded(block.source, count), sourceOrigin: [0] + block.sourceOrigin,
        region: [count] + block.region, destinationOrigin: [0] + block.destinationOrigin)
    }
    return wrap(
      commonBackend("vmap", physical.map(\.source)).assemble(
        [count] + shape, zeroFilled: zeroFilled, blocks: physical))
  }

  // MARK: Indexing

  func gather<S: TensorScalar>(_ x: Tensor<S>, along axis: Int, indices: IndexTensor) -> Tensor<S> {
    let count = size(x, indices)
    let (p, i) = (expanded(x, count), expanded(indices, count))
    return wrap(p.backend("vmap").gather(p, along: axis + 1, indices: i))
  }

  func scatterAdd<S: TensorScalar>(
    _ x: Tensor<S>, along axis: Int, indices: IndexTensor, into shape: [Int]
  ) -> Tensor<S> {
    let count = size(x, indices)
    let (p, i) = (expanded(x, count), expanded(indices, count))
    return wrap(p.backend("vmap").scatterAdd(p, along: axis + 1, indices: i, into: [count] + shape))
  }

  func selectSlices<S: TensorScalar>(_ x: Tensor<S>, _ indices: [Int], along axis: Int)
    -> Tensor<S>
  {
    let p = expanded(x, size([x]))
    return wrap(p.backend("vmap").selectSlices(p, indices, along: axis + 1))
  }

  func writeSlices<S: TensorScalar>(
    _ slices: Tensor<S>, into base: Tensor<S>, at indices: [Int], along axis: Int,
    accumulate: Bool
  ) -> Tensor<S> {
    let count = size([slices, base])
    let (ps, pb) = (expanded(slices, count), expanded(base, count))
    return wrap(
      commonBackend("vmap", ps, pb).writeSlices(
        ps, into: pb, at: indices, along: axis + 1, accumulate: accumulate))
  }

  func cumulativeSum<S: TensorScalar>(_ x: Tensor<S>, along axis: Int, reverse: Bool) -> Tensor<S> {
    let p = expanded(x, size([x]))
    return wrap(p.backend("vmap").cumulativeSum(p, along: axis + 1, reverse: reverse))
  }

  // MARK: Fused losses and normalization

  func softmaxLastAxis<S: TensorScalar>(_ x: Tensor<S>, logarithm: Bool) -> Tensor<S> {
    let p = expanded(x, size([x]))
    return wrap(p.backend("vmap").softmaxLastAxis(p, logarithm: logarithm))
  }

  func softmaxLastAxisGradient<S: TensorScalar>(
    _ y: Tensor<S>, upstream: Tensor<S>, logarithm: Bool
  ) -> Tensor<S> {
    let count = size([y, upstream])
    let (py, pu) = (expanded(y, count), expanded(upstream, count))
    return wrap(
      commonBackend("vmap", py, pu).softmaxLastAxisGradient(py, upstream: pu, logarithm: logarithm))
  }

  func layerNormRows<S: TensorScalar>(
    _ x: Tensor<S>, weight: Tensor<S>, bias: Tensor<S>, epsilon: S
  ) -> (output: Tensor<S>, normalized: Tensor<S>, inverseDeviation: Tensor<S>) {
    let count = size([x, weight, bias])
    if weight.physical(at: level) == nil && bias.physical(at: level) == nil {
      let p = expanded(x, count)
      let (output, normalized, deviation) = commonBackend("vmap", p, weight, bias).layerNormRows(
        p, weight: weight, bias: bias, epsilon: epsilon)
      return (wrap(output), wrap(normalized), wrap(deviation))
    }
    let perExample = (0..<count).map { index in
      let (x, w, b) = (slice(x, index)!, slice(weight, index)!, slice(bias, index)!)
      return commonBackend("vmap", x, w, b).layerNormRows(x, weight: w, bias: b, epsilon: epsilon)
    }
    return (
      stacked(count) { perExample[$0].output }, stacked(count) { perExample[$0].normalized },
      stacked(count) { perExample[$0].inverseDeviation }
    )
  }

  func layerNormRowsGradient<S: TensorScalar>(
    _ upstream: Tensor<S>, normalized: Tensor<S>, inverseDeviation: Tensor<S>, weight: Tensor<S>
  ) -> Tensor<S> {
    let count = size([upstream, normalized, inverseDeviation, weight])
    if weight.physical(at: level) == nil {
      let (pu, pn, pd) = (
        expanded(upstream, count), expanded(normalized, count), expanded(inverseDeviation, count)
      )
      return wrap(
        commonBackend("vmap", pu, pn, pd, weight).layerNormRowsGradient(
          pu, normalized: pn, inverseDeviation: pd, weight: weight))
    }
    return stacked(count) { index in
      let (u, n, d, w) = (
        slice(upstream, index)!, slice(normalized, index)!, slice(inverseDeviation, index)!,
        slice(weight, index)!
      )
      return commonBackend("vmap", u, n, d, w).layerNormRowsGradient(
        u, normalized: n, inverseDeviation: d, weight: w)
    }
  }

  func attention<S: TensorScalar>(
    query: Tensor<S>, key: Tensor<S>, value: Tensor<S>, scale: S, causal: Bool
  ) -> (output: Tensor<S>, weights: Tensor<S>)? {
    let count = size([query, key, value])
    let (q, k, v) = (
      images(expanded(query, count)), images(expanded(key, count)), images(expanded(value, count))
    )
    guard
      let (output, weights) = commonBackend("vmap", q, k, v).attention(
        query: q, key: k, value: v, scale: scale, causal: causal)
    else { return nil }
    return (unfolded(output, count), unfolded(weights, count))
  }

  func attentionGradients<S: TensorScalar>(
    _ upstream: Tensor<S>, query: Tensor<S>, key: Tensor<S>, value: Tensor<S>,
    weights: Tensor<S>, scale: S, causal: Bool
  ) -> [Tensor<S>]? {
    let count = size([upstream, query, key, value, weights])
    let physical = [upstream, query, key, value, weights].map { images(expanded($0, count)) }
    return commonBackend("vmap", physical).attentionGradients(
      physical[0], query: physical[1], key: physical[2], value: physical[3],
      weights: physical[4], scale: scale, causal: causal
    )?.map { unfolded($0, count) }
  }

  func apply<S: TensorScalar>(
    _ update: ParameterUpdate<S>, to parameter: inout Tensor<S>, gradient: Tensor<S>,
    state: inout [Tensor<S>]
  ) {
    preconditionFailure(
      "optimizer step: inside vmap the gradient of shape \(gradient.shape) holds one value per example, and a parameter has one value; return the gradients from vmap and combine them first"
    )
  }
}
