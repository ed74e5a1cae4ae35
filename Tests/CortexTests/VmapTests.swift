import Testing

@testable import CortexCore
@testable import CortexNN

/// `vmap` against its definition: stacking the function's results over the
/// examples, one call per example.
@Suite struct VmapTests {
  static let examples = 3

  /// Example `b` of a catalog point: the point scaled by `1 − 0.05·b`, which
  /// keeps positive domains positive and distinct values distinct.
  static func example(_ point: Tensor<Double>, _ b: Int) -> Tensor<Double> {
    point * (1 - 0.05 * Double(b))
  }

  /// `f` applied to each example and stacked along axis 0; `inAxes` says
  /// which inputs have examples (along axis 0 of `inputs`).
  static func looped(
    _ f: ([Tensor<Double>]) -> Tensor<Double>, _ inputs: [Tensor<Double>], inAxes: [Int?]
  ) -> Tensor<Double> {
    Tensor(
      stacking: (0..<examples).map { b in
        f(
          zip(inputs, inAxes).map { input, axis in
            guard let axis else { return input }
            return input.sliced(alongAxis: axis, range: b..<(b + 1)).squeezed(axes: [axis])
          })
      })
  }

  static func expectClose(
    _ actual: Tensor<Double>, _ expected: Tensor<Double>, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(actual.shape == expected.shape, "\(what): shapes", sourceLocation: sourceLocation)
    #expect(
      actual.isAlmostEqual(to: expected, absoluteTolerance: 1e-12, relativeTolerance: 1e-10),
      "\(what): \(actual.scalars.prefix(6)) vs \(expected.scalars.prefix(6))",
      sourceLocation: sourceLocation)
  }

  /// The three ways a row is mapped: every input along axis 0, the first
  /// input along axis 0 with the others shared, and every input along its
  /// last axis.
  static func mappings(_ row: OperationCheck) -> [(inputs: [Tensor<Double>], inAxes: [Int?])] {
    let points = row.points
    let stacked = points.map { point in
      Tensor(stacking: (0..<examples).map { example(point, $0) })
    }
    let shared: [Int?] = [0] + [Int?](repeating: nil, count: points.count - 1)
    let last = points.map { point in
      Tensor(stacking: (0..<examples).map { example(point, $0) }, alongAxis: point.rank)
    }
    return [
      (stacked, [Int?](repeating: 0, count: points.count)),
      ([stacked[0]] + points.dropFirst(), shared),
      (last, points.map { $0.rank }),
    ]
  }

  @Test(arguments: OperationCheck.all.map(\.name))
  func everyCatalogOperationMapsLikeALoop(_ name: String) {
    let row = OperationCheck.all.first { $0.name == name }!
    for (inputs, inAxes) in Self.mappings(row) {
      let mapped = vmap(row.function, inAxes: inAxes)(inputs)
      Self.expectClose(
        mapped, Self.looped(row.function, inputs, inAxes: inAxes), "\(name) \(inAxes)")
    }
  }

  /// The gradient of each example's output (weighted, so that every element
  /// counts differently) with respect to every input, per example: the
  /// pullbacks run batched.
  @Test(arguments: OperationCheck.all.map(\.name))
  func everyCatalogOperationsPerExampleGradientsMatchALoop(_ name: String) {
    let row = OperationCheck.all.first { $0.name == name }!
    let gradients: ([Tensor<Double>]) -> Tensor<Double> = { inputs in
      let grads = gradient(at: inputs) { xs in
        let y = row.function(xs)
        return (y * Tensor.linspace(from: 0.5, to: 1.5, count: y.scalarCount).reshaped(to: y.shape))
          .sum()
      }
      return Tensor(concatenating: grads.map { $0.reshaped(to: [-1]) })
    }
    for (inputs, inAxes) in Self.mappings(row) {
      let mapped = vmap(gradients, inAxes: inAxes)(inputs)
      Self.expectClose(
        mapped, Self.looped(gradients, inputs, inAxes: inAxes), "∇\(name) \(inAxes)")
    }
  }

  /// A 2-layer MLP's loss for one example.
  static func loss(_ w: [Tensor<Double>], _ x: Tensor<Double>, _ y: Tensor<Double>) -> Tensor<
    Double
  > {
    let hidden = tanh(matmul(w[0], x) + w[1])
    return square(matmul(w[2], hidden) + w[3] - y).sum()
  }

  static let weights = [
    random([8, 5], seed: 1), random([8], seed: 2), random([3, 8], seed: 3), random([3], seed: 4),
  ]

  @Test func perExampleGradientsEqualALoop() {
    let (xs, ys) = (random([16, 5], seed: 5), random([16, 3], seed: 6))
    let w = Self.weights
    let perExample = vmap(
      { t in
        Tensor(
          concatenating: gradient(at: w) { w in Self.loss(w, t[0], t[1]) }.map {
            $0.reshaped(to: [-1])
          })
      }, inAxes: [0, 0])([xs, ys])
    #expect(perExample.shape == [16, 8 * 5 + 8 + 3 * 8 + 3])
    for i in 0..<16 {
      let expected = gradient(at: w) { w in
        Self.loss(
          w, xs[alongAxis: 0, i..<(i + 1)].squeezed(), ys[alongAxis: 0, i..<(i + 1)].squeezed())
      }
      let row = perExample[alongAxis: 0, i..<(i + 1)].reshaped(to: [-1])
      Self.expectClose(
        row, Tensor(concatenating: expected.map { $0.reshaped(to: [-1]) }), "example \(i)")
    }
  }

  @Test func vmapInsideAGradientSumsTheExamplesContributions() {
    let (xs, ys) = (random([6, 5], seed: 7), random([6, 3], seed: 8))
    let batched = gradient(at: Self.weights) { w in
      vmap({ t in Self.loss(w, t[0], t[1]) }, inAxes: [0, 0])([xs, ys]).sum()
    }
    let summed = gradient(at: Self.weights) { w in
      (0..<6).map { i in
        Self.loss(
          w, xs[alongAxis: 0, i..<(i + 1)].squeezed(), ys[alongAxis: 0, i..<(i + 1)].squeezed())
      }.reduce(Tensor(0), +)
    }
    for (a, b) in zip(batched, summed) { Self.expectClose(a, b, "shared weights") }
  }

  @Test func theGradientOfPerExampleGradientsIsItsSecondOrder() {
    // d/dx Σᵢ |∇_w loss(w, xᵢ)|²: a gradient through vmap(gradient).
    let (xs, ys) = (random([4, 5], seed: 9), random([4, 3], seed: 10))
    let w = Self.weights
    func penalty(_ xs: Tensor<Double>, batched: Bool) -> Tensor<Double> {
      if batched {
        return vmap(
          { t in
            gradient(at: w) { w in Self.loss(w, t[0], t[1]) }.map { square($0).sum() }
              .reduce(Tensor(0), +)
          }, inAxes: [0, 0])([xs, ys]
          ).sum()
      }
      return (0..<4).map { i in
        gradient(at: w) { w in
          Self.loss(
            w, xs[alongAxis: 0, i..<(i + 1)].squeezed(), ys[alongAxis: 0, i..<(i + 1)].squeezed())
        }.map { square($0).sum() }.reduce(Tensor(0), +)
      }.reduce(Tensor(0), +)
    }
    Self.expectClose(
      gradient(at: xs) { penalty($0, batched: true) },
      gradient(at: xs) { penalty($0, batched: false) }, "second order")
  }

  @Test func nestedVmapsMapEachAxis() {
    let a = random([3, 4, 5], seed: 11)
    let b = random([4, 5], seed: 12)
    let f: ([Tensor<Double>]) -> Tensor<Double> = { t in (tanh(t[0]) * t[1]).sum() + t[1].max() }
    // The outer map over axis 0 of a, the inner over axis 0 of each slice
    // and of b.
    let mapped = vmap({ s in vmap(f, inAxes: [0, 0])([s[0], b]) }, inAxes: [0])([a])
    #expect(mapped.shape == [3, 4])
    for i in 0..<3 {
      for j in 0..<4 {
        let expected = f([
          a[alongAxis: 0, i..<(i + 1)][alongAxis: 1, j..<(j + 1)].reshaped(to: [5]),
          b[alongAxis: 0, j..<(j + 1)].reshaped(to: [5]),
        ])
        #expect(abs(mapped[i, j] - expected.scalar) < 1e-12)
      }
    }
  }

  @Test func theMappedFunctionRunsOnceForTheWholeBatch() {
    final class Count { var calls = 0 }
    let count = Count()
    let mapped = vmap({ (x: Tensor<Double>) -> Tensor<Double> in
      count.calls += 1
      return gradient(at: x) { (tanh($0) * $0).sum() }
    })(random([64, 10], seed: 18))
    #expect(count.calls == 1)
    #expect(mapped.shape == [64, 10])
  }

  @Test func axesCanBeNegativeAndTheOutputAxisChosen() {
    let x = random([4, 3], seed: 13)
    let columns = vmap({ softmax($0) }, inAxis: -1, outAxis: 1)(x)
    Self.expectClose(columns, softmax(x, alongAxis: 0), "softmax over columns")
  }

  @Test func aFunctionThatIgnoresTheExamplesIsRepeated() {
    let x = random([5, 2], seed: 14)
    let c = random([3], seed: 15)
    let repeated = vmap({ _ in exp(c) })(x)
    Self.expectClose(repeated, Tensor(stacking: Array(repeating: exp(c), count: 5)), "repeated")
  }

  @Test func perExampleGradientsOfALayerThroughItsFunctionalCall() {
    let model = withRandomSeed(1) {
      try! Sequential<Double> {
        try Conv2D(inputChannels: 1, outputChannels: 2, filterSize: 3, padding: 1)
        ReLU()
        try MaxPool2D(size: 2, stride: 2)
        Flatten()
        try Dense(inputSize: 8, outputSize: 3)
      }
    }
    let weights = model.stateDictionary
    let images = random([4, 1, 1, 4, 4], seed: 16)
    let perExample = vmap(
      { x in
        let grads = gradient(at: weights) { w in
          softmaxCrossEntropy(logits: model(x, parameters: w), labels: [0])
        }
        return grads["0.weight"]!.reshaped(to: [-1])
      })(images)
    for i in 0..<4 {
      let expected = gradient(at: weights) { w in
        softmaxCrossEntropy(
          logits: model(images[alongAxis: 0, i..<(i + 1)].squeezed(axes: [0]), parameters: w),
          labels: [0])
      }
      Self.expectClose(
        perExample[alongAxis: 0, i..<(i + 1)].reshaped(to: [-1]),
        expected["0.weight"]!.reshaped(to: [-1]), "conv weight, example \(i)")
    }
  }

  @Test func aCausalTransformerLayerMapsOverSequences() {
    let layer = withRandomSeed(3) {
      try! TransformerEncoderLayer<Double>(
        features: 8, heads: 2, hiddenSize: 16, dropout: 0, causal: true)
    }
    let sequences = random([3, 5, 8], seed: 17)
    let mapped = vmap({ layer($0.unsqueezed(at: 0)).squeezed(axes: [0]) })(sequences)
    Self.expectClose(mapped, layer(sequences), "transformer")
  }

  @Test func perExampleGradientsOfAGPTWithEachSequencesOwnTokens() throws {
    let model: Sequential<Double> = try withRandomSeed(5) {
      try Zoo.gptTiny(vocabularySize: 7, context: 5, features: 4, heads: 2, hiddenSize: 8)
    }
    let weights = model.stateDictionary
    let keys = weights.keys.sorted()
    let tokens: [[Double]] = [[1, 4, 0, 6, 2], [3, 3, 5, 1, 0], [6, 2, 2, 4, 5]]
    let ids = Tensor(shape: [3, 5], scalars: tokens.flatMap { $0 })
    // The next token of each position, as one-hot targets.
    let targets = Tensor<Double>(shape: [3, 5, 7]) { index in
      let (sequence, position, token) = (index / 35, index / 7 % 5, index % 7)
      return Int(tokens[sequence][(position + 1) % 5]) == token ? 1 : 0
    }
    func loss(_ w: [String: Tensor<Double>], _ ids: Tensor<Double>, _ targets: Tensor<Double>)
      -> Tensor<Double>
    {
      softmaxCrossEntropy(
        logits: model(ids.unsqueezed(at: 0), parameters: w).squeezed(axes: [0]),
        probabilities: targets)
    }
    let perExample = vmap(
      { (t: [Tensor<Double>]) -> [Tensor<Double>] in
        let g = gradient(at: weights) { w in loss(w, t[0], t[1]) }
        return keys.map { g[$0]! }
      }, inAxes: [0, 0])([ids, targets])
    for i in 0..<3 {
      let expected = gradient(at: weights) { w in
        loss(
          w, ids[alongAxis: 0, i..<(i + 1)].squeezed(axes: [0]),
          targets[alongAxis: 0, i..<(i + 1)].squeezed(axes: [0]))
      }
      for (k, key) in keys.enumerated() {
        Self.expectClose(
          perExample[k][alongAxis: 0, i..<(i + 1)].squeezed(axes: [0]), expected[key]!,
          "\(key), sequence \(i)")
      }
    }
  }

  @Test func positionsFoundInsideVmapIndexEachExample() {
    let x = random([4, 6], seed: 19)
    // Each row's largest element, gathered at its argmax and read by topK.
    let gathered = vmap({ (row: Tensor<Double>) in
      gather(row, alongAxis: 0, indices: row.argmax(alongAxis: 0, keepDims: true))
    })(x)
    let top = vmap({ (row: Tensor<Double>) in row.topK(1).values })(x)
    Self.expectClose(gathered, x.max(alongAxes: [1], keepDims: true), "argmax")
    Self.expectClose(top, x.max(alongAxes: [1], keepDims: true), "topK")
  }

  @Test func readingAScalarInsideVmapStopsWithAMessage() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = vmap({ (x: Tensor<Double>) in Tensor(x.sum().scalar) })(Tensor<Double>.ones([3, 2]))
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains(
        "scalar: inside vmap, a tensor of shape [] holds one value per example (3 examples)"))
  }

  @Test func examplesOfDifferentCountsStopWithAMessage() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = vmap({ (t: [Tensor<Double>]) in t[0] + t[1] }, inAxes: [0, 1])([
        Tensor<Double>.ones([3, 2]), Tensor<Double>.ones([3, 2]),
      ])
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains(
        "vmap: input 1 has 2 examples along axis 1 (shape [3, 2]), but input 0 has 3"))
  }

  @Test func anOptimizerStepInsideVmapStopsWithAMessage() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      let parameter = Parameter(Tensor<Double>.zeros([2]))
      _ = vmap({ (x: Tensor<Double>) -> Tensor<Double> in
        parameter.value = x
        return x
      })(Tensor<Double>.ones([3, 2]))
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains("Parameter.value: a parameter of shape [2] was set to a value inside vmap"))
  }
}
