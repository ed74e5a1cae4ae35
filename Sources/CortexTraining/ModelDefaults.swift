import CortexNN

/// What a training run of a model uses unless told otherwise. The one place
/// the per-model defaults are stated: ``TrainingConfiguration/init(model:)``
/// starts from them, and `cortex train --help` prints them.
public struct ModelDefaults: Equatable, Sendable {
  /// Enough epochs, with the model's schedule, to reach its accuracy on
  /// MNIST (or, for `fashion-cnn`, Fashion-MNIST) in a short run.
  public var epochs = 12
  public var batchSize = 64
  public var optimizer = OptimizerKind.sgd
  public var schedule = ScheduleKind.cosine
  /// The base learning rate with the default optimizer; `nil` for that
  /// optimizer's own default (``OptimizerKind/defaultLearningRate``).
  public var learningRate: Double?
  public var maximumShift = 2
  public var flipsHorizontally = false
}

extension ModelName {
  /// The defaults of a run of this model, and why they differ from the
  /// others':
  ///
  /// - `lenet5` reaches 99.1% in 5 epochs.
  /// - `maxout-mnist` needs 40 epochs; its unbounded piecewise-linear units
  ///   diverge under SGD at 0.05, so it takes 0.005, and 1-pixel shifts, as
  ///   it already has dropout on every layer.
  /// - `fashion-cnn` uses AdamW, which fits flipped clothes faster than
  ///   SGD, at 0.002 after a warmup, then a cosine, for 10 epochs (93.03%,
  ///   where 12 epochs at 0.001 on a plain cosine reached 93.01%); it
  ///   flips its images left to right (clothes look the same mirrored, a
  ///   digit does not), and takes no shifts (its clothes are centred, and
  ///   it underfits with shifts in a short run).
  /// - `vit-mnist` follows a vision transformer's recipe: AdamW at 0.002, a
  ///   warmup then a cosine, batches of 128, 9 epochs (98.87%, where SGD
  ///   took 12 epochs to 98.73%).
  public var defaults: ModelDefaults {
    var defaults = ModelDefaults()
    switch self {
    case .lenet5:
      defaults.epochs = 5
    case .maxoutMNIST:
      (defaults.epochs, defaults.learningRate, defaults.maximumShift) = (40, 0.005, 1)
    case .fashionCNN:
      (defaults.epochs, defaults.maximumShift, defaults.flipsHorizontally) = (10, 0, true)
      (defaults.optimizer, defaults.learningRate, defaults.schedule) = (
        .adamw, 0.002, .warmupCosine
      )
    case .vitMNIST:
      (defaults.epochs, defaults.batchSize) = (9, 128)
      (defaults.optimizer, defaults.learningRate, defaults.schedule) = (
        .adamw, 0.002, .warmupCosine
      )
    default:
      break
    }
    return defaults
  }

  /// The base learning rate that suits the model with `optimizer`: its
  /// default rate with its default optimizer, otherwise the optimizer's own.
  public func defaultLearningRate(for optimizer: OptimizerKind) -> Double {
    optimizer == defaults.optimizer
      ? defaults.learningRate ?? optimizer.defaultLearningRate : optimizer.defaultLearningRate
  }
}

extension ModelDefaults {
  /// The defaults of `models` as a table, a line per model, for help texts.
  public static func table(of models: [ModelName]) -> String {
    func padded(_ text: String, _ width: Int) -> String {
      text + String(repeating: " ", count: Swift.max(1, width - text.count))
    }
    let header =
      padded("model", 18) + padded("epochs", 8) + padded("batch", 7) + padded("optimizer", 11)
      + padded("lr", 8) + padded("schedule", 15) + padded("shift", 7) + "flip"
    let lines = models.map { model in
      let d = model.defaults
      let rate = model.defaultLearningRate(for: d.optimizer)
      return padded(model.rawValue, 18) + padded(String(d.epochs), 8)
        + padded(String(d.batchSize), 7) + padded(d.optimizer.rawValue, 11)
        + padded(String(rate), 8) + padded(d.schedule.rawValue, 15)
        + padded(String(d.maximumShift), 7) + (d.flipsHorizontally ? "yes" : "no")
    }
    return ([header] + lines).joined(separator: "\n")
  }
}
