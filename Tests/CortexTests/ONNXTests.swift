import Foundation
import Testing

@testable import CortexCLI
@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// A protocol buffer decoder for the ONNX messages the exporter writes,
/// written from the wire format alone, independent of the writer.
struct ProtobufDecoder {
  enum Field: Equatable {
    case varint(UInt64)
    case fixed32(UInt32)
    case fixed64(UInt64)
    case bytes(ArraySlice<UInt8>)
  }

  struct Failure: Error, CustomStringConvertible {
    let description: String
  }

  /// The fields of one message, in order.
  static func fields(_ bytes: ArraySlice<UInt8>) throws -> [(number: Int, value: Field)] {
    var index = bytes.startIndex
    func varint() throws -> UInt64 {
      var (value, shift) = (UInt64(0), UInt64(0))
      while true {
        guard index < bytes.endIndex, shift < 64 else { throw Failure(description: "bad varint") }
        let byte = bytes[index]
        index += 1
        value |= UInt64(byte & 0x7F) << shift
        if byte < 0x80 { return value }
        shift += 7
      }
    }
    func fixed(_ count: Int) throws -> UInt64 {
      guard bytes.endIndex - index >= count else { throw Failure(description: "truncated") }
      defer { index += count }
      return (0..<count).reduce(UInt64(0)) { $0 | UInt64(bytes[index + $1]) << (8 * UInt64($1)) }
    }
    var fields: [(Int, Field)] = []
    while index < bytes.endIndex {
      let key = try varint()
      let number = Int(key >> 3)
      switch key & 7 {
      case 0: fields.append((number, .varint(try varint())))
      case 1: fields.append((number, .fixed64(try fixed(8))))
      case 5: fields.append((number, .fixed32(UInt32(try fixed(4)))))
      case 2:
        let length = Int(try varint())
        guard length <= bytes.endIndex - index else { throw Failure(description: "truncated") }
        fields.append((number, .bytes(bytes[index..<index + length])))
        index += length
      default: throw Failure(description: "wire type \(key & 7)")
      }
    }
    return fields
  }

  static func string(_ field: Field) -> String {
    guard case .bytes(let bytes) = field else { return "" }
    return String(decoding: bytes, as: UTF8.self)
  }

  static func int(_ field: Field) -> Int {
    guard case .varint(let value) = field else { return .min }
    return Int(Int64(bitPattern: value))
  }

  static func message(_ field: Field) -> ArraySlice<UInt8> {
    guard case .bytes(let bytes) = field else { return [] }
    return bytes
  }

  static func model(_ bytes: [UInt8]) throws -> ONNXModel {
    var model = ONNXModel(
      graph: ONNXGraph(name: "", nodes: [], initializers: [], inputs: [], outputs: []))
    model.producerName = ""
    for (number, value) in try fields(bytes[...]) {
      switch number {
      case 1: model.irVersion = int(value)
      case 2: model.producerName = string(value)
      case 7: model.graph = try graph(message(value))
      case 8:
        for (inner, setting) in try fields(message(value)) where inner == 2 {
          model.opsetVersion = int(setting)
        }
      default: throw Failure(description: "ModelProto field \(number)")
      }
    }
    return model
  }

  static func graph(_ bytes: ArraySlice<UInt8>) throws -> ONNXGraph {
    var graph = ONNXGraph(name: "", nodes: [], initializers: [], inputs: [], outputs: [])
    for (number, value) in try fields(bytes) {
      switch number {
      case 1: graph.nodes.append(try node(message(value)))
      case 2: graph.name = string(value)
      case 5: graph.initializers.append(try tensor(message(value)))
      case 11: graph.inputs.append(try valueInfo(message(value)))
      case 12: graph.outputs.append(try valueInfo(message(value)))
      default: throw Failure(description: "GraphProto field \(number)")
      }
    }
    return graph
  }

  static func node(_ bytes: ArraySlice<UInt8>) throws -> ONNXNode {
    var node = ONNXNode(opType: "", name: "", inputs: [], outputs: [])
    for (number, value) in try fields(bytes) {
      switch number {
      case 1: node.inputs.append(string(value))
      case 2: node.outputs.append(string(value))
      case 3: node.name = string(value)
      case 4: node.opType = string(value)
      case 5: node.attributes.append(try attribute(message(value)))
      default: throw Failure(description: "NodeProto field \(number)")
      }
    }
    return node
  }

  static func attribute(_ bytes: ArraySlice<UInt8>) throws -> ONNXAttribute {
    var (name, type, integer, float, text, integers) = ("", 0, 0, Float(0), "", [Int]())
    for (number, value) in try fields(bytes) {
      switch (number, value) {
      case (1, _): name = string(value)
      case (2, .fixed32(let bits)): float = Float(bitPattern: bits)
      case (3, _): integer = int(value)
      case (4, _): text = string(value)
      case (8, _): integers.append(int(value))
      case (20, _): type = int(value)
      default: throw Failure(description: "AttributeProto field \(number)")
      }
    }
    switch type {
    case 1: return ONNXAttribute(name, .float(float))
    case 2: return ONNXAttribute(name, .int(integer))
    case 3: return ONNXAttribute(name, .string(text))
    case 7: return ONNXAttribute(name, .ints(integers))
    default: throw Failure(description: "attribute type \(type)")
    }
  }

  static func tensor(_ bytes: ArraySlice<UInt8>) throws -> ONNXTensor {
    var (name, dimensions, type, raw) = ("", [Int](), 0, [UInt8]())
    for (number, value) in try fields(bytes) {
      switch (number, value) {
      case (1, _): dimensions.append(int(value))
      case (2, _): type = int(value)
      case (8, _): name = string(value)
      case (9, .bytes(let data)): raw = Array(data)
      default: throw Failure(description: "TensorProto field \(number)")
      }
    }
    guard let elementType = ONNXTensor.ElementType(rawValue: type) else {
      throw Failure(description: "data type \(type)")
    }
    return ONNXTensor(name: name, dimensions: dimensions, elementType: elementType, rawData: raw)
  }

  static func valueInfo(_ bytes: ArraySlice<UInt8>) throws -> ONNXValueInfo {
    var info = ONNXValueInfo(name: "", shape: [])
    for (number, value) in try fields(bytes) {
      switch number {
      case 1: info.name = string(value)
      case 2:
        // TypeProto.tensor_type → elem_type (float), shape → dims.
        for (typeField, tensorType) in try fields(message(value)) where typeField == 1 {
          for (field, shape) in try fields(message(tensorType)) {
            if field == 1, int(shape) != 1 { throw Failure(description: "element type") }
            guard field == 2 else { continue }
            for (_, dimension) in try fields(message(shape)) {
              for (kind, size) in try fields(message(dimension)) {
                info.shape.append(kind == 1 ? .value(int(size)) : .parameter(string(size)))
              }
            }
          }
        }
      default: throw Failure(description: "ValueInfoProto field \(number)")
      }
    }
    return info
  }
}

/// Whether two byte arrays are equal, compared with memcmp.
func sameBytes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
  a.count == b.count
    && a.withUnsafeBytes { x in
      b.withUnsafeBytes { y in
        a.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, a.count) == 0
      }
    }
}

/// The ONNX export: every zoo model's graph and weights survive the
/// encoding, the graph computes what the model computes, and a layer with
/// no ONNX form is named in the error.
@Suite(.serialized) struct ONNXTests {
  /// The writer's varints and keys against hand-encoded bytes.
  @Test func writesTheWireFormat() {
    var writer = ProtobufWriter()
    writer.int(1, 150)
    writer.int(2, -1)
    writer.string(3, "hi")
    writer.fixed32(4, Float(1).bitPattern)
    #expect(
      writer.bytes == [
        0x08, 0x96, 0x01, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x1A,
        0x02, 0x68, 0x69, 0x25, 0x00, 0x00, 0x80, 0x3F,
      ])
  }

  /// Every zoo model's graph decodes to what was encoded, each weight
  /// under its state-dict name with every bit, and the input and output
  /// carry the symbolic batch size. The three models of 60 million
  /// weights and more keep their undrawn weights (whatever the memory
  /// holds): drawing them would take most of the test's time, and the
  /// round trip is checked bit for bit all the same.
  @Test(arguments: ModelName.allCases)
  func everyZooModelRoundTrips(_ name: ModelName) throws {
    let large = [ModelName.alexnet, .zfnet, .vgg16].contains(name)
    let model: Sequential<Float> =
      large ? withUndrawnWeights { name.build() } : withRandomSeed(7) { name.build() }
    // A language model takes token ids, which are not normalized.
    let statistics =
      name.isLanguageModel
      ? nil
      : ChannelStatistics(
        mean: Array(repeating: 0.25, count: name.inputShape[0]),
        standardDeviation: Array(repeating: 0.5, count: name.inputShape[0]))
    let graph = try model.onnxModel(inputShape: name.inputShape, normalization: statistics)
    let bytes = graph.encoded()
    let decoded = try ProtobufDecoder.model(bytes)
    // Compared field by field, the weights' bytes with memcmp: the
    // element-by-element comparison of a debug build takes seconds on VGG16.
    #expect(decoded.graph.nodes == graph.graph.nodes)
    #expect(decoded.graph.inputs == graph.graph.inputs)
    #expect(decoded.graph.outputs == graph.graph.outputs)
    #expect(decoded.graph.initializers.count == graph.graph.initializers.count)
    for (found, expected) in zip(decoded.graph.initializers, graph.graph.initializers) {
      #expect(found.name == expected.name)
      #expect(found.dimensions == expected.dimensions)
      #expect(found.elementType == expected.elementType)
      #expect(sameBytes(found.rawData, expected.rawData), "\(found.name)")
    }
    #expect(decoded.opsetVersion == 17)
    #expect(decoded.graph.inputs[0].shape == [.parameter("N")] + name.inputShape.map { .value($0) })
    let output = try model.outputShape(for: [1] + name.inputShape).dropFirst()
    #expect(decoded.graph.outputs[0].shape == [.parameter("N")] + output.map { .value($0) })
    let weights = Dictionary(
      uniqueKeysWithValues: decoded.graph.initializers.map { ($0.name, $0) })
    for (parameterName, value) in model.stateDictionary {
      let tensor = try #require(weights[parameterName], "\(parameterName)")
      #expect(tensor.dimensions == value.shape)
      // The host is little-endian, as ONNX's raw data is.
      let same = value.withUnsafeBufferPointer { scalars in
        tensor.rawData.withUnsafeBytes { raw in
          raw.count == 4 * scalars.count
            && (scalars.isEmpty || memcmp(raw.baseAddress!, scalars.baseAddress!, raw.count) == 0)
        }
      }
      #expect(same, "\(parameterName)")
    }
  }

  /// A layer of the user's own is an error that names it and where it is.
  @Test func aCustomLayerIsNamed() throws {
    struct Doubling: Layer {
      func callAsFunction(_ input: Tensor<Float>) -> Tensor<Float> { input * 2 }
      func outputShape(for input: [Int]) throws(ShapeError) -> [Int] { input }
    }
    let model = try Sequential<Float> {
      Flatten<Float>()
      Residual<Float> { Doubling() }
      try Dense<Float>(inputSize: 4, outputSize: 2)
    }
    #expect(
      throws: ONNXExportError(
        "ONNX export: the model, layer 1, body, layer 0 is a Doubling, which has no ONNX form; "
          + "export covers the built-in layers (Conv2D, Dense, pooling, normalization, "
          + "activations, attention and their compositions)")
    ) {
      _ = try model.onnxModel(inputShape: [1, 2, 2])
    }
  }

  /// Runs a decoded graph of the operators the convolutional zoo models
  /// use, each with the library's own operation.
  func interpret(_ model: ONNXModel, pixels: Tensor<Float>) throws -> Tensor<Float> {
    var values: [String: Tensor<Float>] = ["pixels": pixels]
    var integers: [String: [Int]] = [:]
    for tensor in model.graph.initializers {
      switch tensor.elementType {
      case .float:
        values[tensor.name] = try NumPyArray(
          shape: tensor.dimensions, elementType: .float32, data: tensor.rawData
        ).tensor()
      case .int64:
        integers[tensor.name] = try NumPyArray(
          shape: tensor.dimensions, elementType: .int64, data: tensor.rawData
        ).indexTensor().scalars
      }
    }
    for node in model.graph.nodes {
      func input(_ index: Int) throws -> Tensor<Float> {
        try #require(values[node.inputs[index]], "\(node.opType) input \(node.inputs[index])")
      }
      func ints(_ name: String) -> [Int] {
        for attribute in node.attributes where attribute.name == name {
          if case .ints(let values) = attribute.value { return values }
          if case .int(let value) = attribute.value { return [value] }
        }
        return []
      }
      let x = try input(0)
      func bias() throws -> Tensor<Float>? { node.inputs.count > 2 ? try input(2) : nil }
      let y: Tensor<Float>
      switch node.opType {
      case "Sub": y = x - (try input(1))
      case "Div": y = x / (try input(1))
      case "Slice":
        let (starts, ends, axes) = (
          integers[node.inputs[1]]!, integers[node.inputs[2]]!, integers[node.inputs[3]]!
        )
        y = axes.indices.reduce(x) {
          $0.sliced(alongAxis: axes[$1], range: starts[$1]..<ends[$1])
        }
      case "Conv":
        y = conv2d(
          x, filters: try input(1), bias: try bias(), stride: ints("strides")[0],
          padding: ints("pads")[0], dilation: ints("dilations")[0], rounding: .floor)
      case "MaxPool":
        y = maxPool2d(
          x, size: ints("kernel_shape")[0], stride: ints("strides")[0], padding: ints("pads")[0],
          rounding: ints("ceil_mode") == [1] ? .ceil : .floor)
      case "Relu": y = relu(x)
      case "Tanh": y = tanh(x)
      case "Flatten": y = x.flattened(fromAxis: 1)
      case "Gemm": y = linear(x, weight: try input(1), bias: try bias())
      case "Identity": y = x
      default: throw ProtobufDecoder.Failure(description: "no interpreter for \(node.opType)")
      }
      values[node.outputs[0]] = y
    }
    return try #require(values["logits"])
  }

  /// A trained checkpoint of a model that takes a center crop exports
  /// from the command line; its graph, decoded and run on raw pixels,
  /// gives the logits the run gives (the crop and the normalization
  /// included).
  @Test func anExportedCheckpointComputesTheRunsLogits() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "cortex-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let digits = try MNIST.loadBundled(split: .train).prefix(256)
    let test = digits.prefix(64)
    var configuration = TrainingConfiguration(model: .convnetjsMNIST)
    configuration.epochs = 1
    configuration.batchSize = 32
    let run = try TrainingRun(configuration, train: digits, test: test)
    try run.trainEpoch()
    let checkpoint = folder.appendingPathComponent("checkpoint.safetensors")
    try run.save(to: checkpoint)
    let file = folder.appendingPathComponent("model.onnx")
    #expect(try ExportCommand().run([checkpoint.path, "--onnx", file.path]) == 0)

    let model = try ProtobufDecoder.model([UInt8](Data(contentsOf: file)))
    #expect(model.graph.inputs[0].shape == [.parameter("N"), .value(1), .value(28), .value(28)])
    #expect(model.graph.nodes.prefix(3).map(\.opType) == ["Sub", "Div", "Slice"])
    let logits = try interpret(model, pixels: test.images)
    let expected = run.testLogits()
    #expect(logits.shape == [64, 10])
    let difference = zip(logits.scalars, expected.scalars).map { abs($0 - $1) }.max() ?? 0
    #expect(difference <= 1e-6)

    #expect(throws: CommandLineError("export needs --onnx FILE, the ONNX file to write")) {
      try ExportCommand().run([checkpoint.path])
    }
    #expect(throws: DataError.fileNotFound(path: "/nonexistent/checkpoint.safetensors")) {
      try ExportCommand().run(["/nonexistent/checkpoint.safetensors", "--onnx", file.path])
    }
  }
}
