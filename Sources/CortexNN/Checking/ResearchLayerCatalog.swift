import CortexCore

extension LayerCheck {
  /// The checks of the transformer layers. The attention's key bias is
  /// frozen in these checks: adding one vector to every key moves all of a
  /// query's scores equally, which the softmax ignores, so its gradient is
  /// exactly 0 and a central difference sees only rounding noise.
  static var researchLayers: [LayerCheck] {
    [
      check("LayerNorm", [2, 3, 5]) { try LayerNorm(features: 5) },
      check("MultiHeadAttention", [2, 3, 4]) {
        let layer = try MultiHeadAttention<Double>(features: 4, heads: 2)
        layer.key.bias?.isTrainable = false
        return layer
      },
      check("MultiHeadAttention (causal)", [1, 4, 4]) {
        let layer = try MultiHeadAttention<Double>(features: 4, heads: 2, causal: true)
        layer.key.bias?.isTrainable = false
        return layer
      },
      // The residual paths make the output large beside the derivatives
      // of single weights; a step of 1e-5 keeps their differences above
      // the rounding noise.
      LayerCheck(name: "TransformerEncoderLayer", shape: "[2, 3, 6]") { mode, order in
        let layer = withRandomSeed(11) {
          try! TransformerEncoderLayer<Double>(features: 6, heads: 2, hiddenSize: 8, dropout: 0)
        }
        layer.attention.key.bias?.isTrainable = false
        let input = Tensor<Double>.randomUniform([2, 3, 6], lower: -1, upper: 1, seed: 13)
        return checkGradients(of: layer, at: input, step: 1e-5, mode: mode, order: order)
      },
      check("PatchEmbedding", [2, 1, 4, 4]) {
        try PatchEmbedding(imageSize: 4, channels: 1, patchSize: 2, features: 3)
      },
      check("ClassTokenHead", [2, 3, 4]) { try ClassTokenHead(features: 4, classes: 3) },
    ]
  }
}
