import CortexCore
import Foundation

/// CIFAR-10 (Krizhevsky, 2009): 32×32 color images in 10 classes, read
/// from the binary version of the data set.
///
/// Each batch file is a sequence of 3073-byte records: one label byte,
/// then the 1024 red, 1024 green and 1024 blue pixels of the image, each
/// plane row-major. The training set is `data_batch_1.bin` to
/// `data_batch_5.bin` (10,000 records each), the test set `test_batch.bin`.
public enum CIFAR10 {
  /// The training or the test set.
  public enum Split: String, Sendable, CaseIterable {
    /// 50,000 images in five batch files.
    case train
    /// 10,000 images in one batch file.
    case test

    /// The batch files of the split.
    public var fileNames: [String] {
      self == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
    }
  }

  /// The class names, indexed by label.
  public static let classNames = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
  ]

  /// The side of an image in pixels.
  public static let side = 32
  /// The bytes of one record: a label and 3 planes of 32×32 pixels.
  public static let recordLength = 1 + 3 * 32 * 32
  /// The largest batch file the loader accepts: 2 GiB.
  public static let maximumBytes = 1 << 31

  /// Loads the batch files of a split from `directory`.
  public static func load(directory: URL, split: Split) throws -> Dataset {
    try load(files: split.fileNames.map { directory.appendingPathComponent($0) })
  }

  /// Loads and concatenates batch files, in the order given.
  ///
  /// - Returns: images `[N, 3, 32, 32]` with values in [0, 1]
  ///   (pixel / 255) and their labels, 0 to 9.
  /// - Throws: ``DataError`` when a file is missing or unreadable, empty,
  ///   ends inside a record, or holds a label outside 0...9.
  public static func load(files: [URL]) throws -> Dataset {
    guard !files.isEmpty else {
      throw DataError.invalidArgument(
        path: "CIFAR10.load(files:)", message: "expected at least one batch file, found none")
    }
    let contents = try files.map { url in
      // The size is checked before the file is read.
      let file = try ReadableFile(url, maximumBytes: maximumBytes)
      try checkSize(file.size, source: url.path)
      var data = Data(count: file.size)
      try data.withUnsafeMutableBytes { try file.read(at: 0, into: $0) }
      try validate(data, source: url.path)
      return data
    }
    return assemble(contents)
  }

  /// Parses the records of one batch file held in memory.
  ///
  /// - Parameters:
  ///   - data: the bytes of a `data_batch_N.bin` or `test_batch.bin` file.
  ///   - source: the name used in error messages.
  public static func decode(_ data: Data, source: String = "<memory>") throws -> Dataset {
    try validate(data, source: source)
    return assemble([data])
  }

  /// Checks that `data` is a whole, non-empty number of records with
  /// labels in 0...9.
  private static func validate(_ data: Data, source: String) throws {
    try checkSize(data.count, source: source)
    let records = data.count / recordLength
    try data.withUnsafeBytes { bytes in
      for record in 0..<records {
        let label = bytes[record * recordLength]
        guard label < classNames.count else {
          throw DataError.invalidContent(
            path: source,
            message: "record \(record) has label \(label), expected 0...\(classNames.count - 1)")
        }
      }
    }
  }

  /// Checks that `count` bytes are a whole, non-empty number of records.
  private static func checkSize(_ count: Int, source: String) throws {
    guard count > 0 else {
      throw DataError.invalidContent(
        path: source, message: "holds no records, expected \(recordLength)-byte records")
    }
    let (records, leftover) = count.quotientAndRemainder(dividingBy: recordLength)
    guard leftover == 0 else {
      throw DataError.invalidContent(
        path: source,
        message: "ends inside record \(records): \(leftover) of its \(recordLength) bytes "
          + "are present (file is \(count) bytes)")
    }
  }

  /// The records of validated files, stacked into one dataset.
  private static func assemble(_ contents: [Data]) -> Dataset {
    let total = contents.reduce(0) { $0 + $1.count / recordLength }
    let pixelCount = recordLength - 1
    var images = Tensor<Float>.uninitialized([total, 3, side, side])
    var labels: [Int] = []
    labels.reserveCapacity(total)
    images.withUnsafeMutableBufferPointer { pixels in
      var target = 0
      for data in contents {
        data.withUnsafeBytes { bytes in
          for record in 0..<bytes.count / recordLength {
            let start = record * recordLength
            labels.append(Int(bytes[start]))
            for i in 0..<pixelCount {
              pixels[target + i] = Float(bytes[start + 1 + i]) / 255
            }
            target += pixelCount
          }
        }
      }
    }
    return Dataset(images: images, labels: labels)
  }
}
