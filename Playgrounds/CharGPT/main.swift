// A character-level GPT: two causal transformer blocks trained on a text
// file to predict each next character, then a sample from it.
//
//     swift run -c release CharGPT [FILE] [STEPS]    (default: README.md, 300)

import Cortex
import Foundation

let arguments = CommandLine.arguments
let path = arguments.count > 1 ? arguments[1] : "README.md"
let steps = arguments.count > 2 ? Int(arguments[2]) ?? 300 : 300
guard let text = try? String(contentsOfFile: path, encoding: .utf8), text.count > 65 else {
  print("CharGPT: cannot read a text of more than 65 characters from \(path)")
  exit(1)
}
let characters = Array(Set(text)).sorted()
let ids = Dictionary(uniqueKeysWithValues: characters.enumerated().map { ($1, $0) })
let corpus = text.map { ids[$0]! }
let (context, width, batch) = (64, 64, 32)

/// Token and position embeddings, causal blocks, a final norm and a head.
struct CharGPT: Layer {
  let tokens: Embedding<Float>
  let positions: Parameter<Float>
  let blocks: [TransformerEncoderLayer<Float>]
  let norm: LayerNorm<Float>
  let head: Dense<Float>

  func callAsFunction(_ x: Tensor<Float>) -> Tensor<Float> {
    let count = x.shape[1]
    var h = tokens(x) + positions.value.sliced(alongAxis: 0, range: 0..<count)
    for block in blocks { h = block(h) }
    return head(norm(h))  // [batch, tokens, vocabulary]
  }
}

let model = try withRandomSeed(1) {
  try CharGPT(
    tokens: Embedding(vocabularySize: characters.count, features: width),
    positions: Parameter(Tensor.randomNormal([context, width], seed: 2)),
    blocks: (0..<2).map { _ in
      try TransformerEncoderLayer(
        features: width, heads: 4, hiddenSize: 4 * width, dropout: 0, causal: true)
    },
    norm: LayerNorm(features: width),
    head: Dense(inputSize: width, outputSize: characters.count))
}
let optimizer = Adam<Float>(learningRate: 1e-3)
var generator = SeededGenerator(seed: 3)

for step in 1...steps {
  // A batch of windows; the labels are the same windows one character on.
  let starts = (0..<batch).map { _ in Int(generator.next() % UInt64(corpus.count - context - 1)) }
  let inputs = starts.flatMap { corpus[$0..<($0 + context)] }.map(Float.init)
  let labels = starts.flatMap { corpus[($0 + 1)...($0 + context)] }
  let (loss, gradients) = valueWithGradient(for: model.parameters) {
    softmaxCrossEntropy(
      logits: model(Tensor(shape: [batch, context], scalars: inputs)), labels: labels)
  }
  optimizer.update(model.parameters, gradients: gradients)
  if step % 50 == 0 || step == 1 { print("step \(step): loss \(loss.scalar)") }
}

// Sampling: one character at a time, each from the model's prediction
// for the last position, at temperature 0.8.
var sample = Array(corpus.prefix(16))
for _ in 0..<200 {
  let window = sample.suffix(context).map(Float.init)
  let logits = withLearningPhase(.inference) {
    model(Tensor(shape: [1, window.count], scalars: window))
  }
  let last = logits.sliced(alongAxis: 1, range: (window.count - 1)..<window.count)
  sample.append(last.sampledCategories(temperature: 0.8, using: &generator).scalars[0])
}
print(String(sample.map { characters[$0] }))
