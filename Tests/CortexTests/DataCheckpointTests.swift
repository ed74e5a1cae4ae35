import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

@Suite struct DataCheckpointTests {
  typealias Support = DataTestSupport

  /// A LeNet-like state dict with a scalar and an empty tensor.
  func stateDict<Scalar: TensorScalar>(_: Scalar.Type) -> [String: Tensor<Scalar>] {
    [
      "conv1.weight": .randomNormal([6, 1, 5, 5], seed: 1),
      "conv1.bias": .randomNormal([6], seed: 2),
      "fc.weight": .randomUniform([10, 84], lower: -1, upper: 1, seed: 3),
      "Step": Tensor(Scalar(12)),
      "empty": .zeros([0, 3]),
    ]
  }

  /// A file with the given header text and data, its length prefix the
  /// header's true length unless `declaredLength` says otherwise.
  func file(_ header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> Data {
    let headerBytes = Array(header.utf8)
    let prefix = withUnsafeBytes(of: (declaredLength ?? UInt64(headerBytes.count)).littleEndian) {
      Array($0)
    }
    return Data(prefix + headerBytes + data)
  }

  func loadError(_ data: Data) -> String? {
    Support.dataError { _ = try Checkpoint.decode(data, source: "checkpoint.safetensors") }
  }

  @Test func roundTripFloat() throws {
    let directory = try Support.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("lenet.safetensors")
    let tensors = stateDict(Float.self)
    try Checkpoint.save(tensors, to: url)
    let loaded = try Checkpoint.load(from: url)
    #expect(loaded == tensors)
    #expect(loaded["Step"]?.shape == [])
    #expect(loaded["empty"]?.shape == [0, 3])
    #expect(try Checkpoint.loadMetadata(from: url) == ["format": "pt"])
  }

  @Test func roundTripDouble() throws {
    let directory = try Support.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("lenet.safetensors")
    let tensors = stateDict(Double.self)
    try Checkpoint.save(tensors, metadata: ["epoch": "3", "model": "LeNet-5"], to: url)
    #expect(try Checkpoint.load(Double.self, from: url) == tensors)
    #expect(try Checkpoint.loadMetadata(from: url) == ["epoch": "3", "model": "LeNet-5"])
  }

  @Test func precisionIsConvertedOnlyWhenAsked() throws {
    let doubles = stateDict(Double.self)
    let data = try Checkpoint.encode(doubles)
    #expect(
      Support.dataError { _ = try Checkpoint.decode(data, as: Float.self, source: "d.safetensors") }
        == "d.safetensors: tensor 'Step' is F64, expected F32 (load with convertingPrecision: "
        + "true to convert it)")
    let floats = try Checkpoint.decode(data, as: Float.self, convertingPrecision: true)
    #expect(floats == doubles.mapValues { $0.converted(to: Float.self) })
    let back = try Checkpoint.decode(
      Checkpoint.encode(floats), as: Double.self, convertingPrecision: true)
    #expect(back == floats.mapValues { $0.converted(to: Double.self) })
  }

  @Test func headerLayoutParsedIndependently() throws {
    let tensors: [String: Tensor<Float>] = [
      "conv1.weight": Tensor(shape: [2, 1, 1, 2], scalars: [1, -2, 0.5, 3]),
      "conv1.bias": Tensor([0.25, -1]),
    ]
    let bytes = [UInt8](try Checkpoint.encode(tensors))
    let headerLength = bytes[0..<8].enumerated().reduce(0) {
      $0 | Int($1.element) << (8 * $1.offset)
    }
    #expect(headerLength % 8 == 0)
    let headerBytes = Array(bytes[8..<8 + headerLength])
    let headerText = try #require(String(bytes: headerBytes, encoding: .utf8))
    #expect(headerText.hasSuffix("}") || headerText.hasSuffix(" "))
    // Keys appear sorted: __metadata__ after uppercase, before lowercase names.
    let keyOrder = try ["\"__metadata__\"", "\"conv1.bias\"", "\"conv1.weight\""].map {
      try #require(headerText.range(of: $0)).lowerBound
    }
    #expect(keyOrder == keyOrder.sorted())

    let json = try #require(
      try JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any])
    #expect(Set(json.keys) == ["__metadata__", "conv1.bias", "conv1.weight"])
    // The checksums: zlib's CRC-32 of each tensor's bytes, in name order,
    // and of the header's canonical text.
    let metadata = try #require(json["__metadata__"] as? [String: String])
    let dataBytes = Array(bytes[(8 + headerLength)...])
    let crcs = [Array(dataBytes[0..<8]), Array(dataBytes[8..<24])].map {
      String(format: "%08x", Support.crc32($0))
    }
    #expect(metadata["cortex.crc32.tensors"] == crcs.joined(separator: " "))
    let canonical =
      "conv1.bias\tF32\t2\nconv1.weight\tF32\t2,1,1,2\n"
      + "cortex.crc32.tensors=\(crcs.joined(separator: " "))\nformat=pt\n"
    #expect(
      metadata["cortex.crc32.header"]
        == String(format: "%08x", Support.crc32(Array(canonical.utf8))))
    #expect(metadata.count == 3 && metadata["format"] == "pt")
    let bias = try #require(json["conv1.bias"] as? [String: Any])
    #expect(bias["dtype"] as? String == "F32")
    #expect(bias["shape"] as? [Int] == [2])
    #expect(bias["data_offsets"] as? [Int] == [0, 8])
    let weight = try #require(json["conv1.weight"] as? [String: Any])
    #expect(weight["dtype"] as? String == "F32")
    #expect(weight["shape"] as? [Int] == [2, 1, 1, 2])
    #expect(weight["data_offsets"] as? [Int] == [8, 24])
    #expect(bytes.count == 8 + headerLength + 24)

    let data = Array(bytes[(8 + headerLength)...])
    let floats = stride(from: 0, to: data.count, by: 4).map { offset in
      Float(bitPattern: data[offset..<offset + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) })
    }
    #expect(floats == [0.25, -1, 1, -2, 0.5, 3])
  }

  @Test func shapeAndOffsetsMismatch() {
    let header =
      #"{"conv1.weight":{"dtype":"F32","shape":[6,1,5,5],"data_offsets":[0,596]}}"#
    #expect(
      loadError(file(header, data: [UInt8](repeating: 0, count: 596)))
        == "checkpoint.safetensors: tensor 'conv1.weight' declares shape [6, 1, 5, 5] "
        + "(150 values, 600 bytes) but data_offsets cover 596 bytes")
  }

  @Test func truncatedFiles() throws {
    let data = try Checkpoint.encode(
      ["a": Tensor<Float>([1, 2]), "b": Tensor<Float>([3, 4, 5])], metadata: [:])
    #expect(
      loadError(data.dropLast(4))
        == "checkpoint.safetensors: tensor 'b' has data_offsets [8, 20] past the end of the "
        + "16-byte data section")
    #expect(
      loadError(data.prefix(30))
        == "checkpoint.safetensors: header length 208 runs past the end of the file (30 bytes)")
    #expect(
      loadError(data.prefix(5))
        == "checkpoint.safetensors: file is 5 bytes, shorter than the 8-byte header length")
  }

  @Test func dtypes() {
    let data = [UInt8](repeating: 0, count: 8)
    #expect(
      loadError(file(#"{"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}"#, data: data))
        == "checkpoint.safetensors: tensor 'w' has unknown dtype 'F33'")
    #expect(
      loadError(file(#"{"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: data))
        == "checkpoint.safetensors: tensor 'w' has dtype I64, expected F32 or F64")
    #expect(
      loadError(file(#"{"w":{"dtype":7,"shape":[1],"data_offsets":[0,8]}}"#, data: data))
        == "checkpoint.safetensors: tensor 'w' needs a string dtype, found an integer")
  }

  @Test func corruptJSON() {
    #expect(
      loadError(file(#"{"w": {"dtype": "F32" "shape": [1]}}"#))
        == "checkpoint.safetensors: corrupt JSON header at byte 22: expected ',' or '}' after "
        + "an object member, found '\"'")
    #expect(
      loadError(file(#"{"w": {"dtype": "F32", "#))
        == "checkpoint.safetensors: corrupt JSON header at byte 23: expected a string key, "
        + "found the end")
    #expect(
      loadError(file(#"{"a":1,"a":2}"#))
        == "checkpoint.safetensors: corrupt JSON header at byte 7: duplicate key \"a\"")
    #expect(
      loadError(file("[]"))
        == "checkpoint.safetensors: header is an array, expected a JSON object")
    let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
    #expect(
      loadError(file(#"{"a":"# + deep + "}"))
        == "checkpoint.safetensors: corrupt JSON header at byte 68: expected at most 64 levels "
        + "of nesting, found '['")
  }

  @Test func hugeDeclaredHeaderLength() {
    #expect(
      loadError(file("{}", declaredLength: .max))
        == "checkpoint.safetensors: header length 18446744073709551615 is more than the limit "
        + "of 100000000 bytes")
    #expect(
      loadError(file("{}", declaredLength: 1000))
        == "checkpoint.safetensors: header length 1000 runs past the end of the file (10 bytes)")
  }

  @Test func layoutLies() {
    let eight = [UInt8](repeating: 0, count: 8)
    #expect(
      loadError(file(#"{"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]}}"#, data: eight))
        == "checkpoint.safetensors: tensor 'w' declares a negative dimension -1 in shape [2, -1]")
    #expect(
      loadError(file(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: eight))
        == "checkpoint.safetensors: tensor 'w' has data_offsets [8, 0], expected [begin, end] "
        + "with 0 ≤ begin ≤ end")
    #expect(
      loadError(
        file(#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#))
        == "checkpoint.safetensors: tensor 'w' declares shape [4294967296, 4294967296] "
        + "(too many values) but data_offsets cover 8 bytes")
    #expect(
      loadError(file(#"{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}"#, data: eight))
        == "checkpoint.safetensors: tensor 'w' has the number 2.5 in shape, expected integers")
    let overlapping =
      #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
      + #""b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
    #expect(
      loadError(file(overlapping, data: eight))
        == "checkpoint.safetensors: tensors 'a' (bytes 0..<8) and 'b' (bytes 4..<8) overlap")
    let gap = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
    #expect(
      loadError(file(gap, data: eight))
        == "checkpoint.safetensors: bytes 0..<4 of the data section belong to no tensor")
    let short = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
    #expect(
      loadError(file(short, data: eight))
        == "checkpoint.safetensors: bytes 4..<8 of the data section belong to no tensor")
    #expect(
      loadError(file(#"{"a":{"dtype":"F32","shape":[1],"offsets":[0,4]}}"#, data: eight))
        == "checkpoint.safetensors: tensor 'a' has an unexpected key 'offsets'")
    #expect(
      loadError(file(#"{"__metadata__":{"epoch":3}}"#))
        == "checkpoint.safetensors: __metadata__ value of 'epoch' is an integer, expected a string")
    #expect(
      loadError(file(#"{"a":[1]}"#))
        == "checkpoint.safetensors: tensor 'a' is described by an array, expected an object "
        + "with dtype, shape and data_offsets")
  }

  @Test func reservedName() {
    #expect(
      Support.dataError {
        _ = try Checkpoint.encode(["__metadata__": Tensor<Float>([1])], source: "x.safetensors")
      } == "x.safetensors: '__metadata__' is reserved and cannot name a tensor")
  }

  @Test func atomicWriteReplacesAndLeavesNoTemporaryFile() throws {
    let directory = try Support.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("model.safetensors")
    try Checkpoint.save(["w": Tensor<Float>([1, 2, 3])], to: url)
    try Checkpoint.save(["w": Tensor<Float>([4, 5]), "b": Tensor<Float>([6])], to: url)
    #expect(try Checkpoint.load(from: url) == ["w": Tensor([4, 5]), "b": Tensor([6])])
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["model.safetensors"])

    let missing = directory.appendingPathComponent("absent/model.safetensors")
    #expect(
      Support.dataError { try Checkpoint.save(["w": Tensor<Float>([1])], to: missing) }
        == "\(missing.path): cannot create a temporary file: No such file or directory")
    #expect(
      Support.dataError { _ = try Checkpoint.load(from: missing) }
        == "\(missing.path): file not found")
  }
}
