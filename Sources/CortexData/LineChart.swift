import CortexCore
import Foundation

/// A line chart written as SVG: several named series (training loss, test
/// accuracy, ...) against a common x axis, with ticks and a legend.
///
///     let chart = LineChart(
///       title: "LeNet-5 on MNIST", xLabel: "epoch", yLabel: "value",
///       series: [.init(name: "training loss", values: losses),
///                .init(name: "test accuracy", values: accuracies)])
///     try chart.write(to: URL(fileURLWithPath: "training.svg"))
///
/// Points that are not finite are left out, breaking the line there.
public struct LineChart: Sendable {
  /// One named line.
  public struct Series: Sendable {
    /// The name shown in the legend.
    public var name: String
    /// The x coordinate of each point.
    public var x: [Double]
    /// The y coordinate of each point.
    public var y: [Double]

    /// A series of points `(x[i], y[i])`.
    ///
    /// - Precondition: `x` and `y` have the same length.
    public init(name: String, x: [Double], y: [Double]) {
      precondition(
        x.count == y.count,
        "LineChart.Series: \(x.count) x coordinates but \(y.count) y coordinates")
      self.name = name
      self.x = x
      self.y = y
    }

    /// A series of one value per epoch: `x` is 1, 2, 3, ...
    public init(name: String, values: [Double]) {
      self.init(name: name, x: values.indices.map { Double($0 + 1) }, y: values)
    }
  }

  /// A point picked out with a ring and a label, such as the best test
  /// accuracy.
  public struct Mark: Sendable {
    public var x: Double
    public var y: Double
    public var label: String

    public init(x: Double, y: Double, label: String) {
      self.x = x
      self.y = y
      self.label = label
    }
  }

  /// The title above the plot.
  public var title: String
  /// The label under the x axis.
  public var xLabel: String
  /// The label beside the y axis.
  public var yLabel: String
  /// The lines, drawn in order with the colors of a fixed palette.
  public var series: [Series]
  /// The width of the drawing in pixels.
  public var width: Int
  /// The height of the drawing in pixels.
  public var height: Int
  /// The ends of the x axis; the data's range widened to round numbers
  /// when `nil`.
  public var xDomain: ClosedRange<Double>?
  /// Points to pick out.
  public var marks: [Mark] = []
  /// Whether the legend sits in the bottom-right corner of the plot
  /// instead of the top-right one, for lines that rise to the top.
  public var legendAtBottom = false

  /// A chart of `series`.
  public init(
    title: String = "", xLabel: String = "", yLabel: String = "", series: [Series],
    width: Int = 640, height: Int = 400
  ) {
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
    self.series = series
    self.width = Swift.max(width, 200)
    self.height = Swift.max(height, 150)
  }

  /// The colors of the lines, cycled.
  static let palette = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  ]

  /// The chart as an SVG document.
  public func svg() -> String {
    LineChart.document(width: width, height: height, body: body())
  }

  /// Charts one above the other in one SVG document, such as a loss panel
  /// over an accuracy panel that share their x axis.
  public static func stacked(_ charts: [LineChart]) -> String {
    var offset = 0
    var body: [String] = []
    for chart in charts {
      body.append(
        "<svg x=\"0\" y=\"\(offset)\" width=\"\(chart.width)\" height=\"\(chart.height)\">")
      body += chart.body()
      body.append("</svg>")
      offset += chart.height
    }
    return document(
      width: charts.map(\.width).max() ?? 200, height: Swift.max(offset, 150), body: body)
  }

  /// Writes `svg` to `url` atomically.
  ///
  /// - Throws: ``DataError`` when the file cannot be written.
  public static func write(_ svg: String, to url: URL) throws {
    try DataFile.writeAtomically(Data(svg.utf8), to: url)
  }

  private static func document(width: Int, height: Int, body: [String]) -> String {
    ([
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" "
        + "viewBox=\"0 0 \(width) \(height)\" font-family=\"sans-serif\" font-size=\"12\">",
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
    ] + body + ["</svg>"]).joined(separator: "\n") + "\n"
  }

  /// The chart's elements, without the enclosing `<svg>`.
  private func body() -> [String] {
    let plot = (left: 70.0, right: Double(width) - 20, top: 40.0, bottom: Double(height) - 50)
    let xValues = series.flatMap { s in zip(s.x, s.y).filter { $0.1.isFinite }.map(\.0) }
    let xAxis =
      xDomain.map { Axis(domain: $0) }
      ?? Axis(xValues, integral: xValues.allSatisfy { $0 == $0.rounded() })
    let yAxis = Axis(series.flatMap(\.y) + marks.map(\.y))
    func px(_ x: Double) -> Double {
      plot.left + (x - xAxis.low) / (xAxis.high - xAxis.low) * (plot.right - plot.left)
    }
    func py(_ y: Double) -> Double {
      plot.bottom - (y - yAxis.low) / (yAxis.high - yAxis.low) * (plot.bottom - plot.top)
    }

    var lines = [
      text(Double(width) / 2, 24, title, anchor: "middle", extra: " font-size=\"15\"")
    ]
    lines.append("<g class=\"grid\" stroke=\"#dddddd\" stroke-width=\"1\">")
    for tick in yAxis.ticks { lines.append(line(plot.left, py(tick), plot.right, py(tick))) }
    for tick in xAxis.ticks { lines.append(line(px(tick), plot.top, px(tick), plot.bottom)) }
    lines.append("</g>")
    lines.append("<g class=\"axes\" stroke=\"black\" stroke-width=\"1\">")
    lines.append(line(plot.left, plot.bottom, plot.right, plot.bottom))
    lines.append(line(plot.left, plot.top, plot.left, plot.bottom))
    for tick in yAxis.ticks { lines.append(line(plot.left - 5, py(tick), plot.left, py(tick))) }
    for tick in xAxis.ticks {
      lines.append(line(px(tick), plot.bottom, px(tick), plot.bottom + 5))
    }
    lines.append("</g>")
    lines.append("<g class=\"tick-labels\">")
    for tick in yAxis.ticks {
      lines.append(text(plot.left - 8, py(tick) + 4, yAxis.label(tick), anchor: "end"))
    }
    for tick in xAxis.ticks {
      lines.append(text(px(tick), plot.bottom + 18, xAxis.label(tick), anchor: "middle"))
    }
    lines.append("</g>")
    lines.append(text((plot.left + plot.right) / 2, Double(height) - 12, xLabel, anchor: "middle"))
    let middle = (plot.top + plot.bottom) / 2
    lines.append(
      text(
        18, middle, yLabel, anchor: "middle",
        extra: " transform=\"rotate(-90 18 \(format(middle)))\""))

    for (index, series) in series.enumerated() {
      let color = LineChart.palette[index % LineChart.palette.count]
      var path: [String] = []
      var markers: [String] = []
      var drawing = false
      for (x, y) in zip(series.x, series.y) {
        guard x.isFinite && y.isFinite else {
          drawing = false
          continue
        }
        path.append("\(drawing ? "L" : "M")\(format(px(x))),\(format(py(y)))")
        markers.append(
          "<circle cx=\"\(format(px(x)))\" cy=\"\(format(py(y)))\" r=\"2.5\" fill=\"\(color)\"/>")
        drawing = true
      }
      lines.append("<g class=\"series\" data-name=\"\(escaped(series.name))\">")
      if !path.isEmpty {
        lines.append(
          "<path d=\"\(path.joined(separator: " "))\" fill=\"none\" stroke=\"\(color)\" "
            + "stroke-width=\"2\"/>")
      }
      lines += markers
      lines.append("</g>")
    }

    for mark in marks where mark.x.isFinite && mark.y.isFinite {
      let (x, y) = (px(mark.x), py(mark.y))
      lines.append("<g class=\"mark\">")
      lines.append(
        "<circle cx=\"\(format(x))\" cy=\"\(format(y))\" r=\"6\" fill=\"none\" "
          + "stroke=\"black\" stroke-width=\"1.5\"/>")
      let anchor = x > (plot.left + plot.right) / 2 ? "end" : "start"
      lines.append(
        text(x + (anchor == "end" ? -9 : 9), y + 16, mark.label, anchor: anchor))
      lines.append("</g>")
    }

    let legendTop =
      legendAtBottom ? plot.bottom - 4 - Double(series.count * 18 + 2) : plot.top + 2
    lines.append("<g class=\"legend\">")
    if !series.isEmpty {
      lines.append(
        "<rect x=\"\(format(plot.right - 158))\" y=\"\(format(legendTop))\" width=\"154\" "
          + "height=\"\(series.count * 18 + 2)\" fill=\"white\" fill-opacity=\"0.85\" "
          + "stroke=\"#cccccc\"/>")
    }
    for (index, series) in series.enumerated() {
      let color = LineChart.palette[index % LineChart.palette.count]
      let y = legendTop + 10 + Double(index) * 18
      let x = plot.right - 150
      lines.append(
        "<line x1=\"\(format(x))\" y1=\"\(format(y))\" x2=\"\(format(x + 20))\" "
          + "y2=\"\(format(y))\" stroke=\"\(color)\" stroke-width=\"2\"/>")
      lines.append(text(x + 26, y + 4, series.name, anchor: "start"))
    }
    lines.append("</g>")
    return lines
  }

  /// Writes the chart as an SVG file, atomically.
  ///
  /// - Throws: ``DataError`` when the file cannot be written.
  public func write(to url: URL) throws {
    try LineChart.write(svg(), to: url)
  }

  private func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double) -> String {
    "<line x1=\"\(format(x1))\" y1=\"\(format(y1))\" x2=\"\(format(x2))\" y2=\"\(format(y2))\"/>"
  }

  private func text(
    _ x: Double, _ y: Double, _ content: String, anchor: String, extra: String = ""
  ) -> String {
    "<text x=\"\(format(x))\" y=\"\(format(y))\" text-anchor=\"\(anchor)\"\(extra)>"
      + "\(escaped(content))</text>"
  }

  private func format(_ value: Double) -> String { String(format: "%.2f", value) }

  /// `text` with the five XML special characters escaped.
  private func escaped(_ text: String) -> String {
    var result = ""
    for character in text {
      switch character {
      case "&": result += "&amp;"
      case "<": result += "&lt;"
      case ">": result += "&gt;"
      case "\"": result += "&quot;"
      case "'": result += "&apos;"
      default: result.append(character)
      }
    }
    return result
  }
}

/// An axis range widened to round numbers, with its ticks.
struct Axis {
  /// The ends of the axis.
  var low: Double
  var high: Double
  /// The distance between ticks: 1, 2 or 5 times a power of ten.
  var step: Double

  /// An axis covering the finite values among `values`; [0, 1] when
  /// there are none. An `integral` axis (epochs) has whole-number ticks.
  init(_ values: [Double], integral: Bool = false) {
    let finite = values.filter(\.isFinite)
    var low = finite.min() ?? 0
    var high = finite.max() ?? 1
    if high - low == 0 || !(high - low).isFinite {
      let pad = low == 0 ? 1 : Swift.abs(low) / 2
      low -= pad
      high += pad
    }
    step = Axis.niceStep((high - low) / 5)
    if integral { step = Swift.max(step, 1) }
    self.low = (low / step).rounded(.down) * step
    self.high = (high / step).rounded(.up) * step
  }

  /// An axis from exactly `domain.lowerBound` to `domain.upperBound`,
  /// ticked at round steps from the low end.
  init(domain: ClosedRange<Double>) {
    low = domain.lowerBound
    high = domain.upperBound > low ? domain.upperBound : low + 1
    step = Axis.niceStep((high - low) / 6)
  }

  /// 1, 2 or 5 times a power of ten, at least `raw` (`raw` itself at the
  /// ends of the floating-point range).
  static func niceStep(_ raw: Double) -> Double {
    guard raw.isFinite && raw > 0 else { return 1 }
    let power = Foundation.pow(10, (Foundation.log10(raw)).rounded(.down))
    let fraction = raw / power
    let multiple: Double = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
    let step = multiple * power
    return step.isFinite && step >= raw ? step : raw
  }

  /// The tick positions from `low` to `high`.
  var ticks: [Double] {
    let intervals = ((high - low) / step * (1 + 1e-9)).rounded(.down)
    guard intervals >= 0 && intervals <= 100 else { return [low, high] }
    return (0...Int(intervals)).map { low + Double($0) * step }
  }

  /// A tick's label with as many decimals as the step needs.
  func label(_ value: Double) -> String {
    let digits = -Foundation.log10(step).rounded(.down)
    let decimals = digits.isFinite ? Int(Swift.min(Swift.max(digits, 0), 20)) : 0
    let shown = Swift.abs(value) < step * 1e-9 ? 0 : value
    return String(format: "%.\(decimals)f", shown)
  }
}
