import CortexCore

/// A vision transformer (Dosovitskiy et al., "An Image is Worth 16x16
/// Words") sized for 28×28 digits: the image is cut into 7×7 patches, each
/// patch becomes a token, a learned class token joins them, learned
/// positions are added, and pre-norm encoder layers mix the tokens; the
/// class token's final state is classified.

/// Cuts images into square patches and embeds each as a token, with a
/// strided convolution (filter size = stride = patch size); prepends a
/// learned class token and adds learned positions.
///
/// `[N, C, H, W]` → `[N, 1 + (H/p)·(W/p), features]`.
public struct PatchEmbedding<Scalar: TensorScalar>: Layer {
  /// The patch projection: `features` filters of `C×p×p`, stride `p`.
  public let projection: Conv2D<Scalar>
  /// `[1, 1, features]`, starting at 0.
  public let classToken: Parameter<Scalar>
  /// `[1, 1 + patches, features]`, drawn from N(0, 0.02²).
  public let positions: Parameter<Scalar>
  public let imageSize: Int

  /// - Parameters:
  ///   - imageSize: the side of the square input images.
  ///   - channels: the images' channels.
  ///   - patchSize: the side of a patch; must divide `imageSize`.
  ///   - features: the width of every token.
  /// - Throws: ``HyperparameterError`` for a size that is not positive or a
  ///   patch size that does not divide the image size.
  public init(imageSize: Int, channels: Int, patchSize: Int, features: Int)
    throws(HyperparameterError)
  {
    try HyperparameterError.requirePositive(imageSize, "imageSize", of: "PatchEmbedding")
    try HyperparameterError.requirePositive(patchSize, "patchSize", of: "PatchEmbedding")
    guard imageSize % patchSize == 0 else {
      throw HyperparameterError(
        "PatchEmbedding: patchSize must divide imageSize, found \(patchSize) for \(imageSize) (\(imageSize) mod \(patchSize) = \(imageSize % patchSize))"
      )
    }
    projection = try Conv2D(
      inputChannels: channels, outputChannels: features, filterSize: patchSize, stride: patchSize)
    let patches = (imageSize / patchSize) * (imageSize / patchSize)
    classToken = Parameter(.zeros([1, 1, features]))
    positions = Parameter(
      Initializer.normal(standardDeviation: 0.02).make(
        [1, 1 + patches, features], fanIn: features, fanOut: features))
    self.imageSize = imageSize
  }

  public var features: Int { classToken.shape[2] }

  /// - Parameter input: `[N, C, H, W]`. Returns: `[N, 1 + patches, features]`.
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    let batch = input.shape[0]
    let patches = projection(input).flattened(fromAxis: 2).permuted([0, 2, 1])
    let classTokens = classToken.value.broadcasted(to: [batch, 1, features])
    return Tensor(concatenating: [classTokens, patches], alongAxis: 1) + positions.value
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    guard input.count == 4, input[2] == imageSize, input[3] == imageSize else {
      throw ShapeError(
        "PatchEmbedding expects images of shape [N, C, \(imageSize), \(imageSize)], found \(input)")
    }
    let maps = try projection.outputShape(for: input)
    return [input[0], 1 + maps[2] * maps[3], features]
  }
}

/// Classifies a sequence by its first (class) token: layer norm, then a
/// dense map. `[N, tokens, features]` → `[N, classes]`.
public struct ClassTokenHead<Scalar: TensorScalar>: Layer {
  public let norm: LayerNorm<Scalar>
  public let classifier: Dense<Scalar>

  /// - Throws: ``HyperparameterError`` when a size is not positive.
  public init(features: Int, classes: Int) throws(HyperparameterError) {
    norm = try LayerNorm(features: features)
    classifier = try Dense(inputSize: features, outputSize: classes)
  }

  /// - Parameter input: `[N, tokens, features]`. Returns: `[N, classes]`.
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    let first = input.sliced(alongAxis: 1, range: 0..<1).reshaped(to: [input.shape[0], -1])
    return classifier(norm(first))
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    guard input.count == 3, input[1] >= 1, input[2] == classifier.inputSize else {
      throw ShapeError(
        "ClassTokenHead expects an input of shape [N, tokens ≥ 1, \(classifier.inputSize)], found \(input)"
      )
    }
    return [input[0], classifier.outputSize]
  }
}

extension Zoo {
  /// `vit-mnist`: a vision transformer for 28×28 digits. 7×7 patches give
  /// 16 tokens plus the class token, 64 features, 4 pre-norm encoder layers
  /// of 4 heads with an MLP of 128. 139,018 parameters. Dropout is off by
  /// default: the short MNIST recipe regularizes by shifting the digits.
  public static func visionTransformerMNIST<Scalar: TensorScalar>(
    layers: Int = 4, features: Int = 64, heads: Int = 4, hiddenSize: Int = 128,
    dropout: Double = 0, classes: Int = 10
  ) throws -> Sequential<Scalar> {
    try HyperparameterError.requirePositive(layers, "layers", of: "visionTransformerMNIST")
    return try Sequential {
      try PatchEmbedding(imageSize: 28, channels: 1, patchSize: 7, features: features)
      try (0..<layers).map { _ -> any Layer<Scalar> in
        try TransformerEncoderLayer(
          features: features, heads: heads, hiddenSize: hiddenSize, dropout: dropout)
      }
      try ClassTokenHead(features: features, classes: classes)
    }
  }
}

/// How much the class token attends to each patch, for every encoder layer
/// and head of `model` on one image: one `h×w` map (the patch grid) per
/// layer and head, layers first. `nil` when the model has no patch
/// embedding followed by encoder layers.
///
/// - Parameter image: `[C, H, W]`.
/// - Returns: `[layers · heads, H/p, W/p]`, each map summing to at most 1
///   (the rest of the attention goes to the class token itself).
public func classTokenAttentionMaps<Scalar>(
  of model: Sequential<Scalar>, image: Tensor<Scalar>
) -> Tensor<Scalar>? {
  withoutRecording {
    withLearningPhase(.inference) {
      var x = image.reshaped(to: [1] + image.shape)
      var maps: [Tensor<Scalar>] = []
      var side = 0
      for layer in model.layers {
        if let embedding = layer as? PatchEmbedding<Scalar> {
          side = embedding.imageSize / embedding.projection.weight.shape[2]
        }
        if let encoder = layer as? TransformerEncoderLayer<Scalar>, side > 0 {
          let weights = encoder.attention.attentionWeights(encoder.norm1(x))
          let heads = weights.shape[1]
          // Row 0 (the class token), columns 1… (the patches).
          let row = weights.sliced(alongAxis: 2, range: 0..<1)
            .sliced(alongAxis: 3, range: 1..<weights.shape[3])
          maps.append(row.reshaped(to: [heads, side, side]))
        }
        x = layer(x)
      }
      return maps.isEmpty ? nil : Tensor(concatenating: maps, alongAxis: 0)
    }
  }
}
