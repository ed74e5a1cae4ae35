import CortexCore

/// Grids of small images: first-layer filters, activation maps, examples.
///
/// Tiles are laid out left to right, top to bottom, each enlarged by
/// nearest neighbour and framed by a 1-pixel white border (unused cells of
/// the last row are white too). Values that are not finite are drawn as
/// the low end of the range (NaN) or clamped (infinities).
extension Image {
  /// The border and background value.
  static let borderValue: UInt8 = 255

  /// First-layer filters `[K, C, F, F]`, each normalized to the full
  /// 0...255 range by its own minimum and maximum, or all by one `range`
  /// (its low end black, its high end white) so that one legend reads
  /// every tile.
  ///
  /// Three-channel filters are drawn in color, one tile each; one-channel
  /// filters in gray. Filters with another number of channels are drawn
  /// one row per filter, one gray tile per channel.
  ///
  /// - Parameters:
  ///   - filters: `[K, C, F, F]`.
  ///   - scale: how many times each filter pixel is enlarged.
  ///   - columns: tiles per row; by default a near-square grid.
  ///   - range: the values drawn black and white; each filter's own
  ///     minimum and maximum when `nil`.
  public static func filterGrid<Scalar: TensorScalar>(
    _ filters: Tensor<Scalar>, scale: Int = 4, columns: Int? = nil,
    range: ClosedRange<Double>? = nil
  ) -> Image {
    precondition(
      filters.rank == 4,
      "Image.filterGrid: expected filters [K, C, F, F], found shape \(filters.shape)")
    let (count, channels) = (filters.shape[0], filters.shape[1])
    let (height, width) = (filters.shape[2], filters.shape[3])
    let perFilter = channels * height * width
    let bytes = filters.withUnsafeBufferPointer { values in
      (0..<count).map { k in
        let filter = values[k * perFilter..<(k + 1) * perFilter]
        guard let range, range.upperBound > range.lowerBound else {
          return normalizedBytes(filter)
        }
        let width = range.upperBound - range.lowerBound
        return filter.map { byte((Double($0) - range.lowerBound) / width) }
      }
    }
    let plane = height * width
    switch channels {
    case 1, 3:
      let format: Format = channels == 1 ? .grayscale : .rgb
      let tiles = bytes.map { interleaved($0, channels: channels, plane: plane) }
      return layout(
        tiles, width: width, height: height, format: format, scale: scale, columns: columns)
    default:
      let tiles = bytes.flatMap { filter in
        (0..<channels).map { Array(filter[$0 * plane..<($0 + 1) * plane]) }
      }
      return layout(
        tiles, width: width, height: height, format: .grayscale, scale: scale, columns: channels)
    }
  }

  /// Activation maps `[C, H, W]` as gray tiles, each normalized to the
  /// full 0...255 range by its own minimum and maximum.
  ///
  /// - Parameters:
  ///   - maps: `[C, H, W]`.
  ///   - scale: how many times each activation is enlarged.
  ///   - columns: tiles per row; by default a near-square grid.
  public static func activationGrid<Scalar: TensorScalar>(
    _ maps: Tensor<Scalar>, scale: Int = 2, columns: Int? = nil
  ) -> Image {
    precondition(
      maps.rank == 3,
      "Image.activationGrid: expected activation maps [C, H, W], found shape \(maps.shape)")
    let (height, width) = (maps.shape[1], maps.shape[2])
    let plane = height * width
    let tiles = maps.withUnsafeBufferPointer { values in
      (0..<maps.shape[0]).map { c in normalizedBytes(values[c * plane..<(c + 1) * plane]) }
    }
    return layout(
      tiles, width: width, height: height, format: .grayscale, scale: scale, columns: columns)
  }

  /// Images `[N, C, H, W]` with one or three channels and values in
  /// [0, 1] (as the loaders return them), without normalization: values
  /// outside [0, 1] are clamped.
  ///
  /// - Parameters:
  ///   - images: `[N, C, H, W]`.
  ///   - scale: how many times each pixel is enlarged.
  ///   - columns: tiles per row; by default a near-square grid.
  public static func grid<Scalar: TensorScalar>(
    _ images: Tensor<Scalar>, scale: Int = 1, columns: Int? = nil
  ) -> Image {
    precondition(
      images.rank == 4 && (images.shape[1] == 1 || images.shape[1] == 3),
      "Image.grid: expected images [N, C, H, W] with C 1 or 3, found shape \(images.shape)")
    let (count, channels) = (images.shape[0], images.shape[1])
    let plane = images.shape[2] * images.shape[3]
    let perImage = channels * plane
    let tiles = images.withUnsafeBufferPointer { values in
      (0..<count).map { n in
        let bytes = values[n * perImage..<(n + 1) * perImage].map { byte(Double($0)) }
        return interleaved(bytes, channels: channels, plane: plane)
      }
    }
    return layout(
      tiles, width: images.shape[3], height: images.shape[2],
      format: channels == 1 ? .grayscale : .rgb, scale: scale, columns: columns)
  }

  /// Tiles of `width`×`height` pixels (interleaved channels) on a white
  /// canvas with 1-pixel borders.
  static func layout(
    _ tiles: [[UInt8]], width: Int, height: Int, format: Format, scale: Int, columns: Int?
  ) -> Image {
    precondition(scale >= 1, "Image grid: scale must be at least 1, found \(scale)")
    let columns = Swift.max(1, columns ?? Int(Double(tiles.count).squareRoot().rounded(.up)))
    let rows = Swift.max(1, (tiles.count + columns - 1) / columns)
    let (cellWidth, cellHeight) = (width * scale + 1, height * scale + 1)
    var canvas = Image(
      width: columns * cellWidth + 1, height: rows * cellHeight + 1, format: format,
      repeating: borderValue)
    let channels = format.channels
    let rowLength = canvas.width * channels
    for (index, tile) in tiles.enumerated() where width > 0 && height > 0 {
      let image = Image(width: width, height: height, format: format, pixels: tile).scaled(
        by: scale)
      let left = (index % columns) * cellWidth + 1
      let top = (index / columns) * cellHeight + 1
      let tileRow = image.width * channels
      for y in 0..<image.height {
        let target = (top + y) * rowLength + left * channels
        canvas.pixels[target..<target + tileRow] = image.pixels[y * tileRow..<(y + 1) * tileRow]
      }
    }
    return canvas
  }

  /// Planar channels `[C, H·W]` to interleaved pixels; one channel is
  /// returned as is.
  static func interleaved(_ planar: [UInt8], channels: Int, plane: Int) -> [UInt8] {
    guard channels > 1 else { return planar }
    var result = [UInt8](repeating: 0, count: planar.count)
    for i in 0..<plane {
      for c in 0..<channels { result[i * channels + c] = planar[c * plane + i] }
    }
    return result
  }

  /// `values` mapped linearly from their finite minimum and maximum to
  /// 0...255; all 0 when they are constant.
  static func normalizedBytes<Scalar: TensorScalar>(_ values: Slice<UnsafeBufferPointer<Scalar>>)
    -> [UInt8]
  {
    var low = Double.infinity
    var high = -Double.infinity
    for value in values where value.isFinite {
      low = Swift.min(low, Double(value))
      high = Swift.max(high, Double(value))
    }
    let range = high - low
    guard range > 0, range.isFinite else { return values.map { _ in 0 } }
    return values.map { byte((Double($0) - low) / range) }
  }

  /// A value in [0, 1] as a byte: rounded, clamped, NaN as 0.
  static func byte(_ unit: Double) -> UInt8 {
    guard !unit.isNaN else { return 0 }
    return UInt8(Swift.min(255, Swift.max(0, (unit * 255).rounded())))
  }
}
