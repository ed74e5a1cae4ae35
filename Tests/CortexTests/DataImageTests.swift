import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

#if canImport(FoundationXML)
  import FoundationXML
#endif

@Suite struct DataPNGTests {
  typealias Support = DataTestSupport

  /// The chunks of a PNG file: type and data, after checking the length
  /// fields and recomputing every CRC.
  func chunks(_ png: [UInt8]) throws -> [(type: String, data: [UInt8])] {
    #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    var result: [(String, [UInt8])] = []
    var offset = 8
    func word(_ at: Int) -> UInt32 { png[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
    while offset < png.count {
      try #require(offset + 12 <= png.count)
      let length = Int(word(offset))
      try #require(offset + 12 + length <= png.count)
      let body = Array(png[offset + 4..<offset + 8 + length])
      #expect(word(offset + 8 + length) == Support.crc32(body))
      result.append((String(decoding: body.prefix(4), as: UTF8.self), Array(body.dropFirst(4))))
      offset += 12 + length
    }
    return result
  }

  func scanlines(of png: [UInt8], expectedCount: Int) throws -> [UInt8] {
    let parts = try chunks(png)
    let compressed = parts.filter { $0.type == "IDAT" }.flatMap(\.data)
    return try #require(Support.inflate(zlib: compressed, expectedCount: expectedCount))
  }

  @Test func grayscale() throws {
    let image = Image(width: 3, height: 2, format: .grayscale, pixels: [0, 128, 255, 10, 20, 30])
    let png = [UInt8](image.pngData())
    let parts = try chunks(png)
    #expect(parts.map(\.type) == ["IHDR", "IDAT", "IEND"])
    #expect(parts[0].data == [0, 0, 0, 3, 0, 0, 0, 2, 8, 0, 0, 0, 0])
    #expect(parts[2].data.isEmpty)
    #expect(try scanlines(of: png, expectedCount: 8) == [0, 0, 128, 255, 0, 10, 20, 30])
  }

  @Test func rgb() throws {
    let pixels: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 1, 2, 3]
    let image = Image(width: 2, height: 2, format: .rgb, pixels: pixels)
    let png = [UInt8](image.pngData())
    let parts = try chunks(png)
    #expect(parts[0].data == [0, 0, 0, 2, 0, 0, 0, 2, 8, 2, 0, 0, 0])
    #expect(try scanlines(of: png, expectedCount: 14) == [0] + pixels[0..<6] + [0] + pixels[6...])
  }

  @Test func largeImageSplitsIDAT() throws {
    var generator = SeededGenerator(seed: 3)
    let pixels = (0..<1200 * 1000).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
    let image = Image(width: 1200, height: 1000, format: .grayscale, pixels: pixels)
    let png = [UInt8](image.pngData())
    let idat = try chunks(png).filter { $0.type == "IDAT" }
    #expect(idat.count == 2)
    #expect(idat[0].data.count == 1 << 20)
    let lines = try scanlines(of: png, expectedCount: 1201 * 1000)
    #expect(lines.count == 1201 * 1000)
    #expect(Array(lines[1201..<2402]) == [0] + pixels[1200..<2400])
  }

  @Test func writesAtomically() throws {
    let directory = try Support.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("digit.png")
    let image = Image(width: 2, height: 1, format: .grayscale, pixels: [1, 2])
    try image.writePNG(to: url)
    #expect(try Data(contentsOf: url) == image.pngData())
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["digit.png"])
  }

  @Test func scaledByNearestNeighbour() {
    let image = Image(width: 2, height: 1, format: .rgb, pixels: [1, 2, 3, 4, 5, 6])
    let scaled = image.scaled(by: 2)
    #expect(scaled.width == 4 && scaled.height == 2)
    let row = [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6].map(UInt8.init)
    #expect(scaled.pixels == row + row)
  }
}

@Suite struct DataImageGridTests {
  @Test func grayscaleFiltersNormalizedPerFilter() {
    // Two 1-channel 2×2 filters: 0, 1, 2, 3 and -1, -1, -1, 1.
    let filters = Tensor<Float>(shape: [2, 1, 2, 2], scalars: [0, 1, 2, 3, -1, -1, -1, 1])
    let grid = Image.filterGrid(filters, scale: 2)
    // Two columns of 2·2 + 1 pixels plus the closing border; one row.
    #expect(grid.format == .grayscale)
    #expect(grid.width == 11 && grid.height == 6)
    func pixel(_ x: Int, _ y: Int) -> UInt8 { grid.pixels[y * grid.width + x] }
    #expect((0..<11).allSatisfy { pixel($0, 0) == 255 && pixel($0, 5) == 255 })
    #expect([0, 5, 10].allSatisfy { x in (0..<6).allSatisfy { pixel(x, $0) == 255 } })
    #expect([pixel(1, 1), pixel(2, 2), pixel(3, 1), pixel(4, 2)] == [0, 0, 85, 85])
    #expect([pixel(1, 3), pixel(3, 4)] == [170, 255])
    #expect([pixel(6, 1), pixel(8, 1), pixel(6, 3), pixel(9, 4)] == [0, 0, 0, 255])
  }

  @Test func colorFilters() {
    // One 3-channel 1×2 filter: red plane 0, 1; green 2, 3; blue 4, 5.
    let filters = Tensor<Double>(shape: [1, 3, 1, 2], scalars: [0, 1, 2, 3, 4, 5])
    let grid = Image.filterGrid(filters, scale: 1)
    #expect(grid.format == .rgb)
    #expect(grid.width == 4 && grid.height == 3)
    let row = Array(grid.pixels[(1 * 4 + 1) * 3..<(1 * 4 + 3) * 3])
    #expect(row == [0, 102, 204, 51, 153, 255])
  }

  @Test func manyChannelFiltersDrawOneRowPerFilter() {
    let filters = Tensor<Float>(shape: [2, 4, 1, 1], scalars: [0, 1, 2, 3, 3, 2, 1, 0])
    let grid = Image.filterGrid(filters, scale: 1)
    #expect(grid.width == 4 * 2 + 1 && grid.height == 2 * 2 + 1)
    #expect((0..<4).map { grid.pixels[1 * grid.width + 1 + 2 * $0] } == [0, 85, 170, 255])
    #expect((0..<4).map { grid.pixels[3 * grid.width + 1 + 2 * $0] } == [255, 170, 85, 0])
  }

  @Test func activationMaps() {
    // Three 1×2 maps: a ramp, a constant, and one with NaN and infinity.
    let maps = Tensor<Float>(shape: [3, 1, 2], scalars: [2, 4, 7, 7, .nan, .infinity])
    let grid = Image.activationGrid(maps, scale: 1, columns: 2)
    #expect(grid.width == 2 * 3 + 1 && grid.height == 2 * 2 + 1)
    func pixel(_ x: Int, _ y: Int) -> UInt8 { grid.pixels[y * grid.width + x] }
    #expect([pixel(1, 1), pixel(2, 1)] == [0, 255])
    #expect([pixel(4, 1), pixel(5, 1)] == [0, 0])
    #expect([pixel(1, 3), pixel(2, 3)] == [0, 0])
    #expect([pixel(4, 3), pixel(5, 3)] == [255, 255])
  }

  @Test func examplesInUnitRange() {
    let images = Tensor<Float>(shape: [2, 1, 1, 2], scalars: [0, 1, 0.5, 2])
    let grid = Image.grid(images, columns: 1)
    #expect(grid.width == 4 && grid.height == 5)
    #expect(Array(grid.pixels[5...6]) == [0, 255])
    #expect(Array(grid.pixels[13...14]) == [128, 255])
  }
}

@Suite struct DataLineChartTests {
  let chart = LineChart(
    title: "LeNet-5 <MNIST>", xLabel: "epoch", yLabel: "value",
    series: [
      .init(name: "training loss", values: [2.3, 0.9, 0.4, 0.2, 0.1]),
      .init(name: "test accuracy & more", values: [0.11, 0.8, .nan, 0.97, 0.98]),
    ])

  @Test func containsSeriesAxesAndLegend() {
    let svg = chart.svg()
    #expect(svg.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "))
    #expect(svg.hasSuffix("</svg>\n"))
    #expect(svg.contains("data-name=\"training loss\""))
    #expect(svg.contains(">test accuracy &amp; more</text>"))
    #expect(svg.contains(">LeNet-5 &lt;MNIST&gt;</text>"))
    // y from 0 to 2.5 in steps of 0.5; x from epoch 1 to 5.
    for label in ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5", "1", "2", "3", "4", "5"] {
      #expect(svg.contains(">\(label)</text>"), "missing tick label \(label)")
    }
    // The NaN splits the second line into two pieces.
    let paths = svg.split(separator: "\n").filter { $0.hasPrefix("<path") }
    #expect(paths.count == 2)
    #expect(paths[0].filter { $0 == "M" }.count == 1)
    #expect(paths[1].filter { $0 == "M" }.count == 2)
  }

  #if canImport(FoundationXML) || canImport(Darwin)
    /// Collects element names and text.
    final class Collector: NSObject, XMLParserDelegate {
      var elements: [String] = []
      var texts: [String] = []
      var current = ""

      func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
        qualifiedName: String?, attributes: [String: String] = [:]
      ) {
        elements.append(elementName)
        current = ""
      }

      func parser(_ parser: XMLParser, foundCharacters string: String) { current += string }

      func parser(
        _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
        qualifiedName: String?
      ) {
        if elementName == "text" { texts.append(current) }
      }
    }

    @Test func isWellFormedXML() {
      let parser = XMLParser(data: Data(chart.svg().utf8))
      let collector = Collector()
      parser.delegate = collector
      #expect(parser.parse(), "\(String(describing: parser.parserError))")
      #expect(collector.elements.first == "svg")
      #expect(collector.elements.filter { $0 == "path" }.count == 2)
      #expect(collector.elements.filter { $0 == "circle" }.count == 9)
      #expect(collector.texts.contains("training loss"))
      #expect(collector.texts.contains("test accuracy & more"))
      #expect(collector.texts.contains("LeNet-5 <MNIST>"))
    }
  #endif

  @Test func emptyChartIsStillADrawing() {
    let svg = LineChart(series: []).svg()
    #expect(svg.contains("<svg "))
    #expect(svg.contains(">0.0</text>") && svg.contains(">1.0</text>"))
  }

  @Test func extremeValuesDrawWithoutTrapping() {
    let extremes: [[Double]] = [
      [1e308, -1e308], [.greatestFiniteMagnitude, 0],
      [.leastNonzeroMagnitude, .leastNormalMagnitude], [.infinity, .nan], [],
    ]
    for values in extremes {
      let svg = LineChart(series: [.init(name: "s", values: values)]).svg()
      #expect(svg.hasSuffix("</svg>\n"))
    }
  }

  @Test func wholeEpochTicks() {
    // Three epochs: x ticks 1, 2, 3, not 1.0, 1.5, ...; y ticks 5 to 20.
    let svg = LineChart(series: [.init(name: "loss", values: [20, 10, 5])]).svg()
    #expect(svg.contains(">1</text>") && svg.contains(">2</text>") && svg.contains(">3</text>"))
    #expect(!svg.contains(">1.5</text>") && !svg.contains(">1.0</text>"))
  }

  @Test func writesAFile() throws {
    let directory = try DataTestSupport.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("training.svg")
    try chart.write(to: url)
    #expect(try String(contentsOf: url, encoding: .utf8) == chart.svg())
  }
}

/// The pieces of the training pictures: panels that share an epoch axis,
/// a marked point, one gray scale for all filters and its legend.
@Suite struct DataPictureTests {
  @Test func stackedPanelsWithAFixedDomainAndAMark() {
    var top = LineChart(title: "loss", series: [.init(name: "loss", values: [2, 1, 0.5])])
    top.xDomain = 0...12
    var bottom = LineChart(
      title: "accuracy", series: [.init(name: "test", values: [97.5, 99.3])], height: 300)
    bottom.marks = [.init(x: 2, y: 99.3, label: "best 99.30%")]
    let svg = LineChart.stacked([top, bottom])
    #expect(svg.hasPrefix("<?xml"))
    #expect(svg.contains("<svg x=\"0\" y=\"400\" width=\"640\" height=\"300\">"))
    #expect(svg.contains(">best 99.30%</text>"))
    // The epoch axis ends at 12, ticked every 2: no tick past the last epoch.
    #expect(svg.contains(">12</text>"))
    #expect(!svg.contains(">14</text>"))
    #expect(!svg.contains(">15</text>"))
  }

  @Test func filtersShareOneGrayScale() {
    let filters = Tensor<Float>(shape: [2, 1, 1, 2], scalars: [-1, 0, 0.5, 1])
    let grid = Image.filterGrid(filters, scale: 1, columns: 2, range: -1...1)
    // Row 1 of the 7×3 canvas: border, -1 → 0, 0 → 128, border, 0.5 → 191, 1 → 255, border.
    #expect(Array(grid.pixels[7..<14]) == [255, 0, 128, 255, 191, 255, 255])
  }

  @Test func labelsRampsAndPasting() {
    let one = Image.label("1", scale: 1)
    #expect(one.width == 3 && one.height == 5)
    #expect(one.pixels.filter { $0 == 0 }.count == 8)
    let ramp = Image.grayRamp(width: 3, height: 2)
    #expect(ramp.pixels == [0, 128, 255, 0, 128, 255])
    let canvas = Image(width: 4, height: 3, format: .grayscale, repeating: 255)
      .pasting(ramp, x: 2, y: 2)
    #expect(canvas.pixels == [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 128])
  }
}
