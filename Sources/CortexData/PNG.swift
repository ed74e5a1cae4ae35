import CortexCore
import Foundation

/// An 8-bit image, grayscale or RGB, that Cortex writes as PNG: a digit,
/// a grid of first-layer filters, a set of activation maps.
public struct Image: Equatable, Sendable {
  /// How pixels are stored.
  public enum Format: Sendable {
    /// One byte per pixel.
    case grayscale
    /// Three bytes per pixel: red, green, blue.
    case rgb

    /// Bytes per pixel.
    public var channels: Int { self == .grayscale ? 1 : 3 }
  }

  /// Width in pixels.
  public let width: Int
  /// Height in pixels.
  public let height: Int
  /// Grayscale or RGB.
  public let format: Format
  /// The pixels row by row, top to bottom, channels interleaved:
  /// `width * height * format.channels` bytes.
  public var pixels: [UInt8]

  /// An image of the given size and pixels.
  ///
  /// - Precondition: the size is between 1 and 2³¹ − 1 pixels each way
  ///   (what PNG allows) and `pixels` holds exactly one value per pixel
  ///   and channel.
  public init(width: Int, height: Int, format: Format, pixels: [UInt8]) {
    precondition(
      (1...Int(Int32.max)).contains(width) && (1...Int(Int32.max)).contains(height),
      "Image: size \(width)×\(height) is outside 1...\(Int32.max) pixels")
    precondition(
      pixels.count == width * height * format.channels,
      "Image: \(width)×\(height) \(format) needs \(width * height * format.channels) bytes, "
        + "found \(pixels.count)")
    self.width = width
    self.height = height
    self.format = format
    self.pixels = pixels
  }

  /// A solid image, every pixel `value` in every channel.
  public init(width: Int, height: Int, format: Format, repeating value: UInt8) {
    self.init(
      width: width, height: height, format: format,
      pixels: [UInt8](repeating: value, count: width * height * format.channels))
  }

  /// The image enlarged `factor` times each way, each pixel becoming a
  /// `factor`×`factor` block (nearest neighbour).
  public func scaled(by factor: Int) -> Image {
    precondition(factor >= 1, "Image.scaled: factor must be at least 1, found \(factor)")
    if factor == 1 { return self }
    let channels = format.channels
    var result = [UInt8]()
    result.reserveCapacity(pixels.count * factor * factor)
    for y in 0..<height * factor {
      let row = (y / factor) * width * channels
      for x in 0..<width * factor {
        let start = row + (x / factor) * channels
        result += pixels[start..<start + channels]
      }
    }
    return Image(width: width * factor, height: height * factor, format: format, pixels: result)
  }

  // MARK: PNG

  /// The image encoded as PNG: 8 bits per channel, no interlacing, every
  /// scanline with filter type 0 (none), the compressed data split into
  /// IDAT chunks of at most 1 MiB.
  public func pngData() -> Data {
    var header = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
    header += [8, format == .grayscale ? 0 : 2, 0, 0, 0]
    let rowLength = width * format.channels
    var scanlines = [UInt8]()
    scanlines.reserveCapacity((rowLength + 1) * height)
    for y in 0..<height {
      scanlines.append(0)
      scanlines += pixels[y * rowLength..<(y + 1) * rowLength]
    }
    var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    png += chunk("IHDR", header)
    let compressed = Zlib.compress(scanlines)
    for start in stride(from: 0, to: compressed.count, by: 1 << 20) {
      png += chunk("IDAT", Array(compressed[start..<min(start + (1 << 20), compressed.count)]))
    }
    png += chunk("IEND", [])
    return Data(png)
  }

  /// Writes the image as a PNG file, atomically.
  ///
  /// - Throws: ``DataError`` when the file cannot be written.
  public func writePNG(to url: URL) throws {
    try DataFile.writeAtomically(pngData(), to: url)
  }

  /// A PNG chunk: length, type, data, and the CRC-32 of type and data.
  private func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
    let body = Array(type.utf8) + data
    return bigEndian(UInt32(data.count)) + body + bigEndian(Zlib.crc32(body))
  }

  private func bigEndian(_ value: UInt32) -> [UInt8] {
    [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) }
  }
}
