import Cortex
import Foundation

/// The pictures of a training run: its loss and accuracy curves, the first
/// layer's filters and that layer's activation maps of a test image.
struct TrainingPictures {
  let run: TrainingRun

  init(_ run: TrainingRun) { self.run = run }

  /// Writes `curves.svg`, `filters.png` and `activations.png` into `folder`.
  func write(to folder: OutputFolder) throws {
    try curves().write(to: folder.file("curves.svg"))
    if let filters = filters() { try filters.writePNG(to: folder.file("filters.png")) }
    if let activations = activations() {
      try activations.writePNG(to: folder.file("activations.png"))
    }
  }

  /// The training loss, twenty points an epoch, and the training and test
  /// accuracy after each epoch.
  func curves() -> LineChart {
    let history = run.history
    var loss: (x: [Double], y: [Double]) = ([], [])
    for record in history {
      for (i, value) in record.lossCurve.enumerated() {
        loss.x.append(Double(record.epoch - 1) + Double(i + 1) / Double(record.lossCurve.count))
        loss.y.append(value)
      }
    }
    let epochs = history.map { Double($0.epoch) }
    return LineChart(
      title: "\(run.configuration.model.rawValue) on \(run.configuration.dataset.title)",
      xLabel: "epoch", yLabel: "",
      series: [
        .init(name: "training loss", x: loss.x, y: loss.y),
        .init(name: "training accuracy", x: epochs, y: history.map(\.trainingAccuracy)),
        .init(name: "test accuracy", x: epochs, y: history.map(\.testAccuracy)),
      ])
  }

  /// The first layer's filters, one tile each (a dense first layer's rows
  /// shown as images of the input's size).
  func filters() -> Image? {
    guard
      var filters = run.model.namedParameters.first(where: { $0.name.hasSuffix("weight") })?
        .parameter.value
    else { return nil }
    if filters.rank == 2 {
      filters = filters.reshaped(to: [filters.shape[0]] + run.configuration.model.inputShape)
    }
    return Image.filterGrid(filters, scale: 8)
  }

  /// The activation maps of the first test image after the first layer
  /// with weights and the elementwise layers that follow it.
  func activations() -> Image? {
    var activation = run.testExample(0).image
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
    guard let maps, maps.rank == 4 else { return nil }
    return Image.activationGrid(maps.reshaped(to: Array(maps.shape.dropFirst())), scale: 4)
  }
}
