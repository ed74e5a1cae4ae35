import CortexCore

/// The layers of a transformer: layer normalization, token embeddings,
/// multi-head self-attention, and the pre-norm encoder layer built from
/// them. Sequences are `[N, tokens, features]`.

/// Throws unless `input` is `[N, tokens, features]`, naming `layer`.
private func requireSequence(_ input: [Int], features: Int, _ layer: String) throws(ShapeError) {
  guard input.count == 3, input[2] == features else {
    throw ShapeError(
      "\(layer) expects an input of shape [N, tokens, \(features)], found \(input)")
  }
}

/// Layer normalization over the last axis, with a learned scale `weight`
/// (starting at 1) and offset `bias` (starting at 0), like PyTorch's
/// `nn.LayerNorm(features)`. See ``layerNorm(_:weight:bias:epsilon:)``.
public struct LayerNorm<Scalar: TensorScalar>: Layer {
  /// γ, `[features]`.
  public let weight: Parameter<Scalar>
  /// β, `[features]`.
  public let bias: Parameter<Scalar>
  public let epsilon: Double

  /// - Throws: ``HyperparameterError`` when `features` is not positive or
  ///   `epsilon` is not a positive number.
  public init(features: Int, epsilon: Double = 1e-5) throws(HyperparameterError) {
    try HyperparameterError.requirePositive(features, "features", of: "LayerNorm")
    guard epsilon > 0 && epsilon.isFinite else {
      throw HyperparameterError("LayerNorm: epsilon must be positive, found \(epsilon)")
    }
    weight = Parameter(.ones([features]))
    bias = Parameter(.zeros([features]))
    self.epsilon = epsilon
  }

  /// - Parameter input: `[..., features]`. Returns: the same shape.
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    layerNorm(input, weight: weight.value, bias: bias.value, epsilon: Scalar(epsilon))
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    guard input.last == weight.shape[0] else {
      throw ShapeError(
        "LayerNorm expects \(weight.shape[0]) features on the last axis, found input shape \(input)"
      )
    }
    return input
  }
}

/// A table of learned vectors, one per token id: `[N, tokens]` ids become
/// `[N, tokens, features]` (PyTorch's `nn.Embedding`, initialized from a
/// standard normal like it). The lookup is
/// ``Tensor/selecting(_:alongAxis:)``, whose pullback adds each token's
/// gradient into its row.
public struct Embedding<Scalar: TensorScalar>: Layer {
  /// `[vocabulary, features]`.
  public let weight: Parameter<Scalar>

  /// - Throws: ``HyperparameterError`` when a size is not positive.
  public init(vocabularySize: Int, features: Int) throws(HyperparameterError) {
    try HyperparameterError.requirePositive(vocabularySize, "vocabularySize", of: "Embedding")
    try HyperparameterError.requirePositive(features, "features", of: "Embedding")
    weight = Parameter(
      Initializer.normal(standardDeviation: 1).make(
        [vocabularySize, features], fanIn: vocabularySize, fanOut: features))
  }

  public var vocabularySize: Int { weight.shape[0] }
  public var features: Int { weight.shape[1] }

  /// Looks up integer ids: any shape in, that shape plus `[features]` out.
  public func callAsFunction(_ ids: IndexTensor) -> Tensor<Scalar> {
    weight.value.selecting(ids.scalars, alongAxis: 0).reshaped(to: ids.shape + [features])
  }

  /// Looks up ids held as whole numbers in a tensor (the ``Layer`` form);
  /// an id that is not a whole number in `0..<vocabularySize` traps.
  ///
  /// Inside `vmap` the ids may differ from example to example: each
  /// example's are checked, and looked up with a gather.
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    let ids = input.scalarsOfEveryExample.map { value -> Int in
      guard let id = Int(exactly: Double(value)), id >= 0, id < vocabularySize else {
        preconditionFailure(
          "Embedding: id \(value) is not a whole number in 0..<\(vocabularySize)")
      }
      return id
    }
    guard input.isBatched else { return self(IndexTensor(shape: input.shape, scalars: ids)) }
    let rows = input.reshaped(to: [-1]).indicesRepeated(ids, count: features)
    return gather(weight.value, alongAxis: 0, indices: rows).reshaped(to: input.shape + [features])
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] { input + [features] }
}

/// Multi-head self-attention (Vaswani et al.): the tokens are projected to
/// queries, keys and values, split into `heads` heads of
/// `features / heads` each, attended with
/// ``scaledDotProductAttention(query:key:value:mask:causal:)``, merged,
/// and projected back. Parameters: `4·(D² + D)` for `D` features, as
/// PyTorch's `nn.MultiheadAttention`.
public struct MultiHeadAttention<Scalar: TensorScalar>: Layer {
  public let query: Dense<Scalar>
  public let key: Dense<Scalar>
  public let value: Dense<Scalar>
  public let output: Dense<Scalar>
  public let heads: Int
  /// Whether each token sees only itself and the tokens before it.
  public let causal: Bool

  /// - Throws: ``HyperparameterError`` when a size is not positive or
  ///   `heads` does not divide `features`.
  public init(features: Int, heads: Int, causal: Bool = false) throws(HyperparameterError) {
    try HyperparameterError.requirePositive(features, "features", of: "MultiHeadAttention")
    try HyperparameterError.requirePositive(heads, "heads", of: "MultiHeadAttention")
    guard features % heads == 0 else {
      throw HyperparameterError(
        "MultiHeadAttention: heads must divide features, found \(heads) heads for \(features) features"
      )
    }
    query = try Dense(inputSize: features, outputSize: features)
    key = try Dense(inputSize: features, outputSize: features)
    value = try Dense(inputSize: features, outputSize: features)
    output = try Dense(inputSize: features, outputSize: features)
    self.heads = heads
    self.causal = causal
  }

  public var features: Int { query.inputSize }

  /// `[N, tokens, features]` → `[N, heads, tokens, features / heads]`.
  private func splitHeads(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
    x.reshaped(to: [x.shape[0], x.shape[1], heads, features / heads]).permuted([0, 2, 1, 3])
  }

  /// Self-attention. - Parameter input: `[N, tokens, features]`. Returns: the same shape.
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    callAsFunction(input, mask: nil)
  }

  /// Self-attention with an additive mask broadcasting to
  /// `[N, heads, tokens, tokens]`.
  public func callAsFunction(_ input: Tensor<Scalar>, mask: Tensor<Scalar>?) -> Tensor<Scalar> {
    let attended = scaledDotProductAttention(
      query: splitHeads(query(input)), key: splitHeads(key(input)),
      value: splitHeads(value(input)), mask: mask, causal: causal)
    let merged = attended.permuted([0, 2, 1, 3]).reshaped(to: input.shape)
    return output(merged)
  }

  /// The attention weights of every head: `[N, tokens, features]` →
  /// `[N, heads, tokens, tokens]`, each row summing to 1.
  public func attentionWeights(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    CortexCore.attentionWeights(
      query: splitHeads(query(input)), key: splitHeads(key(input)),
      causal: causal)
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    try requireSequence(input, features: features, "MultiHeadAttention")
    return input
  }
}

/// A pre-norm transformer encoder layer, as its diagram reads:
///
/// ```
/// x = x + dropout(attention(norm1(x)))
/// x = x + dropout(feedForward2(dropout(gelu(feedForward1(norm2(x))))))
/// ```
///
/// (PyTorch's `nn.TransformerEncoderLayer` with `norm_first=True` and
/// `activation="gelu"`.) Parameters, for `D` features and a hidden width
/// `F`: `4D` (norms) + `4(D² + D)` (attention) + `2DF + F + D` (MLP).
public struct TransformerEncoderLayer<Scalar: TensorScalar>: Layer {
  public let norm1: LayerNorm<Scalar>
  public let attention: MultiHeadAttention<Scalar>
  public let norm2: LayerNorm<Scalar>
  public let feedForward1: Dense<Scalar>
  public let feedForward2: Dense<Scalar>
  public let dropout: Dropout<Scalar>

  /// - Parameters:
  ///   - features: `D`, the width of every token.
  ///   - heads: attention heads; must divide `features`.
  ///   - hiddenSize: `F`, the MLP's hidden width (commonly `4D`).
  ///   - dropout: the probability of each of the three dropouts, in `0...1`.
  ///   - causal: whether each token attends only to itself and the tokens
  ///     before it (a GPT block), so that no output depends on a later
  ///     token.
  /// - Throws: ``HyperparameterError`` for a size that is not positive,
  ///   heads that do not divide the features, or a dropout outside `0...1`.
  public init(
    features: Int, heads: Int, hiddenSize: Int, dropout: Double = 0.1, causal: Bool = false
  ) throws(HyperparameterError) {
    try HyperparameterError.requirePositive(hiddenSize, "hiddenSize", of: "TransformerEncoderLayer")
    try HyperparameterError.require(dropout, in: 0...1, "dropout", of: "TransformerEncoderLayer")
    norm1 = try LayerNorm(features: features)
    attention = try MultiHeadAttention(features: features, heads: heads, causal: causal)
    norm2 = try LayerNorm(features: features)
    feedForward1 = try Dense(inputSize: features, outputSize: hiddenSize)
    feedForward2 = try Dense(inputSize: hiddenSize, outputSize: features)
    self.dropout = try Dropout(probability: dropout)
  }

  /// Whether each token attends only to itself and the tokens before it.
  public var causal: Bool { attention.causal }

  /// - Parameter input: `[N, tokens, features]`. Returns: the same shape.
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    callAsFunction(input, mask: nil)
  }

  /// The layer with an additive attention mask broadcasting to
  /// `[N, heads, tokens, tokens]` (0 where a key is visible, −∞ where it
  /// is not, as a padding mask), applied on top of the causal one.
  ///
  /// - Parameters:
  ///   - input: `[N, tokens, features]`.
  ///   - mask: the additive mask, or `nil`.
  /// - Returns: the shape of `input`.
  public func callAsFunction(_ input: Tensor<Scalar>, mask: Tensor<Scalar>?) -> Tensor<Scalar> {
    let x = input + dropout(attention(norm1(input), mask: mask))
    let hidden = dropout(gelu(feedForward1(norm2(x))))
    return x + dropout(feedForward2(hidden))
  }

  public func outputShape(for input: [Int]) throws(ShapeError) -> [Int] {
    try requireSequence(input, features: attention.features, "TransformerEncoderLayer")
    return input
  }
}
