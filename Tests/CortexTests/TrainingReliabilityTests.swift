import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Runs that go wrong: a loss that stops being a number, blank images,
/// settings a resumed run must keep, data no model takes.
@Suite(.serialized) struct TrainingReliabilityTests {
  static let digits = Result { try MNIST.loadBundled(split: .train).prefix(512) }

  func temporaryFile(_ name: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent(
      "cortex-\(UUID().uuidString)-\(name)")
  }

  func smallConfiguration() -> TrainingConfiguration {
    var configuration = TrainingConfiguration()
    configuration.model = .convnetjsMNIST
    configuration.epochs = 3
    configuration.batchSize = 32
    return configuration
  }

  /// A NaN weight makes the first step's loss NaN: the epoch throws,
  /// names the step, records nothing, and the checkpoint of the last whole
  /// epoch stays as it was.
  @Test func aNonFiniteLossEndsTheEpochAndKeepsTheLastCheckpoint() throws {
    let data = try Self.digits.get()
    let run = try TrainingRun(smallConfiguration(), train: data, test: data.prefix(64))
    try run.trainEpoch()
    let url = temporaryFile("diverging.safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try run.save(to: url)
    let saved = try Data(contentsOf: url)

    // ReLU's max gate turns a NaN into 0; the classifier's bias reaches the loss.
    let bias = run.model.parameters.last!
    bias.value = Tensor(repeating: .nan, shape: bias.shape)
    do {
      try run.trainEpoch()
    } catch let error as DivergenceError {
      #expect(error.epoch == 2)
      #expect(error.step == 1)
      #expect(error.loss.isNaN)
      #expect(error.description == "training diverged: the loss is NaN at step 1 of epoch 2")
    } catch {
      Issue.record("a NaN bias trained without a divergence error")
    }
    #expect(run.completedEpochs == 1)
    #expect(try Data(contentsOf: url) == saved)
  }

  /// With anomaly detection on, the divergence names the first operation
  /// whose output held a NaN.
  @Test func anomalyDetectionNamesTheFirstOperation() throws {
    let data = try Self.digits.get()
    let run = try TrainingRun(smallConfiguration(), train: data, test: data.prefix(64))
    run.detectsAnomalies = true
    let weight = run.model.parameters[0]
    weight.value = Tensor(repeating: .nan, shape: weight.shape)
    do {
      try run.trainEpoch()
      Issue.record("a NaN weight trained without an error")
    } catch let error as DivergenceError {
      #expect(error.step == 1)
      #expect(error.anomaly?.operation == "conv2d")
      #expect(error.anomaly?.phase == .forward)
    }
  }

  /// All-black images have a standard deviation of 0: they normalize to
  /// zeros, train with a finite loss and save.
  @Test func blankImagesTrainAndSave() throws {
    let blank = Dataset(images: .zeros([64, 1, 28, 28]), labels: (0..<64).map { $0 % 10 })
    var configuration = smallConfiguration()
    configuration.epochs = 1
    let run = try TrainingRun(configuration, train: blank, test: blank)
    #expect(run.normalization.standardDeviation == [1])
    let record = try run.trainEpoch()
    #expect(record.trainingLoss.isFinite)
    let url = temporaryFile("blank.safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try run.save(to: url)
    let resumed = try TrainingRun.resume(from: url, train: blank, test: blank)
    #expect(resumed.completedEpochs == 1)
  }

  /// A resumed run trains on the same first examples as before, and
  /// refuses an epoch count it has already reached.
  @Test func aResumedRunKeepsItsLimitAndRefusesFewerEpochs() throws {
    let data = try Self.digits.get()
    var configuration = smallConfiguration()
    configuration.trainingLimit = 100
    configuration.learningRate = 0.05
    configuration.dataset = .fashionMNIST
    configuration.dataDirectory = "/some/folder"
    configuration.flipsHorizontally = true
    let run = try TrainingRun(configuration, train: data, test: data.prefix(64))
    #expect(run.trainingCount == 100)
    try run.trainEpoch()
    let url = temporaryFile("limited.safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try run.save(to: url)

    let (saved, completed) = try TrainingRun.savedState(at: url)
    #expect(saved == configuration)
    #expect(completed == 1)
    let resumed = try TrainingRun.resume(from: url, train: data, test: data.prefix(64))
    #expect(resumed.trainingCount == 100)
    #expect(
      throws: TrainingError(
        "\(url.path) has completed 1 epoch; to train on, ask for more than 1, found 1")
    ) {
      _ = try TrainingRun.resume(from: url, train: data, test: data.prefix(64), epochs: 1)
    }
  }

  /// 5×5 images fit no zoo model, and the message does not say otherwise.
  @Test func imagesNoModelTakesAreSaidToFitNone() throws {
    let tiny = Dataset(images: .zeros([4, 1, 5, 5]), labels: [0, 1, 2, 3])
    #expect(
      throws: TrainingError(
        "model lenet5 takes 1×28×28 inputs but the data has 1×5×5 images; no zoo model takes these images"
      )
    ) {
      _ = try TrainingRun(TrainingConfiguration(), train: tiny, test: tiny)
    }
  }

  /// Each model has its own recipe: LeNet-5 the digits' short one, the
  /// maxout network a smaller learning rate and a longer run, fashion-cnn
  /// AdamW with flips and no shifts.
  @Test func eachModelHasItsOwnDefaults() {
    let lenet = TrainingConfiguration(model: .lenet5)
    #expect(lenet.epochs == 5)
    #expect(lenet.maximumShift == 2)
    #expect(lenet.baseLearningRate == 0.05)
    #expect(lenet.optimizer == .sgd)
    #expect(!lenet.flipsHorizontally)
    let maxout = TrainingConfiguration(model: .maxoutMNIST)
    #expect(maxout.epochs == 40)
    #expect(maxout.maximumShift == 1)
    #expect(maxout.baseLearningRate == 0.005)
    #expect(!maxout.flipsHorizontally)
    let fashion = TrainingConfiguration(model: .fashionCNN)
    #expect(fashion.epochs == 10)
    #expect(fashion.schedule == .warmupCosine)
    #expect(fashion.maximumShift == 0)
    #expect(fashion.flipsHorizontally)
    #expect(fashion.optimizer == .adamw)
    #expect(fashion.baseLearningRate == 0.002)
  }

  /// Every model `cortex train` offers trains one short epoch at its
  /// default settings with a finite loss that falls.
  @Test(arguments: [ModelName.lenet5, .convnetjsMNIST, .maxoutMNIST, .fashionCNN])
  func everyOfferedModelTrainsAtItsDefaults(model: ModelName) throws {
    let data = try Self.digits.get()
    var configuration = TrainingConfiguration(model: model)
    configuration.batchSize = 16
    let run = try TrainingRun(configuration, train: data, test: data.prefix(64))
    let record = try run.trainEpoch()
    #expect(record.lossCurve.allSatisfy { $0.isFinite })
    #expect(record.lossCurve.count == 20)
    // The mean loss of the last quarter of the epoch is below the first's.
    let first = record.lossCurve.prefix(4).reduce(0, +)
    let last = record.lossCurve.suffix(4).reduce(0, +)
    #expect(last < first)
  }
}
