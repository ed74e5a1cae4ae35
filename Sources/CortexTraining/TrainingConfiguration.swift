import CortexCore
import CortexData
import CortexNN
import Foundation

/// What to train and how: everything that, with the data, determines a
/// run's result.
public struct TrainingConfiguration: Equatable, Sendable {
  public var model: ModelName = .lenet5
  public var epochs = ModelName.lenet5.defaults.epochs
  public var batchSize = 64
  /// The base learning rate; the optimizer's default when `nil`.
  public var learningRate: Double?
  public var optimizer: OptimizerKind = .sgd
  public var schedule: ScheduleKind = .cosine
  /// Seeds the weights, the order of the examples, their shifts and
  /// flips, and dropout.
  public var seed: UInt64 = 1
  /// Each training image is shifted by up to this many pixels in each
  /// direction, a new random shift every epoch (0: no shifts). The shifted
  /// digits keep the network from memorizing pixel positions.
  public var maximumShift = 2
  /// Each training image is flipped left to right with probability ½, anew
  /// every epoch: right for clothes, which look the same mirrored, wrong
  /// for digits, which do not.
  public var flipsHorizontally = false
  /// The data set trained on.
  public var dataset: DatasetName = .mnist
  /// The folder its files were read from; `nil` for the data set's
  /// ``DatasetName/defaultDirectory``.
  public var dataDirectory: String?
  /// Train on the first this-many training images only; `nil` for all.
  public var trainingLimit: Int?

  public init() {}

  /// The epochs a run may have, on the command line and in a checkpoint.
  public static let epochRange = 1...10_000
  /// The batch sizes a run may have.
  public static let batchSizeRange = 1...60_000
  /// The training limits a run may have.
  public static let trainingLimitRange = 1...60_000
  /// The base learning rates a run may have.
  public static let learningRateRange = 1e-9...100.0
  /// The largest shifts a run may have.
  public static let shiftRange = 0...8

  /// The configuration of a run of `model` with its ``ModelName/defaults``
  /// (its learning rate applies when none is set).
  public init(model: ModelName) {
    self.model = model
    let defaults = model.defaults
    epochs = defaults.epochs
    batchSize = defaults.batchSize
    optimizer = defaults.optimizer
    schedule = defaults.schedule
    maximumShift = defaults.maximumShift
    flipsHorizontally = defaults.flipsHorizontally
  }

  /// The base learning rate in effect.
  public var baseLearningRate: Double {
    learningRate ?? model.defaultLearningRate(for: optimizer)
  }

  /// Checks every setting before any data is loaded.
  ///
  /// - Throws: ``TrainingError`` saying which setting is out of range, or
  ///   that the model does not take the data set's images.
  public func validate() throws(TrainingError) {
    func check<T: Comparable>(_ name: String, _ value: T, _ range: ClosedRange<T>)
      throws(TrainingError)
    {
      guard range.contains(value) else {
        throw TrainingError(
          "the \(name) must be in \(range.lowerBound)...\(range.upperBound), found \(value)")
      }
    }
    try check("epochs", epochs, Self.epochRange)
    try check("batch size", batchSize, Self.batchSizeRange)
    try check("learning rate", baseLearningRate, Self.learningRateRange)
    try check("shift", maximumShift, Self.shiftRange)
    if let trainingLimit { try check("training limit", trainingLimit, Self.trainingLimitRange) }
    try model.requireImageClassifier()
    // NumPy arrays tell their image shape only once loaded; the run checks it then.
    if let imageShape = dataset.imageShape {
      try TrainingRun.checkFit(of: model, imageShape: imageShape)
    }
  }

  /// The configuration as checkpoint metadata.
  var metadata: [String: String] {
    var metadata = [
      "cortex.model": model.rawValue, "cortex.epochs": String(epochs),
      "cortex.batch_size": String(batchSize),
      "cortex.learning_rate": String(baseLearningRate),
      "cortex.optimizer": optimizer.rawValue, "cortex.schedule": schedule.rawValue,
      "cortex.seed": String(seed), "cortex.maximum_shift": String(maximumShift),
      "cortex.dataset": dataset.rawValue,
      "cortex.horizontal_flips": String(flipsHorizontally),
    ]
    metadata["cortex.data_directory"] = dataDirectory
    metadata["cortex.training_limit"] = trainingLimit.map(String.init)
    return metadata
  }

  /// Reads a configuration back from checkpoint metadata.
  init(metadata: [String: String], source: String) throws {
    func value(_ key: String) throws -> String {
      guard let text = metadata["cortex." + key] else {
        throw DataError.invalidContent(
          path: source,
          message: "the metadata has no 'cortex.\(key)': not a Cortex training checkpoint")
      }
      return text
    }
    func parsed<T>(_ key: String, _ parse: (String) -> T?) throws -> T {
      let text = try value(key)
      guard let result = parse(text) else {
        throw DataError.invalidContent(
          path: source, message: "the metadata's 'cortex.\(key)' is '\(text)', which is not valid")
      }
      return result
    }
    // Numbers obey the command line's ranges.
    func number<T: Comparable>(_ key: String, in range: ClosedRange<T>, _ parse: (String) -> T?)
      throws -> T
    {
      let value = try parsed(key, parse)
      guard range.contains(value) else {
        throw DataError.invalidContent(
          path: source,
          message: "the metadata's 'cortex.\(key)' is \(value), expected a value in "
            + "\(range.lowerBound)...\(range.upperBound)")
      }
      return value
    }
    model = try parsed("model") { ModelName(rawValue: $0) }
    epochs = try number("epochs", in: Self.epochRange) { Int($0) }
    batchSize = try number("batch_size", in: Self.batchSizeRange) { Int($0) }
    learningRate = try number("learning_rate", in: Self.learningRateRange) { Double($0) }
    optimizer = try parsed("optimizer") { OptimizerKind(rawValue: $0) }
    schedule = try parsed("schedule") { ScheduleKind(rawValue: $0) }
    seed = try number("seed", in: 0...UInt64(Int.max)) { UInt64($0) }
    maximumShift = try number("maximum_shift", in: Self.shiftRange) { Int($0) }
    // Checkpoints written before these settings existed trained on all of
    // the bundled MNIST, unflipped.
    if metadata["cortex.dataset"] != nil {
      dataset = try parsed("dataset") { DatasetName(rawValue: $0) }
    }
    dataDirectory = metadata["cortex.data_directory"]
    if metadata["cortex.horizontal_flips"] != nil {
      flipsHorizontally = try parsed("horizontal_flips") { Bool($0) }
    }
    if metadata["cortex.training_limit"] != nil {
      trainingLimit = try number("training_limit", in: Self.trainingLimitRange) { Int($0) }
    }
  }
}

extension ModelName {
  /// Checks that training runs can train the model: they take images with
  /// class labels, which a language model (`gpt-tiny`) does not.
  ///
  /// - Throws: ``TrainingError`` saying that the model needs token data.
  public func requireImageClassifier() throws(TrainingError) {
    guard isLanguageModel else { return }
    throw TrainingError(
      "model \(rawValue) is a language model: it takes sequences of \(inputShape[0]) token ids "
        + "and needs token data, not images with class labels; train it in code "
        + "(see the CharGPT playground)")
  }
}
