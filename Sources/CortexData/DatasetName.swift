import Foundation

/// The labelled image sets `cortex train` can train on by name.
public enum DatasetName: String, CaseIterable, Sendable {
  /// The MNIST handwritten digits, bundled with Cortex.
  case mnist = "mnist"
  /// Zalando's Fashion-MNIST: 28×28 gray images of ten kinds of clothing,
  /// in MNIST's files and format.
  case fashionMNIST = "fashion-mnist"

  /// The name people know it by, for titles.
  public var title: String {
    switch self {
    case .mnist: return "MNIST"
    case .fashionMNIST: return "Fashion-MNIST"
    }
  }

  /// The shape of one image, `[C, H, W]`.
  public var imageShape: [Int] { [1, 28, 28] }

  /// Where the data lives when no folder is given: the bundled copy for
  /// MNIST; for Fashion-MNIST, the folder Debian's `dataset-fashion-mnist`
  /// package installs it into.
  public var defaultDirectory: URL {
    switch self {
    case .mnist: return MNIST.bundledDirectory
    case .fashionMNIST: return URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")
    }
  }

  /// Loads a split from `directory` (the four standard IDX files, `.gz`
  /// or not), or from ``defaultDirectory`` when it is `nil`.
  ///
  /// - Throws: ``DataError`` for missing or malformed files; for a
  ///   Fashion-MNIST that is not installed, one that says how to install it.
  public func load(split: MNIST.Split, directory: URL? = nil) throws -> Dataset {
    let folder = directory ?? defaultDirectory
    if directory == nil, self == .fashionMNIST,
      !FileManager.default.fileExists(atPath: folder.path)
    {
      throw DataError.ioFailure(
        path: folder.path,
        message: "Fashion-MNIST is not installed; run `apt-get install dataset-fashion-mnist` "
          + "or pass --data DIR with its four IDX files")
    }
    return try MNIST.load(directory: folder, split: split)
  }
}
