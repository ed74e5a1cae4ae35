import CortexCore
import CortexData
import CortexNN
import Foundation

/// Training stopped because it diverged: the loss, or with anomaly
/// detection some value of the step, stopped being a finite number, or
/// the run broke one of the rules of ``TrainingRun/trainEpoch(progress:)``
/// (a training loss far above the starting loss, or a fall back to chance
/// accuracy).
public struct DivergenceError: Error, CustomStringConvertible, Sendable {
  /// Counted from 1.
  public let epoch: Int
  /// The step within the epoch, counted from 1; for a rule checked at the
  /// end of an epoch, the epoch's last step.
  public let step: Int
  /// The step's loss (`nan` when the step never finished); for a rule
  /// checked at the end of an epoch, the epoch's mean training loss.
  public let loss: Double
  /// The first operation that produced a NaN or an infinity, when
  /// ``TrainingRun/detectsAnomalies`` is on.
  public let anomaly: AnomalyError?
  /// The rule the epoch broke, when the loss itself stayed finite, for
  /// example "its mean training loss 1257.5 is more than 3 times the
  /// starting loss 2.303".
  public let rule: String?

  init(epoch: Int, step: Int, loss: Double, anomaly: AnomalyError?, rule: String? = nil) {
    self.epoch = epoch
    self.step = step
    self.loss = loss
    self.anomaly = anomaly
    self.rule = rule
  }

  /// For example "training diverged: the loss is nan at step 12 of epoch 1".
  public var description: String {
    if let rule { return "training diverged in epoch \(epoch): \(rule)" }
    return "training diverged: the loss is \(loss.isNaN ? "NaN" : String(loss)) at step \(step) of "
      + "epoch \(epoch)"
      + (anomaly.map { "; first non-finite value: \($0)" } ?? "")
  }
}

/// The record of one epoch of training.
public struct EpochRecord: Codable, Equatable, Sendable {
  /// Counted from 1.
  public var epoch: Int
  public var learningRate: Double
  /// The mean loss over the epoch's batches.
  public var trainingLoss: Double
  /// The fraction of training examples classified correctly, each before
  /// the step that used it.
  public var trainingAccuracy: Double
  public var testAccuracy: Double
  /// Wall-clock seconds for the epoch's training steps.
  public var seconds: Double
  /// The mean loss over each twentieth of the epoch, for the loss curve.
  public var lossCurve: [Double]
  /// The loss of the run's first step, on the initial weights: set in the
  /// record of the first epoch only (and absent from checkpoints written
  /// before it was kept).
  public var startingLoss: Double?
}

/// Where training is within an epoch, for progress reports.
public struct TrainingProgress: Sendable {
  /// Counted from 1.
  public var epoch: Int
  public var batch: Int
  public var batches: Int
  /// The mean loss and accuracy of the epoch so far.
  public var loss: Double
  public var accuracy: Double
  public var examplesPerSecond: Double
  /// Estimated seconds left in the epoch.
  public var secondsLeft: Double
}

/// A classifier trained on any labelled image set, epoch by epoch, that can be
/// saved to a checkpoint and resumed from one with the same result as an
/// uninterrupted run.
///
/// ```swift
/// let run = try TrainingRun(
///   TrainingConfiguration(), train: MNIST.loadBundled(split: .train),
///   test: MNIST.loadBundled(split: .test))
/// while run.completedEpochs < run.configuration.epochs {
///   let record = try run.trainEpoch()
///   print(record.epoch, record.testAccuracy)
/// }
/// try run.save(to: URL(fileURLWithPath: "lenet5.safetensors"))
/// ```
///
/// Images are normalized by the training set's per-channel mean and
/// standard deviation (kept in the checkpoint), and center-cropped when
/// the model takes smaller images than the data set has.
public final class TrainingRun {
  public let configuration: TrainingConfiguration
  public let model: Sequential<Float>
  public let optimizer: any Optimizer<Float>
  /// The normalization applied to every image.
  public let normalization: ChannelStatistics
  /// One record per completed epoch.
  public internal(set) var history: [EpochRecord] = []
  public var completedEpochs: Int { history.count }
  /// The number of training examples the run trains on.
  public var trainingCount: Int { trainingSet.count }
  /// Whether each step runs under ``withAnomalyDetection(_:)``, so that a
  /// divergence names the first operation that produced a NaN or an
  /// infinity. Slow: for finding a fault, not for training.
  public var detectsAnomalies = false
  /// The note ``Checkpoint/read(_:from:convertingPrecision:allowingNonFinite:)``
  /// gave when the run was resumed from a file without checksums.
  public private(set) var loadNote: String?
  /// The checksum of the checkpoint the run was resumed from (see
  /// ``Checkpoint/Contents/checksum``); `nil` for a fresh run or a file
  /// without checksums.
  public private(set) var resumedChecksum: String?

  /// An epoch whose mean training loss is more than this many times the
  /// starting loss ends the run as diverged.
  public static let divergenceLossFactor = 3.0
  /// A run that ends at or below this many times chance accuracy (1 in
  /// the number of classes) after a first epoch above it has diverged.
  public static let chanceAccuracyFactor = 1.5

  private let schedule: any LearningRateSchedule
  let trainer: Trainer<Float>
  /// Set when this process is one of a data-parallel run; see
  /// ``distribute(over:bucketCapacity:)``.
  var dataParallel: DataParallel?
  private let trainingSet: Dataset
  private let testSet: Dataset
  /// The number of classes: the width of the model's output.
  private let classCount: Int

  /// Starts a run with freshly initialized weights, on the first
  /// ``TrainingConfiguration/trainingLimit`` examples of `train` when a
  /// limit is set.
  ///
  /// - Throws: ``TrainingError`` when the model cannot take the data's
  ///   images or the configuration is invalid.
  public convenience init(
    _ configuration: TrainingConfiguration, train: Dataset, test: Dataset
  ) throws {
    let limited = Self.limit(train, to: configuration.trainingLimit)
    try self.init(
      configuration, train: limited, test: test,
      normalization: limited.channelStatistics(), history: [])
  }

  private init(
    _ configuration: TrainingConfiguration, train: Dataset, test: Dataset,
    normalization: ChannelStatistics, history: [EpochRecord]
  ) throws {
    try configuration.validate()
    guard !train.labels.isEmpty, !test.labels.isEmpty else {
      throw TrainingError("the training and test sets must not be empty")
    }
    self.configuration = configuration
    self.normalization = normalization
    trainingSet = try Self.prepare(
      Self.limit(train, to: configuration.trainingLimit), for: configuration.model,
      normalization: normalization)
    testSet = try Self.prepare(test, for: configuration.model, normalization: normalization)
    model = withRandomSeed(configuration.seed) { configuration.model.build(Float.self) }
    optimizer = configuration.optimizer.make(learningRate: configuration.baseLearningRate)
    schedule = configuration.schedule.make(epochs: configuration.epochs)
    trainer = Trainer(model: model, optimizer: optimizer)
    classCount = try model.outputShape(for: [1] + configuration.model.inputShape).last ?? 1
    if let label = (train.labels + test.labels).first(where: { !(0..<classCount).contains($0) }) {
      throw TrainingError(
        "the model \(configuration.model.rawValue) tells \(classCount) classes apart; found label \(label)"
      )
    }
    self.history = history
    // A schedule that reacts to the metric learns its state from the past epochs.
    for record in history {
      _ = schedule.learningRate(
        epoch: record.epoch, base: configuration.baseLearningRate,
        metric: 1 - record.testAccuracy)
    }
  }

  /// The configuration and the number of completed epochs of the run
  /// saved at `url`, read from its metadata alone: what a caller needs to
  /// load the right data before ``resume(from:train:test:epochs:)``.
  ///
  /// - Throws: ``DataError`` for a missing file or one that is not a
  ///   Cortex training checkpoint.
  public static func savedState(at url: URL) throws -> (
    configuration: TrainingConfiguration, completedEpochs: Int
  ) {
    let metadata = try Checkpoint.loadMetadata(from: url)
    let configuration = try TrainingConfiguration(metadata: metadata, source: url.path)
    let history = try decode([EpochRecord].self, metadata["cortex.history"], key: "history", url)
    return (configuration, history.count)
  }

  /// Resumes the run saved at `url`, optionally extending it to `epochs`,
  /// which must then be more than the epochs it completed. The run trains
  /// on the same first examples of `train` as before (its
  /// ``TrainingConfiguration/trainingLimit``).
  ///
  /// - Throws: ``DataError`` for a missing or corrupt file, ``ShapeError``
  ///   when its tensors do not fit the model it names, ``TrainingError``
  ///   for `epochs` not beyond the completed ones.
  public static func resume(
    from url: URL, train: Dataset, test: Dataset, epochs: Int? = nil
  ) throws -> TrainingRun {
    let contents = try Checkpoint.read(Float.self, from: url)
    let (tensors, metadata) = (contents.tensors, contents.metadata)
    var configuration = try TrainingConfiguration(metadata: metadata, source: url.path)
    let history = try decode([EpochRecord].self, metadata["cortex.history"], key: "history", url)
    if let epochs {
      guard epochs > history.count else {
        throw TrainingError(
          "\(url.path) has completed \(history.count) epoch\(history.count == 1 ? "" : "s"); "
            + "to train on, ask for more than \(history.count), found \(epochs)")
      }
      configuration.epochs = epochs
    }
    let normalization = try savedNormalization(metadata, of: configuration, url)
    let run = try TrainingRun(
      configuration, train: train, test: test, normalization: normalization, history: history)
    try run.model.load(stateDictionary: tensors)
    let named = run.model.namedParameters
    try run.optimizer.load(
      stateDictionary: tensors, parameterNames: named.map(\.name),
      shapes: named.map(\.parameter.shape))
    try run.checkCompleteness(of: tensors, url)
    run.loadNote = contents.note
    run.resumedChecksum = contents.checksum
    return run
  }

  /// The normalization saved in a checkpoint's metadata, checked against
  /// the channels of the model its configuration names.
  static func savedNormalization(
    _ metadata: [String: String], of configuration: TrainingConfiguration, _ url: URL
  ) throws -> ChannelStatistics {
    let normalization = try decode(
      ChannelStatistics.self, metadata["cortex.normalization"], key: "normalization", url)
    let channels = configuration.model.inputShape[0]
    guard normalization.mean.count == channels, normalization.standardDeviation.count == channels,
      normalization.standardDeviation.allSatisfy({ $0 > 0 && $0.isFinite }),
      normalization.mean.allSatisfy(\.isFinite)
    else {
      throw DataError.invalidContent(
        path: url.path,
        message:
          "the normalization needs \(channels) finite means and positive deviations, found \(normalization)"
      )
    }
    return normalization
  }

  /// Refuses a checkpoint that lacks a trained parameter's optimizer
  /// state (loading would restart it silently) or holds tensors the run
  /// does not have (they would be dropped at the next save).
  private func checkCompleteness(of tensors: [String: Tensor<Float>], _ url: URL) throws {
    let steps = optimizer.stepCount
    let names = model.namedParameters.filter { $0.parameter.isTrainable }.map(\.name)
    let missing = names.filter { name in
      steps > 0 && tensors["optimizer.\(name).step"] == nil
        && !optimizer.stateNames.contains { tensors["optimizer.\(name).\($0)"] != nil }
    }
    if !missing.isEmpty {
      let keys = missing.flatMap { name in optimizer.stateNames.map { "optimizer.\(name).\($0)" } }
      throw DataError.invalidContent(
        path: url.path,
        message: "the optimizer took \(steps) step\(steps == 1 ? "" : "s") but the checkpoint "
          + "has no state for "
          + "\(missing.count == 1 ? "parameter" : "parameters") "
          + "\(missing.joined(separator: ", ")) (\(keys.joined(separator: ", "))); "
          + "resuming would restart it")
    }
    let known = Set(stateDictionary.keys).union(
      model.namedParameters.map { "optimizer.\($0.name).step" })
    let extra = tensors.keys.filter { !known.contains($0) }.sorted()
    if !extra.isEmpty {
      throw DataError.invalidContent(
        path: url.path,
        message: "holds \(extra.count == 1 ? "a tensor" : "tensors") that the model "
          + "\(configuration.model.rawValue) and its \(configuration.optimizer.rawValue) "
          + "optimizer do not have: \(extra.joined(separator: ", "))")
    }
  }

  /// Trains one epoch, evaluates on the test set and returns the epoch's
  /// record.
  ///
  /// A run diverges, and the epoch throws a ``DivergenceError``, when
  ///
  /// - a step's loss is not a finite number (checked at every step);
  /// - the epoch's mean training loss is more than
  ///   ``divergenceLossFactor`` (3) times the starting loss, the loss of
  ///   the run's first step on the initial weights (ln of the number of
  ///   classes for a run resumed from a checkpoint that did not keep it):
  ///   a classifier that learns never ends an epoch far above where it
  ///   started;
  /// - it is the run's last epoch, its test accuracy is at most
  ///   ``chanceAccuracyFactor`` (1.5) times chance (15% for 10 classes),
  ///   and the first epoch's was above that: the run learned, then lost
  ///   it.
  ///
  /// The epoch is then not recorded, and the model's weights are no
  /// longer usable.
  ///
  /// - Parameter progress: called after every batch.
  /// - Throws: ``DivergenceError`` naming the rule that was broken.
  @discardableResult
  public func trainEpoch(progress: ((TrainingProgress) -> Void)? = nil) throws -> EpochRecord {
    let epoch = completedEpochs
    let rate = schedule.learningRate(
      epoch: epoch, base: configuration.baseLearningRate,
      metric: history.last.map { 1 - $0.testAccuracy })
    optimizer.learningRate = rate
    let epochSeed = configuration.seed &+ UInt64(epoch + 1) &* 0x9E37_79B9_7F4A_7C15
    let sampler = DistributedSampler(
      count: trainingSet.count, batchSize: configuration.batchSize,
      rank: dataParallel?.group.rank ?? 0, size: dataParallel?.group.size ?? 1)
    model.reseedRandomLayers(seed: epochSeed &+ UInt64(sampler.rank))
    let batches = sampler.shares(seed: epochSeed)
    // One batching path: the loader gathers this process's share of each
    // batch, the next one in the background while this one trains.
    let loader = DataLoader(
      tensors: [trainingSet.images], indexTensors: [IndexTensor(trainingSet.labels)],
      batches: batches.map(\.indices))
    let start = DispatchTime.now().uptimeNanoseconds
    var (lossSum, correct, seen) = (0.0, 0, 0)
    var curve: [Double] = []
    var (curveSum, curveCount) = (0.0, 0)
    var augmentation = SeededGenerator(seed: epochSeed ^ 0x5348_4946_5453)
    var firstLoss: Double?
    for (index, (share, batch)) in zip(batches, loader).enumerated() {
      let images = augmented(
        batch.tensors[0], shiftingUpTo: configuration.maximumShift,
        flipping: configuration.flipsHorizontally, using: &augmentation, at: share.offset,
        of: share.batchCount)
      let (loss, right) = try step(
        images, batch.indexTensors[0].scalars, of: share.batchCount, epoch: epoch + 1,
        step: index + 1)
      if index == 0 { firstLoss = loss }
      lossSum += loss
      correct += right
      seen += share.batchCount
      curveSum += loss
      curveCount += 1
      if (index + 1) * 20 / batches.count != index * 20 / batches.count {
        curve.append(curveSum / Double(curveCount))
        (curveSum, curveCount) = (0, 0)
      }
      if let progress {
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let speed = Double(seen) / Swift.max(elapsed, 1e-9)
        progress(
          TrainingProgress(
            epoch: epoch + 1, batch: index + 1, batches: batches.count,
            loss: lossSum / Double(index + 1), accuracy: Double(correct) / Double(seen),
            examplesPerSecond: speed,
            secondsLeft: Double(trainingSet.count - seen) / Swift.max(speed, 1e-9)))
      }
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    // Every process evaluates, and saves, rank 0's running statistics.
    dataParallel?.broadcastParameters(of: model)
    let record = EpochRecord(
      epoch: epoch + 1, learningRate: rate, trainingLoss: lossSum / Double(batches.count),
      trainingAccuracy: Double(correct) / Double(seen), testAccuracy: evaluate().accuracy,
      seconds: seconds, lossCurve: curve, startingLoss: epoch == 0 ? firstLoss : nil)
    if let rule = brokenRule(by: record) {
      throw DivergenceError(
        epoch: record.epoch, step: batches.count, loss: record.trainingLoss, anomaly: nil,
        rule: rule)
    }
    history.append(record)
    return record
  }

  /// The loss the run started from: its first step's, or for a run that
  /// did not keep it, that of a uniform guess, ln(classes).
  public var startingLoss: Double {
    history.first?.startingLoss ?? Foundation.log(Double(classCount))
  }

  /// The divergence rule `record`, the next epoch's, breaks, if any; see
  /// ``trainEpoch(progress:)``.
  func brokenRule(by record: EpochRecord) -> String? {
    let start = record.startingLoss ?? startingLoss
    if record.trainingLoss > Self.divergenceLossFactor * start {
      return String(
        format: "its mean training loss %.4g is more than %g times the starting loss %.4g",
        record.trainingLoss, Self.divergenceLossFactor, start)
    }
    let chance = Self.chanceAccuracyFactor / Double(classCount)
    let first = history.first ?? record
    if record.epoch == configuration.epochs, record.testAccuracy <= chance,
      first.testAccuracy > chance
    {
      return String(
        format: "the run ends at %.2f%% test accuracy, at most %g times chance (%.2f%%), "
          + "after %.2f%% in epoch 1",
        100 * record.testAccuracy, Self.chanceAccuracyFactor, 100 * chance,
        100 * first.testAccuracy)
    }
    return nil
  }

  /// One optimizer step, under anomaly detection when it is on.
  ///
  /// - Throws: ``DivergenceError`` when the loss is not finite or anomaly
  ///   detection found a NaN or an infinity.
  /// In a data-parallel run the images are this process's share of a batch
  /// of `batchCount`, and the loss and count are the whole batch's.
  private func step(
    _ images: Tensor<Float>, _ labels: [Int], of batchCount: Int, epoch: Int, step: Int
  ) throws -> (loss: Double, correct: Int) {
    var result = (loss: Double.nan, correct: 0)
    let trainStep = {
      self.dataParallel?.step(
        self.trainer, inputs: images, labels: labels, batchCount: batchCount)
        ?? self.trainer.step(inputs: images, labels: labels)
    }
    do {
      if detectsAnomalies {
        try withAnomalyDetection { result = trainStep() }
      } else {
        result = trainStep()
      }
    } catch let anomaly as AnomalyError {
      throw DivergenceError(epoch: epoch, step: step, loss: result.loss, anomaly: anomaly)
    }
    guard result.loss.isFinite else {
      throw DivergenceError(epoch: epoch, step: step, loss: result.loss, anomaly: nil)
    }
    return result
  }

  /// The model's logits `[N, classes]` for every test image, in the test
  /// set's order, computed in inference mode 500 images at a time.
  public func testLogits() -> Tensor<Float> {
    let count = testSet.count
    var logits = Tensor<Float>.uninitialized([count, classCount])
    logits.withUnsafeMutableBufferPointer { target in
      withLearningPhase(.inference) {
        withoutRecording {
          for start in stride(from: 0, to: count, by: 500) {
            let end = Swift.min(start + 500, count)
            let batch = model(testSet.images.sliced(alongAxis: 0, range: start..<end))
            batch.withUnsafeBufferPointer { values in
              for i in 0..<values.count { target[start * classCount + i] = values[i] }
            }
          }
        }
      }
    }
    return logits
  }

  /// Accuracy and confusion matrix on the test set.
  public func evaluate() -> Evaluation {
    trainer.evaluate(testSet.images, labels: testSet.labels, classes: classCount)
  }

  /// The checkpoint's tensors: the model's state dict under its names
  /// (`0.weight`, …) and the optimizer's state under `optimizer.`.
  public var stateDictionary: [String: Tensor<Float>] {
    // The trainer's parameters: all of them, in the order of their names.
    let names = model.namedParameters.map(\.name)
    return model.stateDictionary.merging(
      optimizer.stateDictionary(parameterNames: names), uniquingKeysWith: { a, _ in a })
  }

  /// Writes the run to `url` atomically: the model, the optimizer's state,
  /// the configuration, the normalization and the history.
  public func save(to url: URL) throws {
    var metadata = configuration.metadata
    metadata["format"] = "pt"
    metadata["cortex.history"] = try encode(history)
    metadata["cortex.normalization"] = try encode(normalization)
    try Checkpoint.save(stateDictionary, metadata: metadata, to: url)
  }

  /// An image of the test set, normalized as the model sees it, with its label.
  public func testExample(_ index: Int) -> (image: Tensor<Float>, label: Int) {
    let example = testSet.gathering([index])
    return (example.images, example.labels[0])
  }

  /// Each image of `images` (`[N, C, H, W]`) moved by a random whole
  /// number of pixels in `-limit...limit` along each axis, the uncovered
  /// border filled with the normalized value of a blank pixel, and, when
  /// `flipping`, then flipped left to right with probability ½.
  ///
  /// The images are examples `offset..<offset + N` of a batch of
  /// `batchCount` (by default, the whole batch): the shifts and flips of
  /// the whole batch are drawn, and those of these examples applied.
  /// Without flips, the draws are those of the shifts alone.
  func augmented(
    _ images: Tensor<Float>, shiftingUpTo limit: Int, flipping: Bool = false,
    using generator: inout SeededGenerator, at offset: Int = 0, of batchCount: Int? = nil
  ) -> Tensor<Float> {
    guard limit > 0 || flipping else { return images }
    let (count, channels, height, width) = (
      images.shape[0], images.shape[1], images.shape[2], images.shape[3]
    )
    let (examples, drawn) = (offset..<offset + count, 0..<(batchCount ?? count))
    let moves = drawn.map { _ in
      (
        Int.random(in: -limit...limit, using: &generator),
        Int.random(in: -limit...limit, using: &generator)
      )
    }
    let flips = drawn.map { _ in flipping && Bool.random(using: &generator) }
    let blank = zip(normalization.mean, normalization.standardDeviation).map { -$0 / $1 }
    var result = Tensor<Float>.uninitialized(images.shape)
    result.withUnsafeMutableBufferPointer { targetBuffer in
      images.withUnsafeBufferPointer { sourceBuffer in
        guard let target = targetBuffer.baseAddress, let source = sourceBuffer.baseAddress else {
          return
        }
        shift(
          source, into: target, by: moves[examples], channels: channels,
          height: height, width: width, blank: blank)
        for (n, flipped) in flips[examples].enumerated() where flipped {
          for row in 0..<channels * height {
            var pixels = UnsafeMutableBufferPointer(
              start: target + (n * channels * height + row) * width, count: width)
            pixels.reverse()
          }
        }
      }
    }
    return result
  }

  /// The shifting loop of ``augmented(_:shiftingUpTo:flipping:using:at:of:)``,
  /// over raw buffers: image
  /// `n` moved by `moves[moves.startIndex + n]` (rows, columns).
  private func shift(
    _ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>,
    by moves: ArraySlice<(Int, Int)>, channels: Int, height: Int, width: Int, blank: [Float]
  ) {
    for (n, (dy, dx)) in moves.enumerated() {
      // Output columns whose source column `x − dx` lies inside the image.
      let columns = Swift.max(0, dx)..<Swift.min(width, width + dx)
      for c in 0..<channels {
        let plane = (n * channels + c) * height * width
        for y in 0..<height {
          let row = target + plane + y * width
          let sy = y - dy
          guard (0..<height).contains(sy), !columns.isEmpty else {
            row.update(repeating: blank[c], count: width)
            continue
          }
          row.update(repeating: blank[c], count: columns.lowerBound)
          (row + columns.upperBound).update(repeating: blank[c], count: width - columns.upperBound)
          (row + columns.lowerBound).update(
            from: source + plane + sy * width + columns.lowerBound - dx, count: columns.count)
        }
      }
    }
  }

  /// The first `limit` examples of `data`, or all of them for `nil`.
  static func limit(_ data: Dataset, to limit: Int?) -> Dataset {
    guard let limit, limit < data.count else { return data }
    return data.prefix(limit)
  }

  /// Whether `model` takes images of `imageShape` (`[C, H, W]`), as they
  /// are or center-cropped.
  static func fits(_ model: ModelName, imageShape have: [Int]) -> Bool {
    let wanted = model.inputShape
    return wanted.count == 3 && have.count == 3 && wanted[0] == have[0] && wanted[1] <= have[1]
      && wanted[2] <= have[2]
  }

  /// Checks that `model` takes images of `imageShape`.
  ///
  /// - Throws: ``TrainingError`` naming the models that do, if any.
  static func checkFit(of model: ModelName, imageShape have: [Int]) throws(TrainingError) {
    guard !fits(model, imageShape: have) else { return }
    let fitting = ModelName.allCases.filter { fits($0, imageShape: have) }
    throw TrainingError(
      "model \(model.rawValue) takes \(model.inputShape.map(String.init).joined(separator: "×")) "
        + "inputs but the data has \(have.map(String.init).joined(separator: "×")) images; "
        + (fitting.isEmpty
          ? "no zoo model takes these images"
          : "models for this data: \(fitting.map(\.rawValue).joined(separator: ", "))"))
  }

  /// The images cropped to the model's input and normalized.
  static func prepare(
    _ data: Dataset, for model: ModelName, normalization: ChannelStatistics
  ) throws -> Dataset {
    let wanted = model.inputShape
    let have = Array(data.images.shape.dropFirst())
    try checkFit(of: model, imageShape: have)
    var images = data.normalized(using: normalization).images
    for axis in [2, 3] where wanted[axis - 1] < have[axis - 1] {
      let margin = (have[axis - 1] - wanted[axis - 1]) / 2
      images = images.sliced(alongAxis: axis, range: margin..<margin + wanted[axis - 1])
    }
    return Dataset(images: images, labels: data.labels)
  }

  private func encode<T: Encodable>(_ value: T) throws -> String {
    String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
  }

  private static func decode<T: Decodable>(
    _ type: T.Type, _ text: String?, key: String, _ url: URL
  ) throws -> T {
    guard let text, let value = try? JSONDecoder().decode(type, from: Data(text.utf8)) else {
      throw DataError.invalidContent(
        path: url.path, message: "the metadata's 'cortex.\(key)' is missing or not valid JSON")
    }
    return value
  }
}

/// A training run that cannot start: the message says what was expected
/// and what was found.
public struct TrainingError: Error, CustomStringConvertible, Equatable, Sendable {
  public let description: String
  public init(_ description: String) { self.description = description }
}
