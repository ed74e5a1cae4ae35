import CortexCore
import Foundation

/// The MNIST handwritten digits (LeCun, Cortes and Burges): 60,000
/// training and 10,000 test images of 28×28 gray pixels, labelled 0 to 9.
///
/// The four files ship with Cortex, so `MNIST.loadBundled(split: .train)`
/// works in a fresh clone with no download. Any directory holding files
/// with the standard names, gzip-compressed (`.gz`) or not, loads with
/// ``load(directory:split:)``; Fashion-MNIST uses the same names and format.
public enum MNIST {
  /// The training or the test set.
  public enum Split: String, Sendable, CaseIterable {
    /// 60,000 images, `train-*-ubyte`.
    case train
    /// 10,000 images, `t10k-*-ubyte`.
    case test

    /// The file names without `.gz`: images, then labels.
    public var fileNames: (images: String, labels: String) {
      let prefix = self == .train ? "train" : "t10k"
      return ("\(prefix)-images-idx3-ubyte", "\(prefix)-labels-idx1-ubyte")
    }
  }

  /// The number of classes: the digits 0 to 9.
  public static let classCount = 10

  /// The largest file, or decompressed array, the loader accepts: 2 GiB.
  public static let maximumBytes = 1 << 31

  /// The directory of the MNIST files bundled with Cortex.
  public static var bundledDirectory: URL {
    Bundle.module.url(forResource: "MNIST", withExtension: nil)
      ?? Bundle.module.bundleURL.appendingPathComponent("MNIST")
  }

  /// The bundled training or test set.
  public static func loadBundled(split: Split) throws -> Dataset {
    try load(directory: bundledDirectory, split: split)
  }

  /// Loads a split from `directory`, reading `NAME.gz` when present and
  /// `NAME` otherwise.
  ///
  /// - Returns: images `[N, 1, H, W]` with values in [0, 1] (pixel / 255)
  ///   and their labels, 0 to 9.
  /// - Throws: ``DataError`` when a file is missing, unreadable or not
  ///   what its header declares, when a label is outside 0...9, or when the
  ///   two files disagree on the number of images.
  public static func load(directory: URL, split: Split) throws -> Dataset {
    let imagesURL = try locate(split.fileNames.images, in: directory)
    let labelsURL = try locate(split.fileNames.labels, in: directory)
    let images = try images(
      IDXArray.load(imagesURL, rank: 3, maximumBytes: maximumBytes), source: imagesURL.path)
    let labels = try labels(
      IDXArray.load(labelsURL, rank: 1, maximumBytes: maximumBytes), source: labelsURL.path)
    return try dataset(
      images: images, labels: labels, imagesSource: imagesURL.path, labelsSource: labelsURL.path)
  }

  /// Parses an IDX images file (magic 0x00000803), raw or gzip-compressed.
  ///
  /// - Parameters:
  ///   - data: the file's bytes.
  ///   - source: the name used in error messages.
  /// - Returns: `[N, 1, H, W]` with values in [0, 1].
  public static func decodeImages(_ data: Data, source: String = "<memory>") throws
    -> Tensor<Float>
  {
    try images(
      IDXArray.decode(data, rank: 3, source: source, maximumBytes: maximumBytes), source: source)
  }

  /// The images of a decoded IDX array of rank 3.
  private static func images(_ array: IDXArray, source: String) throws -> Tensor<Float> {
    let (count, rows, columns) = (array.dimensions[0], array.dimensions[1], array.dimensions[2])
    guard rows > 0, columns > 0 else {
      throw DataError.invalidContent(
        path: source,
        message: "declares images of \(rows)×\(columns) pixels, expected at least 1×1")
    }
    var images = Tensor<Float>.uninitialized([count, 1, rows, columns])
    images.withUnsafeMutableBufferPointer { pixels in
      array.bytes.withUnsafeBufferPointer { bytes in
        for i in 0..<bytes.count { pixels[i] = Float(bytes[i]) / 255 }
      }
    }
    return images
  }

  /// Parses an IDX labels file (magic 0x00000801), raw or gzip-compressed.
  ///
  /// - Parameters:
  ///   - data: the file's bytes.
  ///   - source: the name used in error messages.
  /// - Returns: the labels, each in 0...9.
  public static func decodeLabels(_ data: Data, source: String = "<memory>") throws -> [Int] {
    try labels(
      IDXArray.decode(data, rank: 1, source: source, maximumBytes: maximumBytes), source: source)
  }

  /// The labels of a decoded IDX array of rank 1.
  private static func labels(_ array: IDXArray, source: String) throws -> [Int] {
    if let index = array.bytes.firstIndex(where: { Int($0) >= classCount }) {
      throw DataError.invalidContent(
        path: source,
        message: "label \(array.bytes[index]) at index \(index) is outside 0...\(classCount - 1)")
    }
    return array.bytes.map { Int($0) }
  }

  /// Pairs images with labels, checking that their counts agree.
  ///
  /// - Parameters:
  ///   - images: `[N, 1, H, W]`, as ``decodeImages(_:source:)`` returns.
  ///   - labels: `N` labels.
  ///   - imagesSource: the images' name in error messages.
  ///   - labelsSource: the labels' name in error messages.
  public static func dataset(
    images: Tensor<Float>, labels: [Int], imagesSource: String = "<images>",
    labelsSource: String = "<labels>"
  ) throws -> Dataset {
    let imageCount = images.shape.first ?? 0
    guard imageCount == labels.count else {
      throw DataError.invalidContent(
        path: labelsSource,
        message: "holds \(labels.count) labels but \(imagesSource) holds \(imageCount) images")
    }
    return Dataset(images: images, labels: labels)
  }

  /// `directory/NAME.gz` if it exists, else `directory/NAME`.
  private static func locate(_ name: String, in directory: URL) throws -> URL {
    let compressed = directory.appendingPathComponent(name + ".gz")
    let raw = directory.appendingPathComponent(name)
    if FileManager.default.fileExists(atPath: compressed.path) { return compressed }
    if FileManager.default.fileExists(atPath: raw.path) { return raw }
    throw DataError.fileNotFound(path: compressed.path)
  }
}
