import Cortex
import Foundation

/// The pictures of a training run: its loss and accuracy curves, the first
/// layer's filters and that layer's activation maps of a test image, and
/// for a vision transformer the class token's attention over that image.
struct TrainingPictures {
  let run: TrainingRun

  init(_ run: TrainingRun) { self.run = run }

  /// Writes `curves.svg`, `filters.png`, `activations.png` and, for a
  /// vision transformer, `attention.png` into `folder`.
  func write(to folder: OutputFolder) throws {
    try LineChart.write(LineChart.stacked(curves()), to: folder.file("curves.svg"))
    if let filters = filters() { try filters.writePNG(to: folder.file("filters.png")) }
    if let activations = activations() {
      try activations.writePNG(to: folder.file("activations.png"))
    }
    if let attention = attention() { try attention.writePNG(to: folder.file("attention.png")) }
  }

  /// The class token's attention over the patches of the first test image:
  /// a row per encoder layer, a tile per head; nil for models without one.
  func attention() -> Image? {
    let image = run.testExample(0).image
    guard
      let maps = classTokenAttentionMaps(
        of: run.model, image: image.reshaped(to: Array(image.shape.dropFirst())))
    else { return nil }
    let layers = run.model.layers.count { $0 is TransformerEncoderLayer<Float> }
    return Image.activationGrid(maps, scale: 16, columns: maps.shape[0] / Swift.max(layers, 1))
  }

  /// Two panels over the run's epochs: the training loss, twenty points an
  /// epoch; and the training and test accuracy after each epoch, in
  /// percent on an axis zoomed to their range, the best test accuracy
  /// marked.
  func curves() -> [LineChart] {
    let history = run.history
    var loss: (x: [Double], y: [Double]) = ([], [])
    for record in history {
      for (i, value) in record.lossCurve.enumerated() {
        loss.x.append(Double(record.epoch - 1) + Double(i + 1) / Double(record.lossCurve.count))
        loss.y.append(value)
      }
    }
    let epochs = history.map { Double($0.epoch) }
    let domain = 0...Double(Swift.max(history.last?.epoch ?? 1, 1))
    let title = "\(run.configuration.model.rawValue) on \(run.configuration.dataset.title)"
    var lossPanel = LineChart(
      title: title + ": training loss", xLabel: "epoch", yLabel: "cross-entropy loss",
      series: [.init(name: "training loss", x: loss.x, y: loss.y)], height: 300)
    lossPanel.xDomain = domain
    var accuracyPanel = LineChart(
      title: title + ": accuracy", xLabel: "epoch", yLabel: "accuracy (%)",
      series: [
        .init(name: "training accuracy", x: epochs, y: history.map { 100 * $0.trainingAccuracy }),
        .init(name: "test accuracy", x: epochs, y: history.map { 100 * $0.testAccuracy }),
      ], height: 340)
    accuracyPanel.xDomain = domain
    accuracyPanel.legendAtBottom = true
    if let best = history.max(by: { $0.testAccuracy < $1.testAccuracy }) {
      accuracyPanel.marks = [
        .init(
          x: Double(best.epoch), y: 100 * best.testAccuracy,
          label: String(format: "best test %.2f%% (epoch %d)", 100 * best.testAccuracy, best.epoch))
      ]
    }
    return [lossPanel, accuracyPanel]
  }

  /// The first layer's filters (the first 64 of them), at least 64 pixels
  /// a tile, on one gray scale from −m (black) to +m (white), m the
  /// largest magnitude, with that scale as a legend under them. A dense
  /// first layer's rows are shown as images of the input's size.
  func filters() -> Image? {
    guard
      var filters = run.model.namedParameters.first(where: { $0.name.hasSuffix("weight") })?
        .parameter.value
    else { return nil }
    if filters.rank == 2 {
      filters = filters.reshaped(to: [filters.shape[0]] + run.configuration.model.inputShape)
    }
    guard filters.rank == 4 else { return nil }
    if filters.shape[0] > 64 { filters = filters.sliced(alongAxis: 0, range: 0..<64) }
    let bound = filters.scalars.filter(\.isFinite).map { Double(Swift.abs($0)) }.max() ?? 0
    let grid = Image.filterGrid(
      filters, scale: Swift.max(4, (64 + filters.shape[2] - 1) / filters.shape[2]),
      range: -bound...bound)
    guard grid.format == .grayscale else { return grid }
    return withLegend(
      grid, low: String(format: "%+.2g", -bound), middle: "0",
      high: String(format: "%+.2g", bound))
  }

  /// `picture` above a black-to-white bar labelled at its ends and middle.
  func withLegend(_ picture: Image, low: String, middle: String, high: String) -> Image {
    let rampWidth = Swift.max(picture.width - 8, 160)
    let width = Swift.max(picture.width, rampWidth + 8)
    let labels = [low, middle, high].map { Image.label($0) }
    var canvas = Image(
      width: width, height: picture.height + 34, format: .grayscale, repeating: 255)
    canvas = canvas.pasting(picture, x: (width - picture.width) / 2, y: 0)
    canvas = canvas.pasting(
      Image.grayRamp(width: rampWidth, height: 10), x: 4, y: picture.height + 6)
    let top = picture.height + 21
    canvas = canvas.pasting(labels[0], x: 4, y: top)
    canvas = canvas.pasting(labels[1], x: 4 + (rampWidth - labels[1].width) / 2, y: top)
    return canvas.pasting(labels[2], x: 4 + rampWidth - labels[2].width, y: top)
  }

  /// The first test image, as the model sees it, beside the activation
  /// maps it gives after the first layer with weights and the elementwise
  /// layers that follow it; each map on its own gray scale.
  func activations() -> Image? {
    let image = run.testExample(0).image
    var activation = image
    var maps: Tensor<Float>?
    var passedWeights = false
    withLearningPhase(.inference) {
      withoutRecording {
        for layer in run.model.layers {
          if passedWeights && !layer.isElementwise {
            maps = activation
            break
          }
          activation = layer(activation)
          if !layer.parameters.isEmpty { passedWeights = true }
        }
      }
    }
    guard let maps, maps.rank == 4, image.shape[1] == 1 else { return nil }
    let scale = Swift.max(2, 48 / maps.shape[2])
    let grid = Image.activationGrid(maps.reshaped(to: Array(maps.shape.dropFirst())), scale: scale)
    let input = Image.activationGrid(
      image.reshaped(to: Array(image.shape.dropFirst())),
      scale: Swift.max(1, scale * maps.shape[2] / image.shape[2]))
    let canvas = Image(
      width: input.width + 12 + grid.width, height: Swift.max(input.height, grid.height),
      format: .grayscale, repeating: 255)
    return canvas.pasting(input, x: 0, y: 0).pasting(grid, x: input.width + 12, y: 0)
  }
}
