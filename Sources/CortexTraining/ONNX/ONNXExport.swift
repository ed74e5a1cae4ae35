import CortexCore
import CortexData
import CortexNN
import Foundation

/// A model the ONNX exporter cannot write: the message names the layer and
/// says why.
public struct ONNXExportError: Error, CustomStringConvertible, Equatable, Sendable {
  public let description: String
  public init(_ description: String) { self.description = description }
}

extension Layer where Scalar == Float {
  /// Writes the model, with its current weights, to `url` as an ONNX file
  /// (opset 17), atomically.
  ///
  /// The graph's input `pixels` is float32 `[N, C, H, W]` (or the given
  /// shape behind the batch axis), raw pixels scaled to [0, 1] (for a
  /// language model, `[N, tokens]` token ids as whole numbers), with the
  /// batch size `N` a symbolic dimension. With a `normalization`, the
  /// graph first maps each channel to `(x − mean[c]) / std[c]`, as
  /// training did. Its output `logits` is the model's output, `[N,
  /// classes]` for a classifier. Dropout is left out, batch normalization
  /// uses the running statistics: the graph computes what the model
  /// computes in inference mode.
  ///
  /// Every built-in layer exports: `Sequential`, `Residual`, `Branches`,
  /// `Conv2D`, `MaxPool2D`, `AvgPool2D`, `GlobalAvgPool2D`, `Dense`,
  /// `Flatten`, `Maxout`, `Dropout`, `BatchNorm2D`, `Tanh`, `ReLU`,
  /// `Sigmoid`, `LayerNorm`, `Embedding`, `MultiHeadAttention`,
  /// `TransformerEncoderLayer`, `PatchEmbedding`, `ClassTokenHead` and
  /// `TokenEmbedding`.
  /// The weights are the graph's initializers under their state-dict
  /// names (`0.weight`, …).
  ///
  /// - Parameters:
  ///   - inputShape: the shape of one example the model takes, `[C, H, W]`.
  ///   - normalization: the per-channel statistics the training images
  ///     were normalized with; `nil` for none.
  ///   - imageShape: the shape of the images the model was trained on when
  ///     they were larger than `inputShape` and center-cropped; the graph
  ///     then takes images of this shape and crops them itself.
  ///   - url: where to write the `.onnx` file.
  /// - Throws: ``ONNXExportError`` naming a layer ONNX export cannot
  ///   express (a custom layer) or an input shape the model does not
  ///   take; ``DataError`` when the file cannot be written.
  public func exportONNX(
    inputShape: [Int], normalization: ChannelStatistics? = nil, imageShape: [Int]? = nil,
    to url: URL
  ) throws {
    let model = try onnxModel(
      inputShape: inputShape, normalization: normalization, imageShape: imageShape)
    try DataFile.writeAtomically(Data(model.encoded()), to: url)
  }

  /// The model as an ONNX graph; see
  /// ``exportONNX(inputShape:normalization:imageShape:to:)``.
  func onnxModel(
    inputShape: [Int], normalization: ChannelStatistics? = nil, imageShape: [Int]? = nil
  ) throws -> ONNXModel {
    let names = Dictionary(
      namedParameters.map { (ObjectIdentifier($0.parameter), $0.name) },
      uniquingKeysWith: { first, _ in first })
    var builder = ONNXBuilder(parameterNames: names)
    let outer = imageShape ?? inputShape
    guard !inputShape.isEmpty, outer.count == inputShape.count,
      zip(outer, inputShape).allSatisfy({ $0 >= $1 && $1 > 0 })
    else {
      throw ONNXExportError(
        "ONNX export: images of shape \(outer) cannot be cropped to the model's input \(inputShape)"
      )
    }
    var x = "pixels"
    if let normalization {
      let channels = normalization.mean.count
      guard outer.count == 3, outer[0] == channels else {
        throw ONNXExportError(
          "ONNX export: a normalization of \(channels) channels needs inputs [C = \(channels), H, W], "
            + "found \(outer)")
      }
      let divisors = normalization.standardDeviation.map { $0 == 0 ? 1 : $0 }
      x = builder.node(
        "Sub", [x, builder.constant(normalization.mean, [1, channels, 1, 1], "input_mean")])
      x = builder.node("Div", [x, builder.constant(divisors, [1, channels, 1, 1], "input_std")])
    }
    if outer != inputShape {
      let axes = Array(1...inputShape.count)
      let starts = zip(outer, inputShape).map { ($0 - $1) / 2 }
      x = builder.node(
        "Slice",
        [
          x, builder.integers(starts, "crop_starts"),
          builder.integers(zip(starts, inputShape).map { $0 + $1 }, "crop_ends"),
          builder.integers(axes, "crop_axes"),
        ])
    }
    do {
      _ = try outputShape(for: [1] + inputShape)
    } catch {
      throw ONNXExportError("ONNX export: the model does not take inputs \(inputShape): \(error)")
    }
    let (y, shape) = try builder.emit(self, x, [1] + inputShape, path: "the model")
    builder.nodes.append(
      ONNXNode(opType: "Identity", name: "output", inputs: [y], outputs: ["logits"]))
    let batch = ONNXValueInfo.Dimension.parameter("N")
    return ONNXModel(
      graph: ONNXGraph(
        name: "cortex", nodes: builder.nodes, initializers: builder.initializers,
        inputs: [ONNXValueInfo(name: "pixels", shape: [batch] + outer.map { .value($0) })],
        outputs: [
          ONNXValueInfo(name: "logits", shape: [batch] + shape.dropFirst().map { .value($0) })
        ]
      ))
  }
}

/// Builds the nodes and initializers of a graph, layer by layer.
struct ONNXBuilder {
  var nodes: [ONNXNode] = []
  var initializers: [ONNXTensor] = []
  /// The state-dict name of each parameter of the model.
  let parameterNames: [ObjectIdentifier: String]
  private var written: Set<String> = []
  private var counter = 0

  init(parameterNames: [ObjectIdentifier: String]) {
    self.parameterNames = parameterNames
  }

  private mutating func fresh(_ hint: String) -> String {
    counter += 1
    return "\(hint)_\(counter)"
  }

  /// Appends a node of one output and returns the output's name.
  mutating func node(_ op: String, _ inputs: [String], _ attributes: [ONNXAttribute] = [])
    -> String
  {
    let name = fresh(op)
    nodes.append(
      ONNXNode(
        opType: op, name: name, inputs: inputs, outputs: [name + "_output"],
        attributes: attributes))
    return name + "_output"
  }

  /// The initializer of a parameter, under its state-dict name.
  mutating func parameter(_ parameter: Parameter<Float>) -> String {
    let name = parameterNames[ObjectIdentifier(parameter)] ?? fresh("parameter")
    if written.insert(name).inserted {
      initializers.append(
        ONNXTensor(name: name, parameter.value))
    }
    return name
  }

  /// A float32 constant.
  mutating func constant(_ values: [Float], _ dimensions: [Int], _ hint: String) -> String {
    let name = fresh(hint)
    initializers.append(ONNXTensor(name: name, dimensions: dimensions, floats: values))
    return name
  }

  /// An int64 constant, 1-D unless `dimensions` says otherwise.
  mutating func integers(_ values: [Int], _ hint: String, dimensions: [Int]? = nil) -> String {
    let name = fresh(hint)
    initializers.append(
      ONNXTensor(name: name, dimensions: dimensions ?? [values.count], integers: values))
    return name
  }

  /// The nodes of `layer` applied to `x` of `shape` (batch size 1 standing
  /// for `N`): the name and shape of the result.
  mutating func emit(_ layer: any Layer<Float>, _ x: String, _ shape: [Int], path: String)
    throws -> (String, [Int])
  {
    let outputShape = try layer.outputShape(for: shape)
    let y: String
    switch layer {
    case let sequential as Sequential<Float>:
      var (value, current) = (x, shape)
      for (index, inner) in sequential.layers.enumerated() {
        (value, current) = try emit(inner, value, current, path: "\(path), layer \(index)")
      }
      return (value, current)
    case let residual as Residual<Float>:
      let body = try emit(residual.body, x, shape, path: "\(path), body").0
      let skip =
        try residual.shortcut.map { try emit($0, x, shape, path: "\(path), shortcut").0 } ?? x
      y = node("Add", [body, skip])
    case let branches as Branches<Float>:
      let outputs = try branches.branches.enumerated().map {
        try emit($0.element, x, shape, path: "\(path), branch \($0.offset + 1)").0
      }
      y = node("Concat", outputs, [ONNXAttribute("axis", .int(1))])
    case let conv as Conv2D<Float>:
      y = convolution(conv, x)
    case let pool as MaxPool2D<Float>:
      y = node(
        "MaxPool", [x],
        window(pool.window) + [
          ONNXAttribute("ceil_mode", .int(pool.window.rounding == .ceil ? 1 : 0))
        ])
    case let pool as AvgPool2D<Float>:
      y = node(
        "AveragePool", [x], window(pool.window) + [ONNXAttribute("count_include_pad", .int(1))])
    case is GlobalAvgPool2D<Float>:
      y = node("Flatten", [node("GlobalAveragePool", [x])], [ONNXAttribute("axis", .int(1))])
    case let dense as Dense<Float>:
      y = linear(dense, x, rank: shape.count)
    case is Flatten<Float>:
      y = node("Flatten", [x], [ONNXAttribute("axis", .int(1))])
    case let maxout as Maxout<Float>:
      let units = maxout.linear.outputSize / maxout.pieces
      let z = linear(maxout.linear, x, rank: shape.count)
      let grouped = node("Reshape", [z, integers([0, units, maxout.pieces], "maxout_shape")])
      y = node(
        "ReduceMax", [grouped],
        [ONNXAttribute("axes", .ints([2])), ONNXAttribute("keepdims", .int(0))])
    case is Dropout<Float>:
      return (x, outputShape)
    case let norm as BatchNorm2D<Float>:
      y = node(
        "BatchNormalization",
        [
          x, parameter(norm.weight), parameter(norm.bias), parameter(norm.runningMean),
          parameter(norm.runningVariance),
        ], [ONNXAttribute("epsilon", .float(Float(norm.epsilon)))])
    case is Tanh<Float>:
      y = node("Tanh", [x])
    case is ReLU<Float>:
      y = node("Relu", [x])
    case is Sigmoid<Float>:
      y = node("Sigmoid", [x])
    case let norm as LayerNorm<Float>:
      y = layerNorm(norm, x)
    case let embedding as Embedding<Float>:
      let ids = node(
        "Cast", [x], [ONNXAttribute("to", .int(ONNXTensor.ElementType.int64.rawValue))])
      y = node("Gather", [parameter(embedding.weight), ids], [ONNXAttribute("axis", .int(0))])
    case let attention as MultiHeadAttention<Float>:
      y = self.attention(attention, x, tokens: shape[1])
    case let encoder as TransformerEncoderLayer<Float>:
      let attended = node(
        "Add", [x, attention(encoder.attention, layerNorm(encoder.norm1, x), tokens: shape[1])])
      let hidden = gelu(linear(encoder.feedForward1, layerNorm(encoder.norm2, attended), rank: 3))
      y = node("Add", [attended, linear(encoder.feedForward2, hidden, rank: 3)])
    case let embedding as PatchEmbedding<Float>:
      let features = embedding.features
      let maps = convolution(embedding.projection, x)
      let patches = node(
        "Transpose", [node("Reshape", [maps, integers([0, 0, -1], "patch_shape")])],
        [ONNXAttribute("perm", .ints([0, 2, 1]))])
      let batch = node(
        "Shape", [x], [ONNXAttribute("start", .int(0)), ONNXAttribute("end", .int(1))])
      let tokenShape = node(
        "Concat", [batch, integers([1, features], "class_token_shape")],
        [ONNXAttribute("axis", .int(0))])
      let classTokens = node("Expand", [parameter(embedding.classToken), tokenShape])
      let tokens = node("Concat", [classTokens, patches], [ONNXAttribute("axis", .int(1))])
      y = node("Add", [tokens, parameter(embedding.positions)])
    case let embedding as TokenEmbedding<Float>:
      let ids = node(
        "Cast", [x], [ONNXAttribute("to", .int(ONNXTensor.ElementType.int64.rawValue))])
      let vectors = node(
        "Gather", [parameter(embedding.tokens.weight), ids], [ONNXAttribute("axis", .int(0))])
      let positions = node(
        "Slice",
        [
          parameter(embedding.positions), integers([0], "position_starts"),
          integers([shape[1]], "position_ends"), integers([0], "position_axes"),
        ])
      y = node("Add", [vectors, positions])
    case let head as ClassTokenHead<Float>:
      let first = node(
        "Gather", [x, integers([0], "class_token_index", dimensions: [])],
        [ONNXAttribute("axis", .int(1))])
      y = linear(head.classifier, layerNorm(head.norm, first), rank: 2)
    default:
      throw ONNXExportError(
        "ONNX export: \(path) is a \(String(describing: type(of: layer))), which has no ONNX form; "
          + "export covers the built-in layers (Conv2D, Dense, pooling, normalization, activations, "
          + "attention and their compositions)")
    }
    return (y, outputShape)
  }

  mutating func convolution(_ conv: Conv2D<Float>, _ x: String) -> String {
    let size = Array(conv.weight.shape[2...])
    return node(
      "Conv", [x, parameter(conv.weight)] + (conv.bias.map { [parameter($0)] } ?? []),
      [
        ONNXAttribute("kernel_shape", .ints(size)),
        ONNXAttribute("strides", .ints([conv.stride, conv.stride])),
        ONNXAttribute("pads", .ints(Array(repeating: conv.padding, count: 4))),
        ONNXAttribute("dilations", .ints([conv.dilation, conv.dilation])),
      ])
  }

  func window(_ window: PoolingWindow) -> [ONNXAttribute] {
    [
      ONNXAttribute("kernel_shape", .ints([window.size, window.size])),
      ONNXAttribute("strides", .ints([window.stride, window.stride])),
      ONNXAttribute("pads", .ints(Array(repeating: window.padding, count: 4))),
    ]
  }

  /// `x·Wᵀ + b`: one Gemm for `[N, in]`, a MatMul and an Add over the
  /// last axis otherwise.
  mutating func linear(_ dense: Dense<Float>, _ x: String, rank: Int) -> String {
    let bias = dense.bias.map { parameter($0) }
    if rank == 2 {
      return node(
        "Gemm", [x, parameter(dense.weight)] + (bias.map { [$0] } ?? []),
        [ONNXAttribute("transB", .int(1))])
    }
    let transposed = node(
      "Transpose", [parameter(dense.weight)], [ONNXAttribute("perm", .ints([1, 0]))])
    let product = node("MatMul", [x, transposed])
    return bias.map { node("Add", [product, $0]) } ?? product
  }

  mutating func layerNorm(_ norm: LayerNorm<Float>, _ x: String) -> String {
    node(
      "LayerNormalization", [x, parameter(norm.weight), parameter(norm.bias)],
      [ONNXAttribute("axis", .int(-1)), ONNXAttribute("epsilon", .float(Float(norm.epsilon)))])
  }

  /// The exact GELU, `x · ½ (1 + erf(x / √2))` (opset 17 has no Gelu).
  mutating func gelu(_ x: String) -> String {
    let scaled = node("Div", [x, constant([Float(2.0.squareRoot())], [], "sqrt2")])
    let cdf = node("Add", [node("Erf", [scaled]), constant([1], [], "one")])
    return node("Mul", [node("Mul", [x, cdf]), constant([0.5], [], "half")])
  }

  /// Multi-head attention over `[N, tokens, features]`.
  mutating func attention(_ attention: MultiHeadAttention<Float>, _ x: String, tokens: Int)
    -> String
  {
    let (heads, features) = (attention.heads, attention.features)
    let depth = features / heads
    let split = integers([0, 0, heads, depth], "heads_shape")
    func project(_ dense: Dense<Float>, _ perm: [Int]) -> String {
      node(
        "Transpose", [node("Reshape", [linear(dense, x, rank: 3), split])],
        [ONNXAttribute("perm", .ints(perm))])
    }
    let query = project(attention.query, [0, 2, 1, 3])
    let key = project(attention.key, [0, 2, 3, 1])
    let value = project(attention.value, [0, 2, 1, 3])
    var scores = node(
      "Mul",
      [
        node("MatMul", [query, key]),
        constant([Float(1 / Double(depth).squareRoot())], [], "scale"),
      ])
    if attention.causal {
      let mask = (0..<tokens * tokens).map { $0 % tokens <= $0 / tokens ? Float(0) : -.infinity }
      scores = node("Add", [scores, constant(mask, [tokens, tokens], "causal_mask")])
    }
    let weights = node("Softmax", [scores], [ONNXAttribute("axis", .int(-1))])
    let merged = node(
      "Reshape",
      [
        node(
          "Transpose", [node("MatMul", [weights, value])],
          [ONNXAttribute("perm", .ints([0, 2, 1, 3]))]),
        integers([0, 0, features], "merged_shape"),
      ])
    return linear(attention.output, merged, rank: 3)
  }
}

extension TrainingRun {
  /// Writes the run's model to `url` as an ONNX file that takes raw
  /// pixels in [0, 1] and applies the run's normalization (and, for a
  /// model that takes a center crop of the data set's images, the crop);
  /// see `exportONNX(inputShape:normalization:imageShape:to:)`.
  public func exportONNX(to url: URL) throws {
    try model.exportONNX(
      inputShape: configuration.model.inputShape, normalization: normalization,
      imageShape: configuration.dataset.imageShape, to: url)
  }

  /// Writes the model saved in the checkpoint at `checkpoint` to `url` as
  /// an ONNX file, as ``exportONNX(to:)`` does, without loading any data.
  ///
  /// - Throws: ``DataError`` for a missing or corrupt checkpoint,
  ///   ``ShapeError`` when its tensors do not fit the model it names,
  ///   ``ONNXExportError`` when the model cannot be exported.
  public static func exportONNX(checkpoint: URL, to url: URL) throws {
    let tensors = try Checkpoint.load(from: checkpoint)
    let metadata = try Checkpoint.loadMetadata(from: checkpoint)
    let configuration = try TrainingConfiguration(metadata: metadata, source: checkpoint.path)
    let normalization = try savedNormalization(metadata, of: configuration, checkpoint)
    let model: Sequential<Float> = withUndrawnWeights { configuration.model.build() }
    try model.load(stateDictionary: tensors)
    try model.exportONNX(
      inputShape: configuration.model.inputShape, normalization: normalization,
      imageShape: configuration.dataset.imageShape, to: url)
  }
}
