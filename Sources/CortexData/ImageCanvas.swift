/// Composing grayscale pictures: pasting one image into another, a
/// gray-scale bar and numbers written in a 3×5 pixel font, for the legends
/// of `cortex train`'s pictures.
extension Image {
  /// This image with `other` pasted so that its top-left corner lands at
  /// (`x`, `y`); the parts outside this image are cut off.
  ///
  /// - Precondition: both images have the same format.
  public func pasting(_ other: Image, x: Int, y: Int) -> Image {
    precondition(
      other.format == format, "Image.pasting: a \(other.format) image into a \(format) one")
    var result = self
    let channels = format.channels
    for row in 0..<other.height where (0..<height).contains(y + row) {
      for column in 0..<other.width where (0..<width).contains(x + column) {
        let target = ((y + row) * width + x + column) * channels
        let source = (row * other.width + column) * channels
        result.pixels[target..<target + channels] = other.pixels[source..<source + channels]
      }
    }
    return result
  }

  /// A grayscale bar `width`×`height` running from black on the left to
  /// white on the right: the legend of a gray scale.
  public static func grayRamp(width: Int, height: Int) -> Image {
    let row = (0..<width).map { byte(Double($0) / Double(Swift.max(width - 1, 1))) }
    return Image(
      width: width, height: height, format: .grayscale,
      pixels: Array((0..<height).map { _ in row }.joined()))
  }

  /// `text` in black on white in a 3×5 pixel font enlarged `scale` times,
  /// one blank column between characters. The font has the digits and
  /// `+ - . e %`; other characters are drawn as blanks.
  public static func label(_ text: String, scale: Int = 2) -> Image {
    let characters = Array(text)
    let width = Swift.max(1, characters.count * 4 - 1)
    var pixels = [UInt8](repeating: borderValue, count: width * 5)
    for (index, character) in characters.enumerated() {
      let rows = glyphs[character] ?? [0, 0, 0, 0, 0]
      for (y, bits) in rows.enumerated() {
        for x in 0..<3 where bits & (4 >> x) != 0 { pixels[y * width + index * 4 + x] = 0 }
      }
    }
    return Image(width: width, height: 5, format: .grayscale, pixels: pixels).scaled(by: scale)
  }

  /// Each glyph's five rows, top first; bit 2 is the left column.
  private static let glyphs: [Character: [UInt8]] = [
    "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7],
    "4": [5, 5, 7, 1, 1], "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 1, 1],
    "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7], "+": [0, 2, 7, 2, 0], "-": [0, 0, 7, 0, 0],
    ".": [0, 0, 0, 0, 2], "e": [0, 7, 7, 4, 7], "%": [5, 1, 2, 4, 5],
  ]
}
