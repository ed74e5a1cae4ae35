import Foundation
import Testing

@testable import CortexCLI
@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// NumPy's `.npy` and `.npz` files: round trips of the four element types,
/// the exact bytes NumPy writes, one-line errors for arrays Cortex does not
/// take, and the `npy` data set, which trains to the same checkpoint as the
/// IDX files it was written from.
@Suite(.serialized) struct NumPyTests {
  func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "cortex-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// A `.npy` file's bytes with the given header dictionary and data.
  func npy(_ header: String, _ data: [UInt8] = []) -> Data {
    var text = header
    text += String(repeating: " ", count: (64 - (10 + text.utf8.count + 1) % 64) % 64) + "\n"
    var bytes = Data(NumPyArray.magic + [1, 0])
    bytes.append(contentsOf: [UInt8(text.utf8.count & 0xFF), UInt8(text.utf8.count >> 8)])
    bytes.append(contentsOf: Array(text.utf8))
    bytes.append(contentsOf: data)
    return bytes
  }

  func message(_ body: () throws -> Void) -> String? {
    do {
      try body()
      return nil
    } catch let error as DataError {
      return error.message
    } catch {
      return "\(error)"
    }
  }

  /// The header NumPy 2 writes for `np.arange(6, dtype='<f4').reshape(2, 3)`,
  /// padded to 128 bytes in all, then the little-endian floats.
  @Test func writesTheBytesNumPyWrites() throws {
    let x = Tensor<Float>(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5])
    let bytes = [UInt8](NumPyArray(x).encoded())
    #expect(bytes.count == 128 + 24)
    #expect(Array(bytes[0..<10]) == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 118, 0])
    let header = String(decoding: bytes[10..<128], as: UTF8.self)
    #expect(
      header.trimmingCharacters(in: .whitespacesAndNewlines)
        == "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }")
    #expect(header.last == "\n")
    #expect(Array(bytes[132..<136]) == [0x00, 0x00, 0x80, 0x3F])  // 1.0
    #expect(NumPyArray.tuple([5]) == "(5,)")
    #expect(NumPyArray.tuple([]) == "()")
  }

  /// Float, Double, bytes and indices come back with their shapes and
  /// every bit, through memory and through files.
  @Test func everyElementTypeRoundTrips() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let floats = Tensor<Float>(
      shape: [2, 1, 3],
      scalars: [1.5, -0.0, .infinity, .leastNonzeroMagnitude, -7, .greatestFiniteMagnitude])
    let doubles = Tensor<Double>(shape: [3], scalars: [0.1, -2.5e300, .leastNonzeroMagnitude])
    let indices = IndexTensor(shape: [2, 2], scalars: [0, -1, Int(Int64.max), 9])
    let bytes = NumPyArray(bytes: [0, 7, 255], shape: [3, 1])
    let scalar = Tensor<Float>(shape: [], scalars: [42])

    let url = folder.appendingPathComponent("x.npy")
    try floats.writeNumPy(to: url)
    let readFloats = try Tensor<Float>(numPyFile: url)
    #expect(readFloats.shape == [2, 1, 3])
    #expect(readFloats.scalars.map(\.bitPattern) == floats.scalars.map(\.bitPattern))
    try doubles.writeNumPy(to: url)
    #expect(try NumPyArray.read(from: url).elementType == .float64)
    #expect(try Tensor<Double>(numPyFile: url).scalars == doubles.scalars)
    try indices.writeNumPy(to: url)
    #expect(try NumPyArray.read(from: url).elementType == .int64)
    #expect(try IndexTensor(numPyFile: url) == indices)
    try bytes.write(to: url)
    #expect(try NumPyArray.read(from: url) == bytes)
    #expect(try Tensor<Float>(numPyFile: url).scalars == [0, 7, 255])
    #expect(try IndexTensor(numPyFile: url).scalars == [0, 7, 255])
    try scalar.writeNumPy(to: url)
    #expect(try Tensor<Float>(numPyFile: url).shape == [])
    #expect(try Tensor<Float>(numPyFile: url).scalars == [42])

    // Converting: doubles into Float as `astype('float32')` does; floats are not indices.
    try doubles.writeNumPy(to: url)
    #expect(try Tensor<Float>(numPyFile: url).scalars == [0.1, -.infinity, 0])
    try floats.writeNumPy(to: url)
    #expect(
      message { _ = try IndexTensor(numPyFile: url) }
        == "expected integer indices (uint8 or int64), found float32; convert with "
        + "array.astype('int64')")
  }

  /// Headers in the spellings other writers use: version 2.0, double
  /// quotes, no trailing comma, Python 2's long integers.
  @Test func readsOtherHeaderSpellings() throws {
    let data: [UInt8] = [1, 2, 3, 4, 5, 6]
    let plain = try NumPyArray.decode(
      npy(#"{"descr": "|u1", "shape": (2, 3), "fortran_order": False}"#, data))
    #expect(plain.shape == [2, 3])
    #expect(plain.data == data)
    let long = try NumPyArray.decode(
      npy("{'descr':'<u1','fortran_order':False,'shape':(6L,)}", data))
    #expect(long.shape == [6])
    var version2 = Data(NumPyArray.magic + [2, 0])
    let header = "{'descr': '|u1', 'fortran_order': False, 'shape': (6,), }\n"
    version2.append(contentsOf: [UInt8(header.utf8.count), 0, 0, 0] + Array(header.utf8) + data)
    #expect(try NumPyArray.decode(version2).data == data)
  }

  /// Arrays Cortex does not take are refused from their header alone,
  /// with what was found and how to convert it.
  @Test func refusesOtherArraysInOneLine() throws {
    let cases: [(Data, String)] = [
      (
        npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }"),
        "holds a Fortran-order array of shape (2, 3); save it in C order "
          + "(numpy.ascontiguousarray(array))"
      ),
      (
        npy("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }"),
        "holds an object array (descr '|O'): Python objects, not numbers; convert with "
          + "array.astype('float32')"
      ),
      (
        npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }"),
        "holds big-endian float32 (descr '>f4'); convert with array.astype('<f4')"
      ),
      (
        npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }"),
        "holds int32 of descr '<i4', expected float32 (<f4), float64 (<f8), uint8 (|u1) or "
          + "int64 (<i8); convert with array.astype('float32') or array.astype('int64')"
      ),
      (
        npy("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,), }"),
        "holds a structured array (descr [('x', '<f4')]); Cortex reads plain arrays of "
          + "float32, float64, uint8 or int64"
      ),
      (
        npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000), }", [0]),
        "shape (1000000, 1000) of float64 is more than the "
          + "limit of 4294967296 bytes"
      ),
      (
        npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 1000), }", [0, 0]),
        "header declares shape (1000, 1000) of float32 (4000000 bytes) but only 2 bytes follow "
          + "the 128-byte header"
      ),
      (
        npy("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", [1, 2, 3]),
        "holds 1 bytes after the 2 bytes its header declares (shape (2,) of uint8)"
      ),
      (
        Data("PK\u{3}\u{4}".utf8),
        "expected a NumPy .npy file starting with 93 4E 55 4D 50 59 (\\x93NUMPY), found "
          + "50 4B 03 04"
      ),
      (
        npy("{'descr': '<f4', 'shape': (2,)}"),
        "the header lacks one of 'descr', 'fortran_order' and 'shape': "
          + "{'descr': '<f4', 'shape': (2,)}"
      ),
    ]
    for (bytes, expected) in cases {
      #expect(message { _ = try NumPyArray.decode(bytes) } == expected)
    }
  }

  /// Stored and deflated archives round trip; a damaged member fails its
  /// checksum.
  @Test func archivesRoundTripStoredAndDeflated() throws {
    let arrays = [
      "images": NumPyArray(Tensor<Float>(shape: [4, 8], scalars: (0..<32).map { Float($0) / 8 })),
      "labels": NumPyArray(IndexTensor([3, 1, 4, 1])),
      "bytes": NumPyArray(bytes: [UInt8](repeating: 9, count: 1000), shape: [10, 100]),
    ]
    for compressed in [false, true] {
      let data = try NumPyArchive.encoded(arrays, compressed: compressed)
      #expect(try NumPyArchive.decode(data) == arrays)
      if compressed { #expect(data.count < 1000) }
    }
    var damaged = [UInt8](try NumPyArchive.encoded(arrays))
    // The first member is "bytes.npy": flip a byte of its data.
    damaged[30 + 9 + 128 + 500] ^= 1
    #expect(
      message { _ = try NumPyArchive.decode(Data(damaged), source: "set.npz") }
        == "fails its checksum: CRC-32 "
        + String(
          Zlib.crc32(
            [UInt8](arrays["bytes"]!.encoded()).enumerated().map {
              $0.offset == 128 + 500 ? $0.element ^ 1 : $0.element
            }), radix: 16)
        + " of 1128 bytes, expected "
        + String(Zlib.crc32([UInt8](arrays["bytes"]!.encoded())), radix: 16) + " of 1128")
    #expect(
      message { _ = try NumPyArchive.decode(Data([1, 2, 3, 4])) }
        == "expected a .npz (zip) archive, found no zip end record (the file starts 01 02 03 04)")
  }

  /// A `.npz` written by `numpy.savez_compressed(f, a=np.arange(3,
  /// dtype=np.int64), b=np.eye(2, dtype=np.float32))` (NumPy 2; each
  /// member carries a zip64 extra field) reads back.
  @Test func readsAnArchiveNumPyWrote() throws {
    let data = Data(base64Encoded: Self.numPyArchive)!
    let arrays = try NumPyArchive.decode(data)
    #expect(try arrays["a"]?.indexTensor() == IndexTensor([0, 1, 2]))
    #expect(arrays["b"]?.tensor(of: Float.self).scalars == [1, 0, 0, 1])
    #expect(arrays["b"]?.shape == [2, 2])
  }

  static let numPyArchive =
    "UEsDBC0AAAAIAAAAIQD3QBLq//////////8FABQAYS5ucHkBABAAmAAAAAAAAABMAAAAAAAAAJvsF+obEMnIUMZQrZ6S"
    + "WpxcpG6loG6TaaGuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GsY6mjoKtQoUAC4GKGCE0kxQGgBQSwMELQAA"
    + "AAgAAAAhAMHGozz//////////wUAFABiLm5weQEAEACQAAAAAAAAAE8AAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWg"
    + "bpNmoq6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkaRjoKRpo6CrUKZAMuBoYGewY4aLAHAFBLAQItAy0AAAAI"
    + "AAAAIQD3QBLqTAAAAJgAAAAFAAAAAAAAAAAAAACAAQAAAABhLm5weVBLAQItAy0AAAAIAAAAIQDBxqM8TwAAAJAAAAAF"
    + "AAAAAAAAAAAAAACAAYMAAABiLm5weVBLBQYAAAAAAgACAGYAAAAJAQAAAAA="

  /// Mutated `.npy` and `.npz` bytes either parse or throw a `DataError`.
  @Test func mutatedFilesParseOrThrow() throws {
    let array = NumPyArray(Tensor<Float>(shape: [3, 5], scalars: (0..<15).map { Float($0) }))
    let inputs = [
      [UInt8](array.encoded()),
      [UInt8](try NumPyArchive.encoded(["x": array], compressed: false)),
      [UInt8](try NumPyArchive.encoded(["x": array], compressed: true)),
    ]
    var generator = SeededGenerator(seed: 24)
    for (which, input) in inputs.enumerated() {
      for _ in 0..<700 {
        var bytes = input
        for _ in 0...Int(generator.next() % 4) {
          let index = Int(generator.next() % UInt64(bytes.count))
          switch generator.next() % 3 {
          case 0: bytes[index] = UInt8(truncatingIfNeeded: generator.next())
          case 1: bytes = Array(bytes.prefix(index))
          default: bytes[index] ^= 0xFF
          }
          if bytes.isEmpty { break }
        }
        do {
          if which == 0 {
            _ = try NumPyArray.decode(Data(bytes))
          } else {
            _ = try NumPyArchive.decode(Data(bytes))
          }
        } catch is DataError {}
      }
    }
  }

  /// The `npy` data set's files: wrong ranks, types, counts, labels and
  /// pixels each get a line naming the file.
  @Test func theDataSetRefusesBadArraysInOneLine() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let images = folder.appendingPathComponent("train_images.npy")
    let labels = folder.appendingPathComponent("train_labels.npy")
    func failure(_ imageArray: NumPyArray, _ labelArray: NumPyArray) throws -> String {
      try imageArray.write(to: images)
      try labelArray.write(to: labels)
      do {
        _ = try DatasetName.npy.load(split: .train, directory: folder)
        return "loaded"
      } catch let error as DataError {
        return error.description
      }
    }
    let good = NumPyArray(bytes: [UInt8](repeating: 0, count: 2 * 4 * 4), shape: [2, 4, 4])
    let twoLabels = NumPyArray(IndexTensor([1, 2]))
    #expect(try failure(good, twoLabels) == "loaded")
    let loaded = try DatasetName.npy.load(split: .train, directory: folder)
    #expect(loaded.images.shape == [2, 1, 4, 4])
    #expect(loaded.labels == [1, 2])
    #expect(
      try failure(NumPyArray(bytes: [0, 0], shape: [2]), twoLabels)
        == "\(images.path): expected images [N, H, W] or [N, C, H, W], found shape (2,)")
    #expect(
      try failure(good, NumPyArray(IndexTensor([1, 2, 3])))
        == "\(labels.path): holds 3 labels but \(images.path) holds 2 images")
    #expect(
      try failure(good, NumPyArray(IndexTensor([1, 10])))
        == "\(labels.path): label 10 at index 1 is outside 0...9")
    #expect(
      try failure(good, NumPyArray(IndexTensor(shape: [2, 1], scalars: [1, 2])))
        == "\(labels.path): expected labels [N], found shape (2, 1)")
    #expect(
      try failure(good, NumPyArray(Tensor<Float>([1, 2])))
        == "\(labels.path): expected uint8 or int64 labels, found float32; convert with "
        + "labels.astype('int64')")
    var pixels = [Float](repeating: 0.5, count: 2 * 3 * 2 * 2)
    pixels[17] = .nan
    #expect(
      try failure(NumPyArray(Tensor<Float>(shape: [2, 3, 2, 2], scalars: pixels)), twoLabels)
        == "\(images.path): pixel 5 of image 1 is nan, expected finite values (raw pixels "
        + "scaled to [0, 1])")
    #expect(
      try failure(
        NumPyArray(Tensor<Double>(shape: [2, 2, 2], scalars: Array(repeating: 0, count: 8))),
        twoLabels)
        == "\(images.path): expected uint8 or float32 images, found float64; convert with "
        + "images.astype('float32') (pixels scaled to [0, 1]) or images.astype('uint8')")
    try good.write(to: images)
    try FileManager.default.removeItem(at: labels)
    #expect(throws: DataError.fileNotFound(path: labels.path)) {
      _ = try DatasetName.npy.load(split: .train, directory: folder)
    }
  }

  /// Fashion-MNIST written as `.npy` (the first 1,000 training images as
  /// uint8 [N, H, W], the whole test set as float32 [N, 1, H, W]) trains,
  /// on its first 192 images for one epoch, to the same checkpoint tensors
  /// and normalization as its IDX files, and `evaluate --predictions`
  /// writes the test set's logits in order.
  @Test func numPyFilesTrainToTheSameCheckpointAsIDXFiles() throws {
    let fashion = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("../../../shared/data/fashion-mnist").standardizedFileURL
    let (arrays, idxRun, npyRun) = (
      try temporaryFolder(), try temporaryFolder(), try temporaryFolder()
    )
    defer {
      for folder in [arrays, idxRun, npyRun] { try? FileManager.default.removeItem(at: folder) }
    }
    let train = try MNIST.load(directory: fashion, split: .train).prefix(1000)
    let test = try MNIST.load(directory: fashion, split: .test)
    let pixels = train.images.scalars.map { UInt8(($0 * 255).rounded()) }
    try NumPyArray(bytes: pixels, shape: [train.count, 28, 28])
      .write(to: arrays.appendingPathComponent("train_images.npy"))
    try NumPyArray(bytes: train.labels.map(UInt8.init), shape: [train.count])
      .write(to: arrays.appendingPathComponent("train_labels.npy"))
    try test.images.writeNumPy(to: arrays.appendingPathComponent("test_images.npy"))
    try IndexTensor(test.labels).writeNumPy(to: arrays.appendingPathComponent("test_labels.npy"))

    let common = [
      "--limit", "192", "--batch-size", "32", "--epochs", "1", "--seed", "3", "--threads", "2",
    ]
    #expect(
      try TrainCommand().run(
        common + ["--dataset", "fashion-mnist", "--data", fashion.path, "--out", idxRun.path]) == 0)
    #expect(
      try TrainCommand().run(
        common + ["--dataset", "npy", "--data", arrays.path, "--out", npyRun.path]) == 0)
    let idxCheckpoint = idxRun.appendingPathComponent("checkpoint.safetensors")
    let npyCheckpoint = npyRun.appendingPathComponent("checkpoint.safetensors")
    let expected = try Checkpoint.load(from: idxCheckpoint)
    let found = try Checkpoint.load(from: npyCheckpoint)
    #expect(expected.keys.sorted() == found.keys.sorted())
    for (name, tensor) in expected {
      #expect(found[name]?.scalars.map(\.bitPattern) == tensor.scalars.map(\.bitPattern), "\(name)")
    }
    let (idxMetadata, npyMetadata) = (
      try Checkpoint.loadMetadata(from: idxCheckpoint),
      try Checkpoint.loadMetadata(from: npyCheckpoint)
    )
    func normalization(_ metadata: [String: String]) throws -> ChannelStatistics {
      try JSONDecoder().decode(
        ChannelStatistics.self, from: Data(metadata["cortex.normalization", default: ""].utf8))
    }
    #expect(try normalization(npyMetadata) == normalization(idxMetadata))
    #expect(npyMetadata["cortex.dataset"] == "npy")

    let predictions = arrays.appendingPathComponent("predictions.npy")
    #expect(
      try EvaluateCommand().run([npyCheckpoint.path, "--predictions", predictions.path]) == 0)
    let logits = try NumPyArray.read(from: predictions)
    #expect(logits.elementType == .float32)
    #expect(logits.shape == [10_000, 10])
    let run = try TrainingRun.resume(from: npyCheckpoint, train: test, test: test)
    let predicted = logits.tensor(of: Float.self).argmax(alongAxis: 1)
    #expect(
      Evaluation(predictions: predicted, labels: test.labels, classes: 10).correct
        == run.evaluate().correct)
  }

  /// The Interop article's own model, trained on `.npy` files with
  /// `Trainer` and `DataLoader` and exported: here on 256 digits, tested
  /// on the same ones.
  @Test func theArticlesModelTrainsOnNumPyFiles() throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let digits = try MNIST.loadBundled(split: .train).prefix(256)
    let pixels = digits.images.scalars.map { UInt8(($0 * 255).rounded()) }
    for name in ["train", "test"] {
      try NumPyArray(bytes: pixels, shape: [256, 28, 28])
        .write(to: folder.appendingPathComponent("\(name)_images.npy"))
      try IndexTensor(digits.labels).writeNumPy(
        to: folder.appendingPathComponent("\(name)_labels.npy"))
    }

    func file(_ name: String) -> URL { folder.appendingPathComponent("\(name).npy") }
    let images =
      try Tensor<Float>(numPyFile: file("train_images")).reshaped(to: [-1, 1, 28, 28]) / 255
    let labels = try IndexTensor(numPyFile: file("train_labels"))
    let testImages =
      try Tensor<Float>(numPyFile: file("test_images")).reshaped(to: [-1, 1, 28, 28]) / 255
    let testLabels = try IndexTensor(numPyFile: file("test_labels"))

    let model = try withRandomSeed(3) {
      try Sequential<Float> {
        try Conv2D<Float>(inputChannels: 1, outputChannels: 16, filterSize: 3, padding: 1)
        ReLU<Float>()
        try MaxPool2D<Float>(size: 2)
        Flatten<Float>()
        try Dense<Float>(inputSize: 16 * 14 * 14, outputSize: 10)
      }
    }
    let trainer = Trainer(model: model, optimizer: Adam<Float>(learningRate: 1e-3))
    for epoch in 0..<3 {
      let loader = DataLoader(
        tensors: [images], indexTensors: [labels], batchSize: 64, shuffleSeed: UInt64(epoch),
        dropLast: true)
      for batch in loader {
        trainer.step(inputs: batch.tensors[0], labels: batch.indexTensors[0].scalars)
      }
    }
    let evaluation = trainer.evaluate(testImages, labels: testLabels.scalars, classes: 10)
    // Chance is 10%; three epochs of four steps on these digits do far better.
    #expect(evaluation.accuracy > 0.5)
    let file = folder.appendingPathComponent("mine.onnx")
    try model.exportONNX(inputShape: [1, 28, 28], to: file)
    #expect(try Data(contentsOf: file).count > 4 * 16 * 14 * 14 * 10)
  }
}
