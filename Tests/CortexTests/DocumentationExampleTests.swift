import Foundation
import Testing

@testable import Cortex

/// The examples of the articles, compiled and run as written. Each example
/// is copied between a `// doc: Article.md` line and an `// end doc` line,
/// and `everyExampleIsInItsArticle` checks that the article holds exactly
/// that text, so that an article and its compiled copy cannot drift apart.
@Suite struct DocumentationExampleTests {
  /// The examples of this file, by article: the lines between the markers,
  /// with their common indentation removed.
  static func examples() throws -> [(article: String, text: String)] {
    let source = try String(contentsOfFile: #filePath, encoding: .utf8)
    var examples: [(String, String)] = []
    var article: String?
    var lines: [Substring] = []
    for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
      let trimmed = line.drop { $0 == " " }
      if trimmed.hasPrefix("// doc: ") {
        article = String(trimmed.dropFirst("// doc: ".count))
        lines = []
      } else if trimmed == "// end doc", let name = article {
        let indent = lines.filter { !$0.isEmpty }.map { $0.prefix { $0 == " " }.count }.min() ?? 0
        examples.append(
          (name, lines.map { $0.dropFirst(Swift.min(indent, $0.count)) }.joined(separator: "\n")))
        article = nil
      } else if article != nil {
        lines.append(line)
      }
    }
    return examples
  }

  @Test func everyExampleIsInItsArticle() throws {
    let examples = try Self.examples()
    #expect(examples.count >= 7)
    let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("../../Docs/Cortex.docc").standardized
    for (article, text) in examples {
      let contents = try String(
        contentsOf: docs.appendingPathComponent(article), encoding: .utf8)
      #expect(contents.contains(text), "\(article) does not hold the example:\n\(text)")
    }
  }

  /// The `CharGPT` model of "Research models" is the playground's own.
  @Test func theCharGPTOfTheArticleIsThePlaygrounds() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("../..").standardized
    let article = try String(
      contentsOf: root.appendingPathComponent("Docs/Cortex.docc/ResearchModels.md"),
      encoding: .utf8)
    let playground = try String(
      contentsOf: root.appendingPathComponent("Playgrounds/CharGPT/main.swift"), encoding: .utf8)
    let start = try #require(article.range(of: "struct CharGPT: Layer {"))
    let end = try #require(article.range(of: "\n```", range: start.upperBound..<article.endIndex))
    let model = String(article[start.lowerBound..<end.lowerBound])
    #expect(model.hasSuffix("\n}"))
    #expect(playground.contains(model))
  }

  @Test func higherOrderGradientsTrees() throws {
    let model = try withRandomSeed(3) {
      try Sequential<Double> {
        try Dense(inputSize: 3, outputSize: 4)
        Tanh()
        try Dense(inputSize: 4, outputSize: 2)
      }
    }
    let x = random([5, 3], seed: 4)
    let labels = [0, 1, 1, 0, 1]
    // doc: HigherOrderGradients.md
    let weights = model.stateDictionary  // [String: Tensor<Double>]
    func loss(_ w: [String: Tensor<Double>]) -> Tensor<Double> {
      softmaxCrossEntropy(logits: model(x, parameters: w), labels: labels)
    }
    let g = gradient(at: weights, of: loss)  // same keys
    let hv = hessianVectorProduct(at: weights, direction: g, of: loss)
    let (value, differential) = jvp(at: weights, tangent: g, of: loss)
    let perWeight = jacobian(at: weights) { w in model(x, parameters: w) }
    // end doc
    #expect(Set(g.keys) == Set(weights.keys))
    #expect(Set(hv.keys) == Set(weights.keys))
    expectClose(value, loss(weights), tolerance: 0)
    // J·g of a scalar function is |g|².
    let squaredNorm = g.values.map { ($0 * $0).sum() }.reduce(Tensor(0), +)
    expectClose(differential, squaredNorm, tolerance: 1e-14)
    #expect(perWeight["0.weight"]?.shape == [5, 2, 4, 3])
  }

  // doc: BuildingModels.md
  struct TwoLayerNet<Scalar: TensorScalar>: Layer {
    let hidden: Dense<Scalar>
    let output: Dense<Scalar>

    init(inputs: Int = 784, hiddenUnits: Int = 100, classes: Int = 10) throws {
      hidden = try Dense(inputSize: inputs, outputSize: hiddenUnits)
      output = try Dense(inputSize: hiddenUnits, outputSize: classes)
    }

    func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
      output(relu(hidden(x)))
    }
  }
  // end doc

  @Test func buildingModels() throws {
    #expect(
      try TwoLayerNet<Float>().namedParameters.map(\.name)
        == ["hidden.weight", "hidden.bias", "output.weight", "output.bias"])
    #expect(try TwoLayerNet<Float>().outputShape(for: [32, 784]) == [32, 10])

    // doc: BuildingModels.md
    let net = try TwoLayerNet<Double>(inputs: 6, hiddenUnits: 5, classes: 3)
    let input = Tensor<Double>.randomUniform([2, 6], lower: -1, upper: 1, seed: 0)
    let report = checkGradients(of: net, at: input)
    // end doc
    #expect(report.passed, "\(report)")
    #expect(
      report.inputs.map { $0.name ?? "" }
        == ["input", "hidden.weight", "hidden.bias", "output.weight", "output.bias"])

    let before = net.stateDictionary
    // doc: BuildingModels.md
    let halved = net.stateDictionary.mapValues { $0 * 0.5 }
    let output = net(input, parameters: halved)  // net itself is unchanged
    // end doc
    try net.validate(parameters: halved)
    #expect(net.stateDictionary == before)
    expectClose(
      output,
      linear(
        relu(linear(input, weight: halved["hidden.weight"]!, bias: halved["hidden.bias"]!)),
        weight: halved["output.weight"]!, bias: halved["output.bias"]!), tolerance: 0)
  }

  @Test func gettingStarted() {
    let W = Tensor<Double>(shape: [2, 2], scalars: [0.1, 0.5, -0.3, 0.8])
    let x = Tensor<Double>([0.2, 0.4])
    // doc: GettingStarted.md
    let report = checkGradients(at: [W, x]) { inputs in
      let q = matmul(inputs[0], inputs[1])
      return (q * q).sum()
    }
    // end doc
    #expect(report.passed)
    #expect(report.maxRelativeError < 1e-9)
  }

  @Test func perExampleGradientsWithVmap() throws {
    let model = try withRandomSeed(4) {
      try Sequential<Double> {
        try Dense(inputSize: 3, outputSize: 8)
        Tanh()
        try Dense(inputSize: 8, outputSize: 2)
      }
    }
    let weights = model.stateDictionary
    let xs = Tensor<Double>.randomUniform([5, 3], lower: -1, upper: 1, seed: 1)
    let ys = Tensor<Double>.randomUniform([5, 2], lower: -1, upper: 1, seed: 2)
    // doc: HigherOrderGradients.md
    let keys = weights.keys.sorted()  // weights: [String: Tensor<Double>]
    let perExample = vmap(
      { (t: [Tensor<Double>]) -> [Tensor<Double>] in
        let g = gradient(at: weights) { w in
          meanSquaredError(
            predictions: model(t[0].unsqueezed(at: 0), parameters: w),
            targets: t[1].unsqueezed(at: 0))
        }
        return keys.map { g[$0]! }
      }, inAxes: [0, 0])([xs, ys])
    // perExample[k] has shape [batch] + weights[keys[k]].shape.
    // end doc
    for i in 0..<5 {
      let expected = gradient(at: weights) { w in
        meanSquaredError(
          predictions: model(xs[alongAxis: 0, i..<(i + 1)], parameters: w),
          targets: ys[alongAxis: 0, i..<(i + 1)])
      }
      for (k, key) in keys.enumerated() {
        #expect(perExample[k].shape == [5] + weights[key]!.shape)
        expectClose(
          perExample[k][alongAxis: 0, i..<(i + 1)].squeezed(axes: [0]), expected[key]!)
      }
    }
  }

  @Test func meanSquaredErrorMAML() throws {
    let support = (
      x: Tensor<Double>.randomUniform([10, 1], lower: -5, upper: 5, seed: 1),
      y: 2 * sin(Tensor<Double>.randomUniform([10, 1], lower: -5, upper: 5, seed: 1) + 1)
    )
    let query = (
      x: Tensor<Double>.randomUniform([10, 1], lower: -5, upper: 5, seed: 2),
      y: 2 * sin(Tensor<Double>.randomUniform([10, 1], lower: -5, upper: 5, seed: 2) + 1)
    )
    // doc: HigherOrderGradients.md
    let model = try Sequential<Double> {
      try Dense(inputSize: 1, outputSize: 40)
      Tanh()
      try Dense(inputSize: 40, outputSize: 1)
    }

    func loss(_ w: [String: Tensor<Double>], _ x: Tensor<Double>, _ y: Tensor<Double>)
      -> Tensor<Double>
    {
      meanSquaredError(predictions: model(x, parameters: w), targets: y)
    }

    let weights = model.stateDictionary  // "0.weight", "0.bias", "2.weight", "2.bias"
    let metaGradient = gradient(at: weights) { w in
      let inner = gradient(at: w) { w in loss(w, support.x, support.y) }
      let fast = w.merging(inner) { w, g in w - 0.01 * g }  // one inner step
      return loss(fast, query.x, query.y)
    }
    // end doc
    #expect(Set(metaGradient.keys) == ["0.weight", "0.bias", "2.weight", "2.bias"])
    // The meta-gradient is the derivative of the query loss after the
    // inner step: a step along it lowers that loss.
    func adaptedQueryLoss(_ w: [String: Tensor<Double>]) -> Double {
      let inner = gradient(at: w) { w in loss(w, support.x, support.y) }
      return loss(w.merging(inner) { $0 - 0.01 * $1 }, query.x, query.y).scalar
    }
    let stepped = weights.merging(metaGradient) { $0 - 1e-3 * $1 }
    #expect(adaptedQueryLoss(stepped) < adaptedQueryLoss(weights))
  }

  @Test func howTheTapeWorks() {
    let g =
      // doc: HowTheTapeWorks.md
      gradient(at: Tensor<Double>([1, 2, 3])) { x in
        var y = x * 2
        y[0] = 0
        return y.sum()
      }
    // end doc
    #expect(g == Tensor([0, 2, 2]))
    let x = random([3, 5], seed: 1)
    let v = random([3, 2], seed: 2)
    let (dx, dv) = gradient(at: x, v) { x, v in
      // doc: HowTheTapeWorks.md
      var y = x * 3  // x: [3, 5]
      y[alongAxis: 1, 1..<3] = v * v  // v: [3, 2]
      y[alongAxis: 0, stride(from: 0, to: 3, by: 2)] = Tensor(0)
      // end doc
      return y.sum()
    }
    #expect(dx == Tensor(shape: [3, 5], scalars: [0, 0, 0, 0, 0, 3, 0, 0, 3, 3, 0, 0, 0, 0, 0]))
    #expect(dv == Tensor(shape: [3, 2], scalars: [0, 0, 2 * v[1, 0], 2 * v[1, 1], 0, 0]))
    #expect(
      // doc: HowTheTapeWorks.md
      gradient(at: Tensor<Double>([3, 7, 7, 1])) { $0.max() }
        // end doc
        == Tensor([0, 1, 0, 0]))
  }
}
