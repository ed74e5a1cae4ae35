import CortexCore
import Foundation

extension Dataset {
  /// Labelled images from two `.npy` files, as ``DatasetName/npy`` reads
  /// them.
  ///
  /// The images are `[N, H, W]` (one channel) or `[N, C, H, W]`, either
  /// `uint8` pixels, scaled to [0, 1] by dividing by 255 exactly as the
  /// MNIST reader does, or `float32` values taken as they are (raw pixels
  /// scaled to [0, 1], the input an exported model expects). The labels
  /// are `[N]`, `uint8` or `int64`, each in `0..<classCount`.
  ///
  /// - Returns: images `[N, C, H, W]` and their labels.
  /// - Throws: ``DataError`` naming the file: a missing file, an array of
  ///   the wrong rank or element type, a NaN or infinite pixel, a label out
  ///   of range, or label and image counts that differ.
  public static func numPy(images imagesURL: URL, labels labelsURL: URL, classCount: Int = 10)
    throws -> Dataset
  {
    let images = try numPyImages(NumPyArray.read(from: imagesURL), source: imagesURL.path)
    let labels = try numPyLabels(
      NumPyArray.read(from: labelsURL), classCount: classCount, source: labelsURL.path)
    return try MNIST.dataset(
      images: images, labels: labels, imagesSource: imagesURL.path, labelsSource: labelsURL.path)
  }

  /// Images `[N, C, H, W]` in Float from an array of images.
  static func numPyImages(_ array: NumPyArray, source: String) throws -> Tensor<Float> {
    func invalid(_ message: String) -> DataError {
      DataError.invalidContent(path: source, message: message)
    }
    let shape = array.shape
    guard shape.count == 3 || shape.count == 4 else {
      throw invalid(
        "expected images [N, H, W] or [N, C, H, W], found shape \(NumPyArray.tuple(shape))")
    }
    let imageShape = shape.count == 3 ? [1] + shape.dropFirst() : Array(shape.dropFirst())
    guard imageShape.allSatisfy({ $0 > 0 }) else {
      throw invalid(
        "expected images of at least 1×1 pixels and one channel, found shape "
          + NumPyArray.tuple(shape))
    }
    switch array.elementType {
    case .uint8:
      var images = Tensor<Float>.uninitialized([shape[0]] + imageShape)
      images.withUnsafeMutableBufferPointer { pixels in
        array.data.withUnsafeBufferPointer { bytes in
          for i in 0..<bytes.count { pixels[i] = Float(bytes[i]) / 255 }
        }
      }
      return images
    case .float32:
      let values = array.floats()
      if let index = values.firstIndex(where: { !$0.isFinite }) {
        let imageLength = imageShape.reduce(1, *)
        throw invalid(
          "pixel \(index % imageLength) of image \(index / imageLength) is \(values[index]), "
            + "expected finite values (raw pixels scaled to [0, 1])")
      }
      return Tensor(shape: [shape[0]] + imageShape, scalars: values)
    case .float64, .int64:
      throw invalid(
        "expected uint8 or float32 images, found \(array.elementType.rawValue); convert with "
          + "images.astype('float32') (pixels scaled to [0, 1]) or images.astype('uint8')")
    }
  }

  /// Labels in `0..<classCount` from an array of labels.
  static func numPyLabels(_ array: NumPyArray, classCount: Int, source: String) throws -> [Int] {
    func invalid(_ message: String) -> DataError {
      DataError.invalidContent(path: source, message: message)
    }
    guard array.shape.count == 1 else {
      throw invalid("expected labels [N], found shape \(NumPyArray.tuple(array.shape))")
    }
    guard array.elementType.isInteger else {
      throw invalid(
        "expected uint8 or int64 labels, found \(array.elementType.rawValue); convert with "
          + "labels.astype('int64')")
    }
    let labels = try array.indexTensor().scalars
    if let index = labels.firstIndex(where: { !(0..<classCount).contains($0) }) {
      throw invalid("label \(labels[index]) at index \(index) is outside 0...\(classCount - 1)")
    }
    return labels
  }
}
