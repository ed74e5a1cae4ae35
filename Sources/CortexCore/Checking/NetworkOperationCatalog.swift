/// The gradient checks of the convolutional-network operations: convolution,
/// pooling, maxout, the fully connected map, softmax and the losses, the
/// activations beyond the elementwise ones, dropout, batch normalization,
/// and the two ways branches meet (channel concatenation, residual add).
///
/// Inputs stay away from kinks and ties: maxima and ReLU-like kinks see
/// distinct values (see ``OperationCheck/distinct(_:seed:)``), hinge margins
/// never reach 0, and probabilities stay well above the clamp.
extension OperationCheck {
  /// The checks of the convolutional-network operations.
  static var networkOperations: [OperationCheck] {
    convolutionAndPooling + classification + activationsAndNormalization
  }

  static var convolutionAndPooling: [OperationCheck] {
    [
      check("conv2d", [[2, 3, 5, 5], [4, 3, 3, 3], [4]], seed: 1) {
        conv2d($0[0], filters: $0[1], bias: $0[2])
      },
      check("conv2d (stride 2, padding 1)", [[2, 3, 7, 7], [4, 3, 3, 3], [4]], seed: 1) {
        conv2d($0[0], filters: $0[1], bias: $0[2], stride: 2, padding: 1)
      },
      check("conv2d (dilation 2)", [[1, 2, 7, 6], [3, 2, 3, 3], [3]], seed: 1) {
        conv2d($0[0], filters: $0[1], bias: $0[2], dilation: 2)
      },
      check("conv2d (no bias, 3×2 filter)", [[2, 2, 5, 6], [3, 2, 3, 2]]) {
        conv2d($0[0], filters: $0[1])
      },
      check("conv2d (strides (2, 1), paddings (0, 2))", [[1, 2, 7, 4], [2, 2, 3, 3], [2]]) {
        conv2d($0[0], filters: $0[1], bias: $0[2], strides: (2, 1), paddings: (0, 2))
      },
      check("conv2d (floor rounding)", [[1, 2, 8, 8], [2, 2, 3, 3], [2]]) {
        conv2d($0[0], filters: $0[1], bias: $0[2], stride: 2, rounding: .floor)
      },
      checkDistinct("maxPool2d (2×2, stride 2)", [2, 3, 4, 6]) {
        maxPool2d($0, size: 2, stride: 2)
      },
      checkDistinct("maxPool2d (3×3, stride 2, padding 1)", [1, 2, 7, 7]) {
        maxPool2d($0, size: 3, stride: 2, padding: 1)
      },
      check("avgPool2d (2×2, stride 2)", [[2, 3, 4, 6]]) { avgPool2d($0[0], size: 2, stride: 2) },
      check("avgPool2d (3×3, stride 2, padding 1)", [[1, 2, 7, 7]]) {
        avgPool2d($0[0], size: 3, stride: 2, padding: 1)
      },
      check("globalAvgPool2d", [[2, 3, 4, 5]]) { globalAvgPool2d($0[0]) },
      checkDistinct("maxout (dense)", [3, 12]) { maxout($0, pieces: 3) },
      checkDistinct("maxout (4-D)", [2, 6, 3, 3]) { maxout($0, pieces: 2) },
      check("concatenate (channels)", [[2, 3, 4, 4], [2, 2, 4, 4]]) {
        Tensor(concatenating: [$0[0], tanh($0[1])], alongAxis: 1)
      },
      check("residual add", [[2, 3, 5, 5], [3, 3, 3, 3], [3]]) {
        tanh(conv2d($0[0], filters: $0[1], bias: $0[2], padding: 1)) + $0[0]
      },
    ]
  }

  static var classification: [OperationCheck] {
    let labels = [2, 0, 4]
    // Distinct scores lie in (−0.5, 0.5), so every difference is a multiple
    // of 1/15: with this margin no hinge is exactly at its kink.
    let hingeMargin = 0.1 + 0.5 / 15
    return [
      check("linear", [[3, 5], [4, 5], [4]]) { linear($0[0], weight: $0[1], bias: $0[2]) },
      check("linear (no bias)", [[3, 5], [4, 5]]) { linear($0[0], weight: $0[1]) },
      check("softmax", [[3, 5]]) { softmax($0[0]) },
      check("softmax (axis 0)", [[4, 3]], lower: -3, upper: 3) { softmax($0[0], alongAxis: 0) },
      check("logSoftmax", [[3, 5]], lower: -3, upper: 3) { logSoftmax($0[0]) },
      check("logSumExp", [[3, 4, 2]], lower: -3, upper: 3) { $0[0].logSumExp(alongAxes: 1) },
      check("logSumExp (all axes)", [[3, 4]]) {
        $0[0].logSumExp(alongAxes: [0, 1])
      },
      check("softmaxCrossEntropy", [[3, 5]], lower: -2, upper: 2) {
        softmaxCrossEntropy(logits: $0[0], labels: labels)
      },
      check("crossEntropy", [[3, 5]], lower: 0.1, upper: 1) {
        crossEntropy(probabilities: $0[0], labels: labels)
      },
      checkDistinct("multiclassHingeLoss", [3, 5]) {
        multiclassHingeLoss(scores: $0, labels: labels, margin: hingeMargin)
      },
    ]
  }

  static var activationsAndNormalization: [OperationCheck] {
    [
      checkDistinct("leakyRelu", [3, 5]) { leakyRelu($0, negativeSlope: 0.1) },
      check("dropout (fixed generator)", [[4, 5]]) { inputs in
        var generator = SeededGenerator(seed: 3)
        return dropout(inputs[0], probability: 0.4, training: true, generator: &generator)
      },
      check("batchNorm (training)", [[4, 3, 2, 2], [3], [3]]) { inputs in
        var statistics = BatchNormStatistics<Double>(channels: 3)
        return batchNorm(
          inputs[0], scale: inputs[1], offset: inputs[2], statistics: &statistics,
          training: true)
      },
      check("batchNorm (dense, training)", [[5, 4], [4], [4]]) { inputs in
        var statistics = BatchNormStatistics<Double>(channels: 4)
        return batchNorm(
          inputs[0], scale: inputs[1], offset: inputs[2], statistics: &statistics,
          training: true)
      },
      check("batchNorm (inference)", [[4, 3, 2, 2], [3], [3]]) { inputs in
        var statistics = BatchNormStatistics(
          mean: Tensor<Double>([0.1, -0.2, 0.3]), variance: Tensor<Double>([0.5, 1.5, 2]))
        return batchNorm(
          inputs[0], scale: inputs[1], offset: inputs[2], statistics: &statistics,
          training: false)
      },
    ]
  }
}
