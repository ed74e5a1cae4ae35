/// The CPU backend's convolution, pooling, maxout, fused losses and batch
/// normalization: calls into the kernels of Kernels/ and the loops the
/// fused operations need.

extension CPUBackend {
  // MARK: Convolution

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func convolution<S: TensorScalar>(
    _ input: Tensor<S>, filters: Tensor<S>, bias: Tensor<S>?, _ g: ConvolutionGeometry
  ) -> Tensor<S> {
    let output = Tensor<S>.uninitialized([
      g.batch, g.filters, g.plane.output.height, g.plane.output.width,
    ])
    convolution2DForward(
      input.storage.pointer, filters: filters.storage.pointer, bias: bias?.storage.pointer,
      output: output.storage.pointer, g)
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func convolutionGradients<S: TensorScalar>(
    _ upstream: Tensor<S>, input: Tensor<S>, filters: Tensor<S>, needs: [Bool],
    _ g: ConvolutionGeometry
  ) -> [Tensor<S>?] {
    let shapes = [input.shape, filters.shape, [g.filters]].prefix(needs.count)
    let gradients = zip(shapes, needs).map { shape, needed in
      needed ? Tensor<S>.uninitialized(shape) : nil
    }
    convolution2DBackward(
      upstream: upstream.storage.pointer, input: input.storage.pointer,
      filters: filters.storage.pointer, inputGradient: gradients[0]?.storage.pointer,
      filterGradient: gradients[1]?.storage.pointer,
      biasGradient: gradients.count > 2 ? gradients[2]?.storage.pointer : nil, g)
    return gradients
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func patches<S: TensorScalar>(_ input: Tensor<S>, _ g: ConvolutionGeometry) -> Tensor<S> {
    let columns = g.plane.outputCount * g.patchSize
    let output = Tensor<S>.uninitialized([g.batch, g.patchSize, g.plane.outputCount])
    for n in 0..<g.batch {
      im2col(
        input.storage.pointer + n * g.inputImageCount, channels: g.channels, g.plane,
        output.storage.pointer + n * columns)
    }
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func foldedPatches<S: TensorScalar>(_ columns: Tensor<S>, _ g: ConvolutionGeometry)
    -> Tensor<S>
  {
    let count = g.plane.outputCount * g.patchSize
    let output = Tensor<S>(
      shape: [g.batch, g.channels, g.plane.input.height, g.plane.input.width], repeating: 0,
      on: .cpu)
    for n in 0..<g.batch {
      col2im(
        columns.storage.pointer + n * count, channels: g.channels, g.plane,
        output.storage.pointer + n * g.inputImageCount)
    }
    return output
  }

  // MARK: Pooling and maxout

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func maxPool<S: TensorScalar>(_ x: Tensor<S>, planes: Int, _ g: WindowGeometry) -> (
    Tensor<S>, MaxGateWinners, MaxGateRoute
  ) {
    let output = Tensor<S>.uninitialized([x.shape[0], x.shape[1], g.output.height, g.output.width])
    let winners = MaxGateWinners(count: output.scalarCount)
    if g.tiles2x2 {
      maxPool2x2Forward(
        x.storage.pointer, output: output.storage.pointer, winners: winners.pointer,
        planes: planes, g)
      return (output, winners, .pooling2x2(planes: planes, g))
    }
    maxPool2DForward(
      x.storage.pointer, output: output.storage.pointer, winners: winners.pointer, planes: planes,
      g)
    return (output, winners, .general)
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func averagePool<S: TensorScalar>(_ x: Tensor<S>, planes: Int, _ g: WindowGeometry)
    -> Tensor<S>
  {
    let output = Tensor<S>.uninitialized([x.shape[0], x.shape[1], g.output.height, g.output.width])
    avgPool2DForward(x.storage.pointer, output: output.storage.pointer, planes: planes, g)
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func averagePoolGradient<S: TensorScalar>(
    _ upstream: Tensor<S>, inputShape: [Int], planes: Int, _ g: WindowGeometry
  ) -> Tensor<S> {
    let gradient = Tensor<S>.uninitialized(inputShape)
    avgPool2DBackward(
      upstream.storage.pointer, inputGradient: gradient.storage.pointer, planes: planes, g)
    return gradient
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func maxout<S: TensorScalar>(_ z: Tensor<S>, pieces: Int, shape: [Int]) -> (
    Tensor<S>, MaxGateWinners
  ) {
    let output = Tensor<S>.uninitialized(shape)
    let winners = MaxGateWinners(count: output.scalarCount)
    maxoutForward(
      z.storage.pointer, output: output.storage.pointer, winners: winners.pointer,
      outer: shape[0], units: shape[1], pieces: pieces, inner: shape[2...].reduce(1, *))
    return (output, winners)
  }

  // MARK: Softmax along the last axis

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func softmaxLastAxis<S: TensorScalar>(_ x: Tensor<S>, logarithm: Bool) -> Tensor<S> {
    let output = Tensor<S>.uninitialized(x.shape)
    let length = x.shape.last ?? 1
    runKernel(
      .softmaxRows(
        x: x.storage.pointer, out: output.storage.pointer,
        rows: length == 0 ? 0 : x.scalarCount / length, length: length, logarithm: logarithm))
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func softmaxLastAxisGradient<S: TensorScalar>(
    _ y: Tensor<S>, upstream: Tensor<S>, logarithm: Bool
  ) -> Tensor<S> {
    let output = Tensor<S>.uninitialized(y.shape)
    let length = y.shape.last ?? 1
    runKernel(
      .softmaxRowsGradient(
        y: y.storage.pointer, upstream: upstream.storage.pointer, out: output.storage.pointer,
        rows: length == 0 ? 0 : y.scalarCount / length, length: length, logarithm: logarithm))
    return output
  }

  // MARK: Attention

  func attention<S: TensorScalar>(
    query: Tensor<S>, key: Tensor<S>, value: Tensor<S>, scale: S, causal: Bool
  ) -> (output: Tensor<S>, weights: Tensor<S>)? {
    let shape = attentionShape(query, key, value)
    let output = Tensor<S>.uninitialized([shape.groups, shape.queries, shape.valueDepth])
    let weights = Tensor<S>.uninitialized([shape.groups, shape.queries, shape.keys])
    runKernel(
      .attention(
        query: query.storage.pointer, key: key.storage.pointer, value: value.storage.pointer,
        output: output.storage.pointer, weights: weights.storage.pointer, shape: shape,
        scale: scale, causal: causal))
    return (output, weights)
  }

  func attentionGradients<S: TensorScalar>(
    _ upstream: Tensor<S>, query: Tensor<S>, key: Tensor<S>, value: Tensor<S>,
    weights: Tensor<S>, scale: S, causal: Bool
  ) -> [Tensor<S>]? {
    let gradients = [query.shape, key.shape, value.shape].map { Tensor<S>.uninitialized($0) }
    runKernel(
      .attentionGradients(
        upstream: upstream.storage.pointer, query: query.storage.pointer,
        key: key.storage.pointer, value: value.storage.pointer, weights: weights.storage.pointer,
        queryGradient: gradients[0].storage.pointer, keyGradient: gradients[1].storage.pointer,
        valueGradient: gradients[2].storage.pointer,
        shape: attentionShape(query, key, value), scale: scale, causal: causal))
    return gradients
  }

  private func attentionShape<S>(_ query: Tensor<S>, _ key: Tensor<S>, _ value: Tensor<S>)
    -> AttentionShape
  {
    AttentionShape(
      groups: query.shape[0], queries: query.shape[1], keys: key.shape[1], depth: query.shape[2],
      valueDepth: value.shape[2])
  }

  // MARK: Layer normalization

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func layerNormRows<S: TensorScalar>(
    _ x: Tensor<S>, weight: Tensor<S>, bias: Tensor<S>, epsilon: S
  ) -> (output: Tensor<S>, normalized: Tensor<S>, inverseDeviation: Tensor<S>) {
    let length = weight.scalarCount
    let output = Tensor<S>.uninitialized(x.shape)
    let normalized = Tensor<S>.uninitialized(x.shape)
    let inverseDeviation = Tensor<S>.uninitialized(Array(x.shape.dropLast(weight.rank)))
    runKernel(
      .layerNormRows(
        x: x.storage.pointer, weight: weight.storage.pointer, bias: bias.storage.pointer,
        out: output.storage.pointer, normalized: normalized.storage.pointer,
        inverseDeviation: inverseDeviation.storage.pointer, rows: x.scalarCount / length,
        length: length, epsilon: epsilon))
    return (output, normalized, inverseDeviation)
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func layerNormRowsGradient<S: TensorScalar>(
    _ upstream: Tensor<S>, normalized: Tensor<S>, inverseDeviation: Tensor<S>, weight: Tensor<S>
  ) -> Tensor<S> {
    let length = weight.scalarCount
    let output = Tensor<S>.uninitialized(upstream.shape)
    runKernel(
      .layerNormRowsGradient(
        upstream: upstream.storage.pointer, normalized: normalized.storage.pointer,
        inverseDeviation: inverseDeviation.storage.pointer, weight: weight.storage.pointer,
        out: output.storage.pointer, rows: upstream.scalarCount / length, length: length))
    return output
  }

  // MARK: Fused losses

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func softmaxCrossEntropy<S: TensorScalar>(_ logits: Tensor<S>, labels: [Int]) -> (
    loss: S, probabilities: Tensor<S>
  ) {
    let (examples, classes) = (logits.shape[0], logits.shape[1])
    let probabilities = Tensor<S>.uninitialized(logits.shape)
    var total: S = 0
    for example in 0..<examples {
      let row = logits.storage.pointer + example * classes
      let probability = probabilities.storage.pointer + example * classes
      var largest = row[0]
      for j in 1..<classes where row[j] > largest { largest = row[j] }
      var sum: S = 0
      for j in 0..<classes {
        probability[j] = S.exp(row[j] - largest)
        sum += probability[j]
      }
      for j in 0..<classes { probability[j] /= sum }
      total += largest + S.log(sum) - row[labels[example]]
    }
    return (total, probabilities)
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func softmaxCrossEntropyGradient<S: TensorScalar>(
    _ probabilities: Tensor<S>, labels: [Int], scale: S
  ) -> Tensor<S> {
    let classes = probabilities.shape[1]
    let gradient = Tensor<S>.uninitialized(probabilities.shape)
    let (source, target) = (probabilities.storage.pointer, gradient.storage.pointer)
    for i in 0..<gradient.scalarCount { target[i] = source[i] * scale }
    for (example, label) in labels.enumerated() { target[example * classes + label] -= scale }
    return gradient
  }

  // MARK: Batch normalization

  /// Calls `body(channel, offset)` for each plane of `x` `[N, C, ...]`,
  /// with the plane's first flat index.
  @inline(__always)
  private func forEachPlane<S>(_ x: Tensor<S>, _ body: (Int, Int) -> Void) {
    let (batch, channels) = (x.shape[0], x.shape[1])
    let spatial = x.shape[2...].reduce(1, *)
    for n in 0..<batch {
      for c in 0..<channels { body(c, (n * channels + c) * spatial) }
    }
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func channelMoments<S: TensorScalar>(_ x: Tensor<S>) -> (mean: [S], variance: [S]) {
    let channels = x.shape[1]
    let spatial = x.shape[2...].reduce(1, *)
    let count = S(x.shape[0] * spatial)
    var mean = [S](repeating: 0, count: channels)
    forEachPlane(x) { c, start in
      let source = x.storage.pointer + start
      var total: S = 0
      for s in 0..<spatial { total += source[s] }
      mean[c] += total
    }
    for c in 0..<channels { mean[c] /= count }
    // The second pass sums squared deviations from the mean, which keeps
    // the variance accurate and ≥ 0.
    var variance = [S](repeating: 0, count: channels)
    forEachPlane(x) { c, start in
      let source = x.storage.pointer + start
      let center = mean[c]
      var total: S = 0
      for s in 0..<spatial {
        let deviation = source[s] - center
        total += deviation * deviation
      }
      variance[c] += total
    }
    for c in 0..<channels { variance[c] /= count }
    return (mean, variance)
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func normalizeChannels<S: TensorScalar>(
    _ x: Tensor<S>, center: [S], factor: [S], shift: [S]
  ) -> Tensor<S> {
    let spatial = x.shape[2...].reduce(1, *)
    let output = Tensor<S>.uninitialized(x.shape)
    forEachPlane(x) { c, start in
      let source = x.storage.pointer + start
      let destination = output.storage.pointer + start
      let (center, factor, shift) = (center[c], factor[c], shift[c])
      for s in 0..<spatial { destination[s] = factor * (source[s] - center) + shift }
    }
    return output
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func channelGradientSums<S: TensorScalar>(
    _ g: Tensor<S>, _ x: Tensor<S>, center: [S], inverseDeviation: [S]
  ) -> (sum: [S], sumNormalized: [S]) {
    let spatial = x.shape[2...].reduce(1, *)
    var sum = [S](repeating: 0, count: x.shape[1])
    var sumNormalized = sum
    forEachPlane(x) { c, start in
      let source = x.storage.pointer + start
      let upstream = g.storage.pointer + start
      let (center, inverse) = (center[c], inverseDeviation[c])
      var (total, totalNormalized): (S, S) = (0, 0)
      for s in 0..<spatial {
        total += upstream[s]
        totalNormalized += upstream[s] * (source[s] - center) * inverse
      }
      sum[c] += total
      sumNormalized[c] += totalNormalized
    }
    return (sum, sumNormalized)
  }

  @_specialize(where S == Float)
  @_specialize(where S == Double)
  func batchNormInputGradient<S: TensorScalar>(
    _ g: Tensor<S>, _ x: Tensor<S>, center: [S], inverseDeviation: [S], factor: [S],
    meanG: [S], meanGNormalized: [S]
  ) -> Tensor<S> {
    let spatial = x.shape[2...].reduce(1, *)
    let gradient = Tensor<S>.uninitialized(x.shape)
    forEachPlane(x) { c, start in
      let source = x.storage.pointer + start
      let upstream = g.storage.pointer + start
      let destination = gradient.storage.pointer + start
      let (center, inverse, factor) = (center[c], inverseDeviation[c], factor[c])
      let (meanG, meanGNormalized) = (meanG[c], meanGNormalized[c])
      for s in 0..<spatial {
        let normalized = (source[s] - center) * inverse
        destination[s] = factor * (upstream[s] - meanG - normalized * meanGNormalized)
      }
    }
    return gradient
  }
}
