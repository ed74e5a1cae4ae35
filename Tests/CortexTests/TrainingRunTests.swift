import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Training runs: the CS231n overfitting sanity check on real digits,
/// checkpoints that round-trip exactly and runs that resume to the same
/// result as uninterrupted ones.
@Suite(.serialized) struct TrainingRunTests {
  @Test func eachModelsDefaultsAreStatedOnceAndPrinted() {
    let vit = TrainingConfiguration(model: .vitMNIST)
    #expect(vit.epochs == 9 && vit.batchSize == 128 && vit.optimizer == .adamw)
    #expect(vit.schedule == .warmupCosine && vit.baseLearningRate == 0.002)
    let maxout = TrainingConfiguration(model: .maxoutMNIST)
    #expect(maxout.baseLearningRate == 0.005 && maxout.maximumShift == 1)
    // Another optimizer than the model's takes that optimizer's own rate.
    #expect(ModelName.maxoutMNIST.defaultLearningRate(for: .adam) == 0.001)
    let table = ModelDefaults.table(of: [.lenet5, .fashionCNN]).split(separator: "\n")
    #expect(table.count == 3)
    #expect(
      table[2].split(separator: " ") == [
        "fashion-cnn", "10", "64", "adamw", "0.002", "warmup-cosine", "0", "yes",
      ])
  }

  static let digits = Result { try MNIST.loadBundled(split: .train).prefix(600) }

  func digits(_ range: Range<Int>) throws -> Dataset {
    try Self.digits.get().gathering(Array(range))
  }

  func temporaryFile(_ name: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent(
      "cortex-\(UUID().uuidString)-\(name)")
  }

  /// A small net overfits 100 digits: the loss can go to zero on a small
  /// set, which shows the model, loss and optimizer are wired correctly.
  @Test func aSmallNetOverfitsOneHundredDigits() throws {
    let hundred = try digits(0..<100)
    var configuration = TrainingConfiguration()
    configuration.model = .lenet5
    configuration.optimizer = .adam
    configuration.learningRate = 3e-3
    configuration.schedule = .constant
    configuration.maximumShift = 0
    configuration.batchSize = 20
    configuration.epochs = 25
    // Evaluating on the training digits measures how well they are fit.
    let run = try TrainingRun(configuration, train: hundred, test: hundred)
    while run.completedEpochs < configuration.epochs { try run.trainEpoch() }
    let last = try #require(run.history.last)
    #expect(last.testAccuracy >= 0.99)
    #expect(last.trainingLoss < 0.05)
    #expect(run.history[0].trainingLoss > 1.5)
  }

  /// Two epochs, or one epoch, a checkpoint and a resumed epoch: the same
  /// weights, optimizer state and history to the last bit.
  @Test(arguments: [OptimizerKind.sgd, .adam])
  func aResumedRunEndsWhereAnUninterruptedRunEnds(optimizer: OptimizerKind) throws {
    let (train, test) = (try digits(0..<256), try digits(300..<364))
    var configuration = TrainingConfiguration()
    configuration.optimizer = optimizer
    configuration.schedule = .plateau
    configuration.batchSize = 32
    configuration.epochs = 2
    configuration.seed = 7
    let straight = try TrainingRun(configuration, train: train, test: test)
    try straight.trainEpoch()
    try straight.trainEpoch()

    let first = try TrainingRun(configuration, train: train, test: test)
    try first.trainEpoch()
    let url = temporaryFile("resume.safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try first.save(to: url)
    let resumed = try TrainingRun.resume(from: url, train: train, test: test)
    #expect(resumed.completedEpochs == 1)
    try resumed.trainEpoch()

    #expect(resumed.stateDictionary == straight.stateDictionary)
    let timeless = { (records: [EpochRecord]) in
      records.map { record -> EpochRecord in
        var copy = record
        copy.seconds = 0
        return copy
      }
    }
    #expect(timeless(resumed.history) == timeless(straight.history))
  }

  /// A saved model loads into a freshly built one with identical outputs.
  @Test func aSavedModelLoadsWithIdenticalOutputs() throws {
    let model: Sequential<Float> = try withRandomSeed(3) { try Zoo.lenet5() }
    let input = Tensor<Float>.randomNormal([4, 1, 28, 28], seed: 11)
    let url = temporaryFile("model.safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try Checkpoint.save(model.stateDictionary, to: url)

    let restored: Sequential<Float> = try withRandomSeed(4) { try Zoo.lenet5() }
    #expect(restored(input) != model(input))
    try restored.load(stateDictionary: Checkpoint.load(from: url))
    #expect(restored(input) == model(input))
  }

  /// The optimizer's state round-trips through a state dictionary: the
  /// next step from the restored state equals the next step from the
  /// original.
  @Test(arguments: OptimizerKind.allCases)
  func optimizerStateRoundTrips(kind: OptimizerKind) throws {
    func makeParameters() -> [Parameter<Float>] {
      [
        Parameter(Tensor.linspace(from: -1, to: 1, count: 6).reshaped(to: [2, 3])),
        Parameter(Tensor([0.5, -0.25])),
      ]
    }
    let gradients = [
      Tensor<Float>.linspace(from: 0.3, to: -0.2, count: 6).reshaped(to: [2, 3]),
      Tensor([0.1, 0.2]),
    ]
    let (parameters, optimizer) = (makeParameters(), kind.make(learningRate: 0.01))
    optimizer.update(parameters, gradients: gradients)
    optimizer.update(parameters, gradients: gradients)
    let names = ["w", "b"]
    let saved = optimizer.stateDictionary(parameterNames: names)
    #expect(saved["optimizer.step"]?.scalar == 2)

    let copies = parameters.map { Parameter($0.value) }
    let restored = kind.make(learningRate: 0.01)
    try restored.load(stateDictionary: saved, parameterNames: names, shapes: copies.map(\.shape))
    optimizer.update(parameters, gradients: gradients)
    restored.update(copies, gradients: gradients)
    #expect(zip(parameters, copies).allSatisfy { $0.value == $1.value })
  }

  @Test func optimizerStateWithAWrongShapeIsAnError() throws {
    let optimizer = OptimizerKind.sgd.make(learningRate: 0.1)
    let state = ["optimizer.step": Tensor<Float>(1), "optimizer.w.velocity": Tensor.zeros([3])]
    #expect(
      throws: ShapeError(
        "optimizer state 'optimizer.w.velocity' has shape [3], the parameter has [2, 2]")
    ) {
      try optimizer.load(stateDictionary: state, parameterNames: ["w"], shapes: [[2, 2]])
    }
    let counted = state.merging(["optimizer.v.step": Tensor(1)]) { a, _ in a }
    #expect(throws: ShapeError("checkpoint has no optimizer state named 'optimizer.v.velocity'")) {
      try optimizer.load(stateDictionary: counted, parameterNames: ["v"], shapes: [[3]])
    }
  }

  /// Checkpoints written before per-parameter update counts save no state
  /// for a parameter that never trained, such as a running mean.
  @Test func aParameterWithNoSavedStateStartsAfresh() throws {
    let optimizer = OptimizerKind.adam.make(learningRate: 0.1)
    let state = [
      "optimizer.step": Tensor<Float>(3), "optimizer.w.m": Tensor.zeros([2]),
      "optimizer.w.v": Tensor.zeros([2]),
    ]
    try optimizer.load(
      stateDictionary: state, parameterNames: ["w", "running_mean"], shapes: [[2], [4]])
    #expect(optimizer.updateCounts == [3, 0])
    let partial = state.filter { $0.key != "optimizer.w.v" }
    #expect(throws: ShapeError("checkpoint has no optimizer state named 'optimizer.w.v'")) {
      try optimizer.load(stateDictionary: partial, parameterNames: ["w"], shapes: [[2]])
    }
  }

  @Test func aModelForOtherImagesIsRejectedWithTheModelsThatFit() throws {
    var configuration = TrainingConfiguration()
    configuration.model = .vgg16
    let few = try digits(0..<8)
    #expect(
      throws: TrainingError(
        "model vgg16 takes 3×224×224 inputs but the data has 1×28×28 images; models for this data: lenet5, convnetjs-mnist, maxout-mnist, fashion-cnn, vit-mnist"
      )
    ) {
      _ = try TrainingRun(configuration, train: few, test: few)
    }
  }

  /// The number of classes comes from the model, not from one data set: a
  /// label the model's output cannot stand for is rejected.
  @Test func aLabelBeyondTheModelsClassesIsRejected() throws {
    let few = try digits(0..<4)
    let relabelled = Dataset(images: few.images, labels: [0, 1, 12, 3])
    #expect(throws: TrainingError("the model lenet5 tells 10 classes apart; found label 12")) {
      _ = try TrainingRun(TrainingConfiguration(), train: few, test: relabelled)
    }
  }

  /// ConvNetJS's MNIST net takes 24×24 crops of the 28×28 digits.
  @Test func smallerInputsAreCenterCrops() throws {
    let few = try digits(0..<2)
    let statistics = ChannelStatistics(mean: [0], standardDeviation: [1])
    let cropped = try TrainingRun.prepare(few, for: .convnetjsMNIST, normalization: statistics)
    #expect(cropped.images.shape == [2, 1, 24, 24])
    #expect(
      cropped.images
        == few.images.sliced(alongAxis: 2, range: 2..<26).sliced(alongAxis: 3, range: 2..<26))
  }

  @Test func aCheckpointWithoutTrainingMetadataIsAnError() throws {
    let url = temporaryFile("weights-only.safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    let model: Sequential<Float> = try Zoo.lenet5()
    try Checkpoint.save(model.stateDictionary, to: url)
    let few = try digits(0..<4)
    #expect(
      throws: DataError.invalidContent(
        path: url.path,
        message: "the metadata has no 'cortex.model': not a Cortex training checkpoint"
      )
    ) {
      _ = try TrainingRun.resume(from: url, train: few, test: few)
    }
  }

  /// The normalization the run applies: MNIST's published mean and
  /// standard deviation of the training pixels.
  @Test func theTrainingSetStatisticsAreMNISTs() throws {
    let statistics = try MNIST.loadBundled(split: .train).channelStatistics()
    #expect(abs(statistics.mean[0] - 0.1307) < 5e-5)
    #expect(abs(statistics.standardDeviation[0] - 0.3081) < 5e-5)
  }

  /// The article's example of a model of one's own, on a few digits.
  @Test func theArticlesMultilayerPerceptronTrains() throws {
    let data = try Self.digits.get().normalized()
    // Seeded, so that tests drawing from the global generator at the same
    // time cannot change its weights.
    let model = try withRandomSeed(1) {
      try Sequential<Float> {
        Flatten<Float>()
        try Dense<Float>(inputSize: 784, outputSize: 100)
        ReLU<Float>()
        try Dense<Float>(inputSize: 100, outputSize: 10)
      }
    }
    let trainer = Trainer(model: model, optimizer: Adam<Float>(learningRate: 1e-3))
    let before = trainer.evaluate(data.images, labels: data.labels, classes: 10).accuracy
    for epoch in 0..<6 {
      for batch in data.batches(size: 64, seed: UInt64(epoch)) {
        trainer.step(inputs: batch.images, labels: batch.labels)
      }
    }
    let after = trainer.evaluate(data.images, labels: data.labels, classes: 10).accuracy
    #expect(before < 0.3)
    #expect(after > 0.95)
  }

  /// Every shifted image is its original moved by a whole number of pixels
  /// within the limit, the uncovered border blank.
  @Test func shiftedDigitsAreTranslationsOfTheOriginals() throws {
    let few = try digits(0..<8)
    let run = try TrainingRun(TrainingConfiguration(), train: few, test: few)
    let blank = -run.normalization.mean[0] / run.normalization.standardDeviation[0]
    let images = Tensor<Float>(shape: [6, 1, 5, 7], scalars: (0..<210).map { Float($0) + 100 })
    var generator = SeededGenerator(seed: 3)
    let moved = run.augmented(images, shiftingUpTo: 2, using: &generator)
    #expect(run.augmented(images, shiftingUpTo: 0, using: &generator) == images)
    var shifts: Set<[Int]> = []
    for n in 0..<6 {
      let (source, target) = (
        images.scalars[n * 35..<(n + 1) * 35], moved.scalars[n * 35..<(n + 1) * 35]
      )
      let match = (-2...2).flatMap { dy in (-2...2).map { dx in [dy, dx] } }.first { shift in
        (0..<5).allSatisfy { y in
          (0..<7).allSatisfy { x in
            let (sy, sx) = (y - shift[0], x - shift[1])
            let expected =
              (0..<5).contains(sy) && (0..<7).contains(sx)
              ? source[source.startIndex + sy * 7 + sx] : blank
            return target[target.startIndex + y * 7 + x] == expected
          }
        }
      }
      let shift = try #require(match)
      shifts.insert(shift)
    }
    #expect(shifts.count > 1)
  }

  /// How many images of `result` are those of `original` mirrored left
  /// to right (`[N, C, H, W]`); every other one must equal its original.
  func mirroredCount(of original: Tensor<Float>, in result: Tensor<Float>) -> Int {
    let (count, width) = (original.shape[0], original.shape[3])
    let rowsPerImage = original.shape[1] * original.shape[2]
    func rows(_ tensor: Tensor<Float>, _ n: Int) -> [[Float]] {
      (0..<rowsPerImage).map { row in
        let start = (n * rowsPerImage + row) * width
        return Array(tensor.scalars[start..<start + width])
      }
    }
    var mirrored = 0
    for n in 0..<count {
      let (before, after) = (rows(original, n), rows(result, n))
      if after == before.map({ $0.reversed() }) {
        mirrored += 1
      } else {
        #expect(after == before)
      }
    }
    return mirrored
  }

  /// Flipped images are their originals mirrored left to right, about half
  /// of them. The shifts are drawn before the flips, so flipping leaves a
  /// run's shifts as they were.
  @Test func flippedImagesAreMirrorsOfTheOriginals() throws {
    let few = try digits(0..<8)
    let run = try TrainingRun(TrainingConfiguration(), train: few, test: few)
    let images = Tensor<Float>(shape: [40, 1, 3, 4], scalars: (0..<480).map { Float($0) })
    var generator = SeededGenerator(seed: 5)
    let flipped = run.augmented(images, shiftingUpTo: 0, flipping: true, using: &generator)
    #expect((10...30).contains(mirroredCount(of: images, in: flipped)))

    var (plain, flipping) = (SeededGenerator(seed: 9), SeededGenerator(seed: 9))
    let shifted = run.augmented(images, shiftingUpTo: 1, using: &plain)
    let shiftedAndFlipped = run.augmented(
      images, shiftingUpTo: 1, flipping: true, using: &flipping)
    #expect(shifted != images)
    #expect((10...30).contains(mirroredCount(of: shifted, in: shiftedAndFlipped)))
  }
}
