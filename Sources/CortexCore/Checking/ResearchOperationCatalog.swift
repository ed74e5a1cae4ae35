/// The gradient checks of the research building blocks: the smooth
/// activations and elementary functions, select, indexing, the regression
/// and likelihood losses, layer normalization and attention.
///
/// Inputs stay away from kinks: `abs` (in the L1 loss) sees distinct
/// values, and top-k picks from distinct values so no two tie.
extension OperationCheck {
  /// The checks of the research building blocks.
  static var researchOperations: [OperationCheck] {
    elementwiseResearch + indexing + researchLosses + normalizationAndAttention
  }

  static var elementwiseResearch: [OperationCheck] {
    [
      check("gelu", [[3, 5]], lower: -3, upper: 3) { gelu($0[0]) },
      check("gelu (tanh)", [[2, 3, 4]], lower: -3, upper: 3) { gelu($0[0], approximation: .tanh) },
      check("softplus", [[3, 5]], lower: -4, upper: 4) { softplus($0[0]) },
      check("silu", [[3, 5]], lower: -4, upper: 4) { silu($0[0]) },
      check("erf", [[4, 3]], lower: -2, upper: 2) { erf($0[0]) },
      check("sin", [[3, 4]], lower: -3, upper: 3) { sin($0[0]) },
      check("cos", [[3, 4]], lower: -3, upper: 3) { cos($0[0]) },
      check("log1p", [[3, 4]], lower: -0.5, upper: 2) { log1p($0[0]) },
      check("expm1", [[3, 4]]) { expm1($0[0]) },
      check("select (broadcast)", [[3, 4], [4]]) { inputs in
        let condition = Mask(shape: [3, 1], scalars: [true, false, true])
        return select(condition, inputs[0], inputs[1])
      },
    ]
  }

  static var indexing: [OperationCheck] {
    let indices = IndexTensor(shape: [2, 3, 4], scalars: (0..<24).map { ($0 * 7) % 5 })
    return [
      check("gather (axis 1, repeated indices)", [[2, 5, 4]]) {
        gather($0[0], alongAxis: 1, indices: indices)
      },
      check("scatterAdd", [[2, 3, 4]]) {
        scatterAdd($0[0], alongAxis: 1, indices: indices, into: [2, 5, 4])
      },
      check("selecting (repeated)", [[5, 3]]) { $0[0].selecting([4, 0, 4, 2], alongAxis: 0) },
      check("adding(atIndices:)", [[2, 5], [2, 3]]) {
        $0[0].adding($0[1], atIndices: [1, 3, 1], alongAxis: -1)
      },
      check("sliced (stride 2)", [[3, 7]]) {
        $0[0].sliced(alongAxis: 1, stride(from: 1, to: 7, by: 2))
      },
      check("sliced (negative stride)", [[5, 2]]) {
        $0[0].sliced(alongAxis: 0, stride(from: 4, through: 0, by: -2))
      },
      check("split", [[2, 6]]) { inputs in
        let parts = inputs[0].split(sizes: [1, 3, 2], alongAxis: 1)
        return parts[0] * 2 + parts[1].sum(alongAxes: [1], keepDims: true)
          - square(parts[2])
          .sum(alongAxes: [1], keepDims: true)
      },
      check("chunked", [[7, 2]]) { inputs in
        let parts = inputs[0].chunked(into: 3, alongAxis: 0)
        return Tensor(concatenating: [square(parts[2]), parts[0], tanh(parts[1])], alongAxis: 0)
      },
      check("cumulativeSum", [[3, 4, 2]]) { $0[0].cumulativeSum(alongAxis: 1) },
      check("cumulativeSum (reverse)", [[4, 3]]) {
        $0[0].cumulativeSum(alongAxis: 0, reverse: true)
      },
      checkDistinct("topK values", [3, 6]) { $0.topK(3, alongAxis: 1).values },
      checkDistinct("topK values (smallest, axis 0)", [5, 2]) {
        $0.topK(2, alongAxis: 0, largest: false).values
      },
    ]
  }

  static var researchLosses: [OperationCheck] {
    let labels = [2, 0, 4]
    return [
      check("meanSquaredError", [[3, 4], [3, 4]]) {
        meanSquaredError(predictions: $0[0], targets: $0[1])
      },
      check("meanSquaredError (sum)", [[2, 3], [2, 3]]) {
        meanSquaredError(predictions: $0[0], targets: $0[1], reduction: .sum)
      },
      {
        // Distinct values keep every difference away from abs's kink at 0.
        let points = [distinct([3, 4], seed: 5), distinct([3, 4], seed: 6) * 0.5 + 0.01]
        let loss: @Sendable ([Tensor<Double>]) -> Tensor<Double> = {
          l1Loss(predictions: $0[0], targets: $0[1])
        }
        return OperationCheck(
          name: "l1Loss", shapes: "[3, 4], [3, 4]", points: points, function: loss,
          run: { checkGradients(at: points, of: loss) },
          runSecondOrder: { checkGradients(at: points, order: 2, of: loss) })
      }(),
      check("binaryCrossEntropy", [[3, 4], [3, 4]], lower: 0.05, upper: 0.95) { inputs in
        binaryCrossEntropy(logits: (inputs[0] - 0.5) * 8, targets: inputs[1])
      },
      check("binaryCrossEntropy (none)", [[5], [5]], lower: 0.05, upper: 0.95) { inputs in
        binaryCrossEntropy(logits: inputs[0] * 6 - 3, targets: inputs[1], reduction: .none)
      },
      check("negativeLogLikelihood", [[3, 5]], lower: -2, upper: 2) {
        negativeLogLikelihood(logProbabilities: logSoftmax($0[0]), labels: labels)
      },
      check("softmaxCrossEntropy (probabilities)", [[3, 5], [3, 5]], lower: 0.1, upper: 1) {
        softmaxCrossEntropy(logits: $0[0] * 3, probabilities: softmax($0[1]))
      },
      check("softmaxCrossEntropy (labelSmoothing 0.1, sum)", [[3, 5]], lower: -2, upper: 2) {
        softmaxCrossEntropy(logits: $0[0], labels: labels, labelSmoothing: 0.1, reduction: .sum)
      },
      check("softmaxCrossEntropy (none)", [[3, 5]], lower: -2, upper: 2) {
        softmaxCrossEntropy(logits: $0[0], labels: labels, reduction: .none)
      },
      check("crossEntropy (none)", [[3, 5]], lower: 0.1, upper: 1) {
        crossEntropy(probabilities: $0[0], labels: labels, reduction: .none)
      },
      checkDistinct("multiclassHingeLoss (sum)", [3, 5]) {
        multiclassHingeLoss(scores: $0, labels: labels, margin: 0.1 + 0.5 / 15, reduction: .sum)
      },
    ]
  }

  static var normalizationAndAttention: [OperationCheck] {
    let blocked = (0..<12).map { $0 == 5 ? -Double.infinity : 0 }
    return [
      check("layerNorm", [[3, 5], [5], [5]]) {
        layerNorm($0[0], weight: $0[1], bias: $0[2])
      },
      check("layerNorm (two trailing axes)", [[2, 3, 4], [3, 4], [3, 4]]) {
        layerNorm($0[0], weight: $0[1], bias: $0[2], epsilon: 1e-3)
      },
      check("scaledDotProductAttention", [[2, 2, 3, 4], [2, 2, 5, 4], [2, 2, 5, 3]]) {
        scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2])
      },
      check(
        "scaledDotProductAttention (causal)", [[1, 2, 4, 3], [1, 2, 4, 3], [1, 2, 4, 2]], lower: -2,
        upper: 2
      ) {
        scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], causal: true)
      },
      check(
        "scaledDotProductAttention (mask, −∞ entry)",
        [[2, 1, 3, 4], [2, 1, 4, 4], [2, 1, 4, 2], [3, 4]],
        lower: -2, upper: 2, seed: 23
      ) { inputs in
        let mask = inputs[3] + Tensor(shape: [3, 4], scalars: blocked)
        return scaledDotProductAttention(
          query: inputs[0], key: inputs[1], value: inputs[2], mask: mask)
      },
    ]
  }
}
