import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// The bundled MNIST files, loaded once for all tests.
private let bundledTrain = Result { try MNIST.loadBundled(split: .train) }
private let bundledTest = Result { try MNIST.loadBundled(split: .test) }

@Suite struct DataMNISTBundledTests {
  @Test func trainingSet() throws {
    let train = try bundledTrain.get()
    #expect(train.count == 60_000)
    #expect(train.images.shape == [60_000, 1, 28, 28])
    #expect(train.labels.prefix(10) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    let histogram = (0..<10).map { digit in train.labels.count { $0 == digit } }
    #expect(histogram == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    train.images.withUnsafeBufferPointer { pixels in
      #expect(pixels.min() == 0)
      #expect(pixels.max() == 1)
      // The first image's raw bytes sum to 27,525.
      let firstSum = pixels[0..<784].reduce(0) { $0 + Int(($1 * 255).rounded()) }
      #expect(firstSum == 27_525)
    }
  }

  @Test func testSet() throws {
    let test = try bundledTest.get()
    #expect(test.count == 10_000)
    #expect(test.images.shape == [10_000, 1, 28, 28])
    #expect(test.labels.prefix(10) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    let histogram = (0..<10).map { digit in test.labels.count { $0 == digit } }
    #expect(histogram == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    test.images.withUnsafeBufferPointer { pixels in
      #expect(pixels.min() == 0)
      #expect(pixels.max() == 1)
      let firstSum = pixels[0..<784].reduce(0) { $0 + Int(($1 * 255).rounded()) }
      #expect(firstSum == 18_454)
    }
    // All 7,840,000 bytes sum to 264,923,200: mean 0.132515, std 0.310480.
    let statistics = test.channelStatistics()
    #expect(Swift.abs(statistics.mean[0] - 264_923_200 / 255 / 7_840_000) < 1e-6)
    #expect(Swift.abs(statistics.standardDeviation[0] - 0.310_480) < 1e-5)
  }

  @Test func bundledDirectoryHoldsTheFourFiles() throws {
    let names = try FileManager.default.contentsOfDirectory(atPath: MNIST.bundledDirectory.path)
    #expect(
      names.sorted() == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
      ])
  }
}

@Suite struct DataIDXTests {
  typealias Support = DataTestSupport

  /// Three 4×5 images with pixel values 0, 4, 8, ... and their labels.
  let pixels = (0..<60).map { UInt8($0 * 4) }
  let labels: [UInt8] = [3, 0, 9]
  var imagesFile: [UInt8] { Support.idx(magic: 0x803, sizes: [3, 4, 5], payload: pixels) }
  var labelsFile: [UInt8] { Support.idx(magic: 0x801, sizes: [3], payload: labels) }

  func expectContents(_ dataset: Dataset) {
    #expect(dataset.images.shape == [3, 1, 4, 5])
    #expect(dataset.images.scalars == pixels.map { Float($0) / 255 })
    #expect(dataset.labels == [3, 0, 9])
  }

  @Test(arguments: [false, true])
  func roundTripThroughFiles(compressed: Bool) throws {
    let directory = try Support.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let suffix = compressed ? ".gz" : ""
    let encode = { (bytes: [UInt8]) in compressed ? Support.gzip(bytes) : bytes }
    try Data(encode(imagesFile)).write(
      to: directory.appendingPathComponent("t10k-images-idx3-ubyte" + suffix))
    try Data(encode(labelsFile)).write(
      to: directory.appendingPathComponent("t10k-labels-idx1-ubyte" + suffix))
    expectContents(try MNIST.load(directory: directory, split: .test))
  }

  @Test func decodesFromMemoryRawAndCompressed() throws {
    for encode in [{ $0 }, Support.gzip] as [([UInt8]) -> [UInt8]] {
      let images = try MNIST.decodeImages(Data(encode(imagesFile)))
      let labels = try MNIST.decodeLabels(Data(encode(labelsFile)))
      expectContents(try MNIST.dataset(images: images, labels: labels))
    }
  }

  @Test func multiMemberGzipIsReadWhole() throws {
    let half = imagesFile.count / 2
    let twoMembers =
      Support.gzip(Array(imagesFile[..<half])) + Support.gzip(Array(imagesFile[half...]))
    #expect(try MNIST.decodeImages(Data(twoMembers)).scalars == pixels.map { Float($0) / 255 })
  }

  @Test func badMagicNumber() {
    #expect(
      Support.dataError { _ = try MNIST.decodeImages(Data(labelsFile), source: "images") }
        == "images: expected IDX magic 0x00000803 (unsigned bytes, 3 dimensions), "
        + "found 0x00000801 (unsigned bytes, 1 dimension)")
    let notIDX = [0x12, 0x34, 0xAB, 0xCD] + imagesFile.dropFirst(4)
    #expect(
      Support.dataError { _ = try MNIST.decodeImages(Data(notIDX), source: "images") }
        == "images: expected IDX magic 0x00000803 (unsigned bytes, 3 dimensions), found 0x1234ABCD")
  }

  @Test func wrongNumberOfDimensions() {
    let twoDimensions = Support.idx(magic: 0x802, sizes: [3, 20], payload: pixels)
    #expect(
      Support.dataError { _ = try MNIST.decodeImages(Data(twoDimensions), source: "images") }
        == "images: expected IDX magic 0x00000803 (unsigned bytes, 3 dimensions), "
        + "found 0x00000802 (unsigned bytes, 2 dimensions)")
    let emptyRows = Support.idx(magic: 0x803, sizes: [3, 0, 5], payload: [])
    #expect(
      Support.dataError { _ = try MNIST.decodeImages(Data(emptyRows), source: "images") }
        == "images: declares images of 0×5 pixels, expected at least 1×1")
  }

  @Test func truncatedFiles() {
    #expect(
      Support.dataError { _ = try MNIST.decodeImages(Data(), source: "images") }
        == "images: holds 0 bytes, expected an IDX file starting with a 4-byte magic number")
    #expect(
      Support.dataError { _ = try MNIST.decodeImages(Data(imagesFile[..<10]), source: "images") }
        == "images: header ends after 10 bytes, expected 16 (magic number and 3 dimension sizes)")
    #expect(
      Support.dataError {
        _ = try MNIST.decodeImages(Data(imagesFile.dropLast()), source: "images")
      }
        == "images: header declares dimensions [3, 4, 5] (60 bytes of data) but only 59 bytes "
        + "follow the 16-byte header")
    let compressed = Support.gzip(imagesFile)
    #expect(
      Support.dataError {
        _ = try MNIST.decodeImages(Data(compressed.dropLast(12)), source: "images.gz")
      } == "images.gz: gzip data is truncated")
  }

  @Test func trailingBytes() {
    #expect(
      Support.dataError { _ = try MNIST.decodeImages(Data(imagesFile + [1, 2]), source: "images") }
        == "images: holds 2 bytes after the 60 bytes of data its header declares "
        + "(dimensions [3, 4, 5])")
    #expect(
      Support.dataError {
        _ = try MNIST.decodeImages(Data(Support.gzip(imagesFile + [7])), source: "images.gz")
      }
        == "images.gz: holds 1 byte after the 60 bytes of data its header declares "
        + "(dimensions [3, 4, 5])")
  }

  @Test func corruptGzip() {
    var compressed = Support.gzip(imagesFile)
    compressed[compressed.count - 8] ^= 0xFF  // the CRC-32 of the trailer
    #expect(
      Support.dataError { _ = try MNIST.decodeImages(Data(compressed), source: "images.gz") }
        == "images.gz: corrupt gzip data: incorrect data check")
  }

  @Test func hugeDeclaredSizesAllocateNothing() {
    let huge = Support.idx(magic: 0x803, sizes: [.max, .max, .max], payload: pixels)
    #expect(
      Support.dataError { _ = try MNIST.decodeImages(Data(huge), source: "images") }
        == "images: header declares dimensions [4294967295, 4294967295, 4294967295], more than "
        + "the limit of 2147483648 bytes")
    let large = Support.idx(magic: 0x803, sizes: [1000, 1000, 1000], payload: pixels)
    #expect(
      Support.dataError { _ = try MNIST.decodeImages(Data(large), source: "images") }
        == "images: header declares dimensions [1000, 1000, 1000] (1000000000 bytes of data) "
        + "but only 60 bytes follow the 16-byte header")
    let compressed = Support.gzip(large)
    #expect(
      Support.dataError { _ = try MNIST.decodeImages(Data(compressed), source: "images.gz") }
        == "images.gz: header declares dimensions [1000, 1000, 1000] (1000000000 bytes of data), "
        + "more than \(compressed.count) bytes of gzip data can hold")
  }

  @Test func labelOutOfRange() {
    let bad = Support.idx(magic: 0x801, sizes: [3], payload: [3, 10, 9])
    #expect(
      Support.dataError { _ = try MNIST.decodeLabels(Data(bad), source: "labels") }
        == "labels: label 10 at index 1 is outside 0...9")
  }

  @Test func countMismatch() throws {
    let directory = try Support.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let images = directory.appendingPathComponent("train-images-idx3-ubyte")
    let labels = directory.appendingPathComponent("train-labels-idx1-ubyte")
    try Data(imagesFile).write(to: images)
    try Data(Support.idx(magic: 0x801, sizes: [2], payload: [1, 2])).write(to: labels)
    #expect(
      Support.dataError { _ = try MNIST.load(directory: directory, split: .train) }
        == "\(labels.path): holds 2 labels but \(images.path) holds 3 images")
  }

  @Test func missingFile() throws {
    let directory = try Support.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let expected = directory.appendingPathComponent("train-images-idx3-ubyte.gz").path
    #expect(
      Support.dataError { _ = try MNIST.load(directory: directory, split: .train) }
        == "\(expected): file not found")
  }
}
