import Foundation

/// The labelled image sets `cortex train` can train on by name.
public enum DatasetName: String, CaseIterable, Sendable {
  /// The MNIST handwritten digits, bundled with Cortex.
  case mnist = "mnist"
  /// Zalando's Fashion-MNIST: 28×28 gray images of ten kinds of clothing,
  /// in MNIST's files and format.
  case fashionMNIST = "fashion-mnist"
  /// The user's own labelled images, as NumPy arrays: `train_images.npy`,
  /// `train_labels.npy`, `test_images.npy` and `test_labels.npy` in one
  /// folder (see ``Dataset/numPy(images:labels:classCount:)``).
  case npy = "npy"

  /// The name people know it by, for titles.
  public var title: String {
    switch self {
    case .mnist: return "MNIST"
    case .fashionMNIST: return "Fashion-MNIST"
    case .npy: return "NumPy"
    }
  }

  /// The shape of one image, `[C, H, W]`; `nil` for ``npy``, whose files
  /// tell.
  public var imageShape: [Int]? { self == .npy ? nil : [1, 28, 28] }

  /// The names of a split's images and labels files in ``npy``'s folder:
  /// `train_images.npy` and `train_labels.npy`, or `test_…`.
  public static func numPyFileNames(split: MNIST.Split) -> (images: String, labels: String) {
    ("\(split.rawValue)_images.npy", "\(split.rawValue)_labels.npy")
  }

  /// Where the data lives when no folder is given: the bundled copy for
  /// MNIST; for Fashion-MNIST, the folder Debian's `dataset-fashion-mnist`
  /// package installs it into; for NumPy arrays, the current folder.
  public var defaultDirectory: URL {
    switch self {
    case .mnist: return MNIST.bundledDirectory
    case .fashionMNIST: return URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")
    case .npy: return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }
  }

  /// Loads a split from `directory` (the four standard IDX files, `.gz`
  /// or not; for ``npy``, the four `.npy` files), or from
  /// ``defaultDirectory`` when it is `nil`.
  ///
  /// Every data set comes back the same way: images `[N, C, H, W]` with
  /// pixels in [0, 1], labels 0 to 9, so that one training path serves
  /// them all.
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
    if self == .npy {
      let names = Self.numPyFileNames(split: split)
      return try Dataset.numPy(
        images: folder.appendingPathComponent(names.images),
        labels: folder.appendingPathComponent(names.labels), classCount: MNIST.classCount)
    }
    return try MNIST.load(directory: folder, split: split)
  }
}
