import CortexCore

/// A small GPT (Radford et al.): token ids are embedded, a learned vector
/// for each position is added, causal pre-norm transformer blocks mix each
/// token with those before it, and a final layer norm and a linear head
/// give, at every position, the logits of the token that comes next.

/// Embeds token ids and adds a learned vector for each position:
/// `[N, tokens]` ids, held as whole numbers in a tensor, become
/// `[N, tokens, features]`, for sequences of at most `context` tokens.
public struct TokenEmbedding<Scalar: TensorScalar>: Layer {
  /// The table of token vectors, `[vocabulary, features]`, drawn from a
  /// standard normal as PyTorch's `nn.Embedding`.
  public let tokens: Embedding<Scalar>
  /// `[context, features]`, drawn from N(0, 0.02²); a sequence of `T`
  /// tokens adds the first `T` rows.
  public let positions: Parameter<Scalar>

  /// - Throws: ``HyperparameterError`` when a size is not positive.
  public init(vocabularySize: Int, context: Int, features: Int) throws(HyperparameterError) {
    try HyperparameterError.requirePositive(context, "context", of: "TokenEmbedding")
    tokens = try Embedding(vocabularySize: vocabularySize, features: features)
    positions = Parameter(
      Initializer.normal(standardDeviation: 0.02).make(
        [context, features], fanIn: features, fanOut: features))
  }

  /// The longest sequence the layer takes.
  public var context: Int { positions.shape[0] }
  public var features: Int { positions.shape[1] }

  /// - Parameter input: `[N, tokens]` ids in `0..<vocabularySize`, with
  ///   `tokens ≤ context`. Returns: `[N, tokens, features]`.
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    precondition(
      input.rank == 2 && input.shape[1] <= context,
      "TokenEmbedding expects token ids of shape [N, tokens ≤ \(context)], found \(input.shape)")
    return tokens(input) + positions.value.sliced(alongAxis: 0, range: 0..<input.shape[1])
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    guard input.count == 2, input[1] <= context else {
      throw ShapeError(
        "TokenEmbedding expects token ids of shape [N, tokens ≤ \(context)], found \(input)")
    }
    return input + [features]
  }
}

extension Zoo {
  /// `gpt-tiny`: a character-sized GPT. A vocabulary of 128 tokens, a
  /// context of 64, width 64, and two causal pre-norm blocks of 4 heads
  /// with a GELU MLP of 256 (PyTorch's
  /// `nn.TransformerEncoderLayer(64, 4, 256, dropout=0, activation="gelu",
  /// norm_first=True, batch_first=True)` under a causal mask), a final
  /// layer norm and an untied linear head: `[N, tokens]` ids →
  /// `[N, tokens, 128]` logits of the next token. 120,704 parameters.
  ///
  /// Every linear map has a bias (`nn.Linear`'s default, and
  /// `nn.MultiheadAttention`'s in- and out-projections), every layer norm a
  /// weight and a bias; the embeddings have none:
  ///
  /// | part | parameters |
  /// |---|---|
  /// | token embedding 128·64 | 8,192 |
  /// | position embedding 64·64 | 4,096 |
  /// | per block: two layer norms 2·2·64 | 256 |
  /// | per block: attention 4·(64² + 64) | 16,640 |
  /// | per block: MLP 64·256 + 256 + 256·64 + 64 | 33,088 |
  /// | two blocks 2·49,984 | 99,968 |
  /// | final layer norm 2·64 | 128 |
  /// | head 64·128 + 128 | 8,320 |
  /// | total 8,192 + 4,096 + 99,968 + 128 + 8,320 | 120,704 |
  ///
  /// - Throws: ``HyperparameterError`` for a size that is not positive,
  ///   heads that do not divide the features, or a dropout outside `0...1`.
  public static func gptTiny<Scalar: TensorScalar>(
    vocabularySize: Int = 128, context: Int = 64, features: Int = 64, heads: Int = 4,
    hiddenSize: Int = 256, layers: Int = 2, dropout: Double = 0
  ) throws -> Sequential<Scalar> {
    try HyperparameterError.requirePositive(layers, "layers", of: "gptTiny")
    return try Sequential {
      try TokenEmbedding(vocabularySize: vocabularySize, context: context, features: features)
      try (0..<layers).map { _ -> any Layer<Scalar> in
        try TransformerEncoderLayer(
          features: features, heads: heads, hiddenSize: hiddenSize, dropout: dropout, causal: true)
      }
      try LayerNorm(features: features)
      try Dense(inputSize: features, outputSize: vocabularySize)
    }
  }
}
