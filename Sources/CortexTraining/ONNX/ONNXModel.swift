import CortexCore
import Foundation

/// An ONNX model as Cortex writes it: one graph of nodes over named
/// tensors, its weights as initializers, one input and one output. The
/// types mirror the messages of `onnx.proto` that the exporter uses, and
/// ``encoded()`` writes them in the protocol buffer wire format.
struct ONNXModel: Equatable {
  /// The ONNX IR version: 8 goes with opset 17.
  var irVersion = 8
  /// The version of the default (`ai.onnx`) operator set.
  var opsetVersion = 17
  var producerName = "Cortex"
  var graph: ONNXGraph

  /// The model in the protocol buffer wire format (an `.onnx` file).
  func encoded() -> [UInt8] {
    var writer = ProtobufWriter()
    writer.int(1, irVersion)
    writer.string(2, producerName)
    writer.message(7) { graph.encode(into: &$0) }
    writer.message(8) {
      $0.string(1, "")
      $0.int(2, opsetVersion)
    }
    return writer.bytes
  }
}

/// `GraphProto`: nodes in an order where every input is defined before use.
struct ONNXGraph: Equatable {
  var name: String
  var nodes: [ONNXNode]
  var initializers: [ONNXTensor]
  var inputs: [ONNXValueInfo]
  var outputs: [ONNXValueInfo]

  func encode(into writer: inout ProtobufWriter) {
    for node in nodes { writer.message(1) { node.encode(into: &$0) } }
    writer.string(2, name)
    for tensor in initializers { writer.message(5) { tensor.encode(into: &$0) } }
    for input in inputs { writer.message(11) { input.encode(into: &$0) } }
    for output in outputs { writer.message(12) { output.encode(into: &$0) } }
  }
}

/// `NodeProto`: one operator applied to named tensors.
struct ONNXNode: Equatable {
  var opType: String
  var name: String
  var inputs: [String]
  var outputs: [String]
  var attributes: [ONNXAttribute] = []

  func encode(into writer: inout ProtobufWriter) {
    for input in inputs { writer.string(1, input) }
    for output in outputs { writer.string(2, output) }
    writer.string(3, name)
    writer.string(4, opType)
    for attribute in attributes { writer.message(5) { attribute.encode(into: &$0) } }
  }
}

/// `AttributeProto`: a named constant setting of a node.
struct ONNXAttribute: Equatable {
  enum Value: Equatable {
    case int(Int)
    case float(Float)
    case ints([Int])
    case string(String)
  }

  var name: String
  var value: Value

  init(_ name: String, _ value: Value) {
    self.name = name
    self.value = value
  }

  func encode(into writer: inout ProtobufWriter) {
    writer.string(1, name)
    switch value {
    case .float(let x):
      writer.fixed32(2, x.bitPattern)
      writer.int(20, 1)
    case .int(let x):
      writer.int(3, x)
      writer.int(20, 2)
    case .string(let text):
      writer.string(4, text)
      writer.int(20, 3)
    case .ints(let values):
      for x in values { writer.int(8, x) }
      writer.int(20, 7)
    }
  }
}

/// `TensorProto`: a constant tensor, little-endian in `raw_data`.
struct ONNXTensor: Equatable {
  /// `TensorProto.DataType`: 1 is float32, 7 is int64.
  enum ElementType: Int {
    case float = 1
    case int64 = 7
  }

  var name: String
  var dimensions: [Int]
  var elementType: ElementType
  var rawData: [UInt8]

  /// A float32 tensor.
  init(name: String, dimensions: [Int], floats: [Float]) {
    self.name = name
    self.dimensions = dimensions
    elementType = .float
    rawData = floats.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Array($0) }
  }

  /// A float32 tensor of a tensor's scalars and shape.
  init(name: String, _ tensor: Tensor<Float>) {
    self.name = name
    dimensions = tensor.shape
    elementType = .float
    #if _endian(little)
      rawData = tensor.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) }
    #else
      rawData = tensor.scalars.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Array($0) }
    #endif
  }

  /// An int64 tensor.
  init(name: String, dimensions: [Int], integers: [Int]) {
    self.name = name
    self.dimensions = dimensions
    elementType = .int64
    rawData = integers.map { Int64($0).littleEndian }.withUnsafeBytes { Array($0) }
  }

  init(name: String, dimensions: [Int], elementType: ElementType, rawData: [UInt8]) {
    self.name = name
    self.dimensions = dimensions
    self.elementType = elementType
    self.rawData = rawData
  }

  func encode(into writer: inout ProtobufWriter) {
    for size in dimensions { writer.int(1, size) }
    writer.int(2, elementType.rawValue)
    writer.string(8, name)
    writer.bytes(9, rawData)
  }
}

/// `ValueInfoProto`: a graph input or output, float32 with a shape whose
/// sizes are numbers or names (the batch size).
struct ONNXValueInfo: Equatable {
  enum Dimension: Equatable {
    case value(Int)
    case parameter(String)
  }

  var name: String
  var shape: [Dimension]

  func encode(into writer: inout ProtobufWriter) {
    writer.string(1, name)
    writer.message(2) {  // TypeProto
      $0.message(1) {  // TypeProto.Tensor
        $0.int(1, ONNXTensor.ElementType.float.rawValue)
        $0.message(2) {  // TensorShapeProto
          for dimension in shape {
            $0.message(1) {
              switch dimension {
              case .value(let size): $0.int(1, size)
              case .parameter(let name): $0.string(2, name)
              }
            }
          }
        }
      }
    }
  }
}

/// The protocol buffer wire format, for writing: each field a key (its
/// number and wire type) then a varint, a fixed 32-bit value, or a
/// length-prefixed run of bytes (strings, bytes and nested messages).
///
/// A nested message is written straight into the one buffer: its body
/// runs once to count its bytes (copying nothing), then again to write
/// them after the length, so the weights are copied once however deeply
/// they are nested.
struct ProtobufWriter {
  private(set) var bytes: [UInt8] = []
  /// The bytes written, or only counted.
  private(set) var count = 0
  private let isCounting: Bool

  init() { isCounting = false }
  private init(counting: Bool) { isCounting = counting }

  private mutating func append(_ byte: UInt8) {
    count += 1
    if !isCounting { bytes.append(byte) }
  }

  /// A base-128 varint, least significant group first.
  mutating func varint(_ value: UInt64) {
    var rest = value
    while rest >= 0x80 {
      append(UInt8(rest & 0x7F) | 0x80)
      rest >>= 7
    }
    append(UInt8(rest))
  }

  mutating func key(_ field: Int, wireType: UInt64) {
    varint(UInt64(field) << 3 | wireType)
  }

  /// An `int32` or `int64` field; negative values take ten bytes.
  mutating func int(_ field: Int, _ value: Int) {
    key(field, wireType: 0)
    varint(UInt64(bitPattern: Int64(value)))
  }

  mutating func fixed32(_ field: Int, _ value: UInt32) {
    key(field, wireType: 5)
    for shift in stride(from: 0, to: 32, by: 8) { append(UInt8(value >> UInt32(shift) & 0xFF)) }
  }

  mutating func bytes(_ field: Int, _ value: [UInt8]) {
    key(field, wireType: 2)
    varint(UInt64(value.count))
    count += value.count
    if !isCounting { bytes += value }
  }

  mutating func string(_ field: Int, _ value: String) {
    bytes(field, Array(value.utf8))
  }

  /// A nested message, written by `body`.
  mutating func message(_ field: Int, _ body: (inout ProtobufWriter) -> Void) {
    var counter = ProtobufWriter(counting: true)
    body(&counter)
    key(field, wireType: 2)
    varint(UInt64(counter.count))
    if isCounting {
      count += counter.count
    } else {
      if bytes.isEmpty { bytes.reserveCapacity(counter.count + 16) }
      body(&self)
    }
  }
}
