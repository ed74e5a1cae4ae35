import Cortex
import Foundation

/// `cortex train`: trains a zoo model on MNIST, Fashion-MNIST or the
/// user's own NumPy arrays, with a progress bar, a checkpoint after every epoch and pictures of what the
/// model learned.
struct TrainCommand: Command {
  let name = "train"
  let abstract =
    "Train a model on the bundled MNIST (LeNet-5 by default), Fashion-MNIST or NumPy arrays"
  var help: String {
    """
    usage: cortex train [options]

    Trains a model on the MNIST digits bundled with Cortex (or on
    Fashion-MNIST, or on NumPy arrays) and measures its test accuracy after
    every epoch. A run that diverges stops with exit status 1: a loss that
    is not a number, an epoch whose mean training loss is more than 3 times
    the first step's loss, or a last epoch at most 1.5 times chance accuracy
    after a first epoch above it. The last line names the checkpoint with
    the best test accuracy. Writes into the output folder, which holds one
    run:
      checkpoint.safetensors  the model and optimizer, after every epoch
                              (safetensors; the model's tensors load into
                              PyTorch under their state-dict names)
      best.safetensors        the same, of the epoch with the best test
                              accuracy so far
      curves.svg              training loss; training and test accuracy
      filters.png             the first layer's filters
      activations.png         a test image and the first layer's
                              activation maps of it
      attention.png           vit-mnist: the class token's attention over the
                              patches of that image, a row per encoder layer

    options:
      --model NAME         \(trainableModels.map(\.rawValue).joined(separator: ", ")) (default lenet5)
      --dataset NAME       \(DatasetName.allCases.map(\.rawValue).joined(separator: ", ")) (default mnist;
                           fashion-mnist is read from \(DatasetName.fashionMNIST.defaultDirectory.path),
                           where `apt-get install dataset-fashion-mnist` puts it;
                           npy reads train_images.npy, train_labels.npy,
                           test_images.npy and test_labels.npy from --data
                           or the current folder: images [N,H,W] or
                           [N,C,H,W], uint8 or float32 in [0,1]; labels [N],
                           uint8 or int64, 0 to 9)
      --epochs N           epochs to train (default: the model's, below)
      --batch-size N       examples per step (default: the model's)
      --lr RATE            base learning rate (default: the model's with its
                           optimizer, otherwise the optimizer's:
                           \(OptimizerKind.allCases.map { "\($0.rawValue) \($0.defaultLearningRate)" }.joined(separator: ", ")))
      --optimizer NAME     sgd (Nesterov momentum 0.9, weight decay 5e-4),
                           adam, rmsprop, adadelta, adamw (decoupled weight
                           decay 0.01) (default: the model's)
      --schedule NAME      cosine, step, plateau, constant, warmup-cosine
                           (linear warmup over a tenth of the epochs, at
                           least one, then cosine) (default: the model's)
      --seed N             seeds the weights, the order of examples, their
                           shifts and flips, and dropout (default 1)
      --shift N            shift each training image by up to N pixels, anew
                           every epoch, 0 for none (default: the model's)
      --flip yes|no        flip each training image left to right with
                           probability 1/2, anew every epoch (default: the
                           model's; yes only where the images look the same
                           mirrored, as clothes do and digits do not)
      --threads N          compute threads (default: the number of cores)
      --out DIR            output folder (default runs/MODEL, or the
                           checkpoint's folder with --resume)
      --resume CHECKPOINT  continue a saved run; --epochs may extend it, every
                           other setting, the data included, comes from the
                           checkpoint
      --force              start afresh in an output folder that holds
                           another run's checkpoint, replacing it
      --data DIR           a folder holding the data set's four IDX files
                           (.gz or not), or with npy its four .npy files,
                           instead of its default place
      --limit N            train on the first N training images only
      --detect-anomaly     check every operation for NaN and infinity, to
                           name the first one when training diverges (slow)
      --distributed        one process of a data-parallel run under mpirun
                           (implied when mpirun started it): --batch-size is
                           the global batch, split across the processes;
                           only rank 0 prints and writes

    defaults by model:
    \(ModelDefaults.table(of: trainableModels).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
    """
  }

  /// The zoo models that take 1×28×28 images (or a crop of them).
  var trainableModels: [ModelName] {
    ModelName.allCases.filter {
      $0.inputShape.count == 3 && $0.inputShape[0] == 1 && $0.inputShape[1] <= 28
    }
  }

  /// The settings that define a run and so come from the checkpoint when
  /// resuming.
  static let runSettings = [
    "model", "dataset", "data", "limit", "batch-size", "lr", "optimizer", "schedule", "seed",
    "shift", "flip",
  ]

  func run(_ arguments: [String]) throws -> Int32 {
    let options = try Arguments(
      arguments,
      valueOptions: Set(Self.runSettings + ["epochs", "threads", "out", "resume"]),
      flagOptions: ["force", "detect-anomaly", "distributed"])
    guard options.positional.isEmpty else {
      throw CommandLineError("train takes no positional arguments, found \(options.positional)")
    }
    // Every setting is checked, and the folder taken, before any data loads.
    let group = try DistributedRun.start(options)
    try applyThreads(options)
    let resume = options.string("resume").map { URL(fileURLWithPath: $0) }
    let configuration =
      try resume.map { try savedConfiguration($0, options) } ?? newConfiguration(options)
    // In a distributed run only rank 0 takes the folder and writes to it.
    let folder =
      DistributedRun.isPrimary
      ? try OutputFolder(
        path: options.string("out")
          ?? (resume?.deletingLastPathComponent().path ?? "runs/\(configuration.model.rawValue)"))
      : nil
    // A run that fails before it writes a checkpoint leaves no folder it created.
    var succeeded = false
    defer { if !succeeded { folder?.removeIfUnused() } }
    let checkpoint = folder?.file("checkpoint.safetensors") ?? URL(fileURLWithPath: "/dev/null")
    let best = folder?.file("best.safetensors") ?? URL(fileURLWithPath: "/dev/null")
    if let folder, FileManager.default.fileExists(atPath: checkpoint.path), !options.flag("force"),
      resume.map({ !sameFile($0, checkpoint) }) ?? true
    {
      throw CommandLineError(
        "\(folder.url.path) holds another run's checkpoint; continue it with --resume "
          + "\(checkpoint.path), replace it with --force, or choose another --out")
    }

    let data = try loadData(configuration)
    let run =
      try resume.map {
        try TrainingRun.resume(
          from: $0, train: data.train, test: data.test, epochs: configuration.epochs)
      } ?? TrainingRun(configuration, train: data.train, test: data.test)
    run.detectsAnomalies = options.flag("detect-anomaly")
    if let group {
      // Every process must start the same run: a difference ends them all.
      try group.requireAgreement(
        on: agreementSettings(configuration, run, testCount: data.test.count, resume: resume))
      run.distribute(over: group)
    }
    if let note = run.loadNote { try say(note) }
    if let resume { try say("resuming \(resume.path) after \(epochs(run.completedEpochs))") }
    try say(
      "training \(configuration.model.rawValue) on \(grouped(run.trainingCount)) "
        + "\(configuration.dataset.title) images: \(epochs(configuration.epochs)), "
        + "batch \(configuration.batchSize), \(configuration.optimizer.rawValue) at "
        + "\(configuration.baseLearningRate) with a \(configuration.schedule.rawValue) schedule, "
        + (configuration.maximumShift == 0
          ? "no shifts" : "shifts up to \(pixels(configuration.maximumShift))")
        + (configuration.flipsHorizontally ? ", left-right flips" : "")
        + ", seed \(configuration.seed), "
        + counted(ComputeSettings.threadCount, "thread")
        + (group.map { $0.size == 1 ? " in 1 process" : " in each of \($0.size) processes" }
          ?? ""))
    let bar = ProgressBar()
    let start = DispatchTime.now().uptimeNanoseconds
    while run.completedEpochs < configuration.epochs {
      let record: EpochRecord
      do {
        record = try run.trainEpoch { bar.update($0, epochs: configuration.epochs) }
      } catch let error as DivergenceError {
        bar.finish()
        let kept =
          FileManager.default.fileExists(atPath: checkpoint.path)
          ? "the checkpoint of epoch \(run.completedEpochs) is kept in \(checkpoint.path)"
          : "no checkpoint was written"
        printError(
          "\(error); \(kept)"
            + (error.rule != nil || run.detectsAnomalies
              ? "" : "; --detect-anomaly names the first operation"))
        if folder != nil, run.completedEpochs > 0 {
          try say(bestLine(run, checkpoint: checkpoint, best: best))
        }
        succeeded = run.completedEpochs > 0
        return 1
      }
      bar.finish()
      if folder != nil {
        try run.save(to: checkpoint)
        succeeded = true
        // A fresh run's first epoch is the best so far: best.safetensors
        // never holds another run's model past it.
        if run.history.dropLast().allSatisfy({ $0.testAccuracy < record.testAccuracy }) {
          try run.save(to: best)
        }
      }
      try say(
        String(
          format: "epoch %d/%d  loss %.4f  train %.2f%%  test %.2f%%  lr %.4g  %.1f s",
          record.epoch, configuration.epochs, record.trainingLoss, 100 * record.trainingAccuracy,
          100 * record.testAccuracy, record.learningRate, record.seconds))
    }
    succeeded = true
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    if let folder { try writePictures(of: run, to: folder) }
    let final = run.history.last!
    try say(
      String(format: "test accuracy %.2f%% after ", 100 * final.testAccuracy)
        + epochs(final.epoch) + " (trained " + duration(seconds) + " in this invocation)")
    try say(
      "wrote \(folder?.url.path ?? "")/{checkpoint.safetensors, best.safetensors, curves.svg, "
        + "filters.png, activations.png}")
    try say(bestLine(run, checkpoint: checkpoint, best: best))
    return 0
  }

  /// What every process of a distributed run must agree on: the settings
  /// of the run, the data's size and the checkpoint it resumes.
  func agreementSettings(
    _ configuration: TrainingConfiguration, _ run: TrainingRun, testCount: Int, resume: URL?
  ) -> [(name: String, value: String)] {
    [
      ("model", configuration.model.rawValue), ("dataset", configuration.dataset.rawValue),
      ("training images", String(run.trainingCount)), ("test images", String(testCount)),
      ("limit", configuration.trainingLimit.map(String.init) ?? "none"),
      ("batch size", String(configuration.batchSize)), ("epochs", String(configuration.epochs)),
      ("seed", String(configuration.seed)), ("optimizer", configuration.optimizer.rawValue),
      ("learning rate", String(configuration.baseLearningRate)),
      ("schedule", configuration.schedule.rawValue),
      ("shift", String(configuration.maximumShift)),
      ("flips", String(configuration.flipsHorizontally)),
      (
        "resumed checkpoint",
        resume.map { _ in
          "\(epochs(run.completedEpochs)), checksum \(run.resumedChecksum ?? "none")"
        } ?? "none"
      ),
    ]
  }

  /// Which file holds the run's best test accuracy: the last checkpoint
  /// when its epoch is the best, `best.safetensors` otherwise.
  func bestLine(_ run: TrainingRun, checkpoint: URL, best: URL) -> String {
    guard
      let top = run.history.first(where: { record in
        run.history.allSatisfy { $0.testAccuracy <= record.testAccuracy }
      })
    else { return "no epoch completed" }
    let line = String(format: "best test accuracy %.2f%% after ", 100 * top.testAccuracy)
    if top.epoch == run.history.last?.epoch {
      return line + "epoch \(top.epoch), the last: \(checkpoint.path)"
    }
    guard FileManager.default.fileExists(atPath: best.path) else {
      return line + "epoch \(top.epoch), whose checkpoint was not kept"
    }
    return line + "epoch \(top.epoch): \(best.path)"
  }

  /// The configuration of a fresh run, from the options.
  func newConfiguration(_ options: Arguments) throws -> TrainingConfiguration {
    var configuration = TrainingConfiguration(
      model: try options.choice("model", default: ModelName.lenet5))
    try configuration.model.requireImageClassifier()
    configuration.dataset = try options.choice("dataset", default: DatasetName.mnist)
    // NumPy images may have any size: the run checks the model against them once loaded.
    guard trainableModels.contains(configuration.model) || configuration.dataset == .npy else {
      throw CommandLineError(
        "--model \(configuration.model.rawValue) takes "
          + configuration.model.inputShape.map(String.init).joined(separator: "×")
          + " inputs, not MNIST's 1×28×28 digits; choose one of "
          + trainableModels.map(\.rawValue).joined(separator: ", "))
    }
    configuration.dataDirectory = options.string("data").map {
      URL(fileURLWithPath: $0).standardizedFileURL.path
    }
    // The checkpoint records where NumPy arrays came from, so that
    // `evaluate` finds them from any folder.
    if configuration.dataset == .npy, configuration.dataDirectory == nil {
      configuration.dataDirectory = DatasetName.npy.defaultDirectory.standardizedFileURL.path
    }
    if options.string("limit") != nil {
      configuration.trainingLimit = try options.int(
        "limit", default: 0, range: TrainingConfiguration.trainingLimitRange)
    }
    configuration.epochs = try options.int(
      "epochs", default: configuration.epochs, range: TrainingConfiguration.epochRange)
    configuration.batchSize = try options.int(
      "batch-size", default: configuration.batchSize, range: TrainingConfiguration.batchSizeRange)
    configuration.optimizer = try options.choice("optimizer", default: configuration.optimizer)
    configuration.schedule = try options.choice("schedule", default: configuration.schedule)
    configuration.learningRate = try options.double(
      "lr", default: nil, range: TrainingConfiguration.learningRateRange)
    configuration.seed = UInt64(try options.int("seed", default: 1, range: 0...Int.max))
    configuration.maximumShift = try options.int(
      "shift", default: configuration.maximumShift, range: TrainingConfiguration.shiftRange)
    configuration.flipsHorizontally = try options.yesOrNo(
      "flip", default: configuration.flipsHorizontally)
    try configuration.validate()
    return configuration
  }

  /// The configuration saved in the checkpoint at `url`, extended to
  /// `--epochs`, which must go beyond the epochs it completed.
  func savedConfiguration(_ url: URL, _ options: Arguments) throws -> TrainingConfiguration {
    let conflicting = Self.runSettings.filter { options.string($0) != nil }
    guard conflicting.isEmpty else {
      throw CommandLineError(
        "--resume takes the run's settings from the checkpoint; drop "
          + conflicting.map { "--" + $0 }.joined(separator: ", "))
    }
    var (configuration, completed) = try TrainingRun.savedState(at: url)
    if options.string("epochs") != nil {
      configuration.epochs = try options.int(
        "epochs", default: 0, range: TrainingConfiguration.epochRange)
    }
    guard configuration.epochs > completed else {
      throw CommandLineError(
        "\(url.path) has completed \(epochs(completed)); pass --epochs with more than "
          + "\(completed) to train on")
    }
    return configuration
  }

  /// The loss and accuracy curves, the first layer's filters and its
  /// activation maps for the first test image.
  func writePictures(of run: TrainingRun, to folder: OutputFolder) throws {
    try TrainingPictures(run).write(to: folder)
  }
}

/// `12 epochs`, `1 epoch`.
func epochs(_ count: Int) -> String { count == 1 ? "1 epoch" : "\(count) epochs" }

/// `2 pixels`, `1 pixel`.
func pixels(_ count: Int) -> String { counted(count, "pixel") }

/// `2 threads`, `1 thread`: `count` and `noun`, plural unless `count` is 1.
func counted(_ count: Int, _ noun: String) -> String {
  count == 1 ? "1 \(noun)" : "\(count) \(noun)s"
}

/// `8.4 s`, `2.5 min`.
func duration(_ seconds: Double) -> String {
  seconds < 60 ? String(format: "%.1f s", seconds) : String(format: "%.1f min", seconds / 60)
}

/// Whether two paths name the same file.
func sameFile(_ a: URL, _ b: URL) -> Bool {
  a.standardizedFileURL.resolvingSymlinksInPath().path
    == b.standardizedFileURL.resolvingSymlinksInPath().path
}

/// `cortex evaluate CHECKPOINT`: test accuracy and a confusion matrix.
struct EvaluateCommand: Command {
  let name = "evaluate"
  let abstract = "Test accuracy and confusion matrix of a checkpoint"
  let help = """
    usage: cortex evaluate CHECKPOINT [--data DIR] [--predictions FILE.npy] [--threads N]

    Loads a checkpoint written by `cortex train` and prints its accuracy on
    the test set of the data it was trained on and the confusion matrix
    (rows: the true class, columns: the prediction).

    options:
      --data DIR                a folder holding the data set's files instead
                                of the one the run read
      --predictions FILE.npy    also write the model's logits for every test
                                image, in order: a float32 NumPy array
                                [N, classes]
      --threads N               compute threads (default: the number of cores)
    """

  func run(_ arguments: [String]) throws -> Int32 {
    let options = try Arguments(
      arguments, valueOptions: ["data", "threads", "predictions"], flagOptions: [])
    guard options.positional.count == 1 else {
      throw CommandLineError(
        "evaluate takes one checkpoint path, found \(options.positional.count) arguments")
    }
    try applyThreads(options)
    let url = URL(fileURLWithPath: options.positional[0])
    var configuration = try TrainingRun.savedState(at: url).configuration
    if let directory = options.string("data") { configuration.dataDirectory = directory }
    let data = try loadData(configuration, trainingSet: false)
    // The test set stands in for the training set: evaluation uses the
    // normalization saved in the checkpoint and trains nothing.
    let run = try TrainingRun.resume(from: url, train: data.test, test: data.test)
    if let note = run.loadNote { try say(note) }
    let evaluation = run.evaluate()
    try say(
      "\(run.configuration.model.rawValue) after \(epochs(run.completedEpochs)): "
        + String(
          format: "test accuracy %.2f%% (%d of %d)", 100 * evaluation.accuracy, evaluation.correct,
          evaluation.total))
    try say(evaluation.description)
    if let path = options.string("predictions") {
      let logits = run.testLogits()
      try logits.writeNumPy(to: URL(fileURLWithPath: path))
      try say(
        "wrote the logits of \(grouped(logits.shape[0])) test images, float32 "
          + "[\(logits.shape.map(String.init).joined(separator: ", "))], to \(path)")
    }
    return 0
  }
}

/// `cortex summary MODEL`: the layer table of a zoo model.
struct SummaryCommand: Command {
  let name = "summary"
  let abstract = "Layer-by-layer output shapes, parameters and activation memory of a model"
  var help: String {
    """
    usage: cortex summary MODEL [--input C,H,W]

    Prints one row per layer of a zoo model with its output shape (W×H×D),
    parameters and activations, then the totals. The last line is
    `Total parameters: N`. The table comes from the layers' shapes alone:
    no weights are drawn.

    models: \(ModelName.allCases.map(\.rawValue).joined(separator: ", "))

    options:
      --input C,H,W   the input shape of one example (default: the model's own);
                      for gpt-tiny, the number of tokens (at most 64)
    """
  }

  func run(_ arguments: [String]) throws -> Int32 {
    let options = try Arguments(arguments, valueOptions: ["input"], flagOptions: [])
    guard options.positional.count == 1 else {
      throw CommandLineError(
        "summary takes one model name, found \(options.positional.count) arguments; models: "
          + ModelName.allCases.map(\.rawValue).joined(separator: ", "))
    }
    guard let model = ModelName(rawValue: options.positional[0]) else {
      throw CommandLineError(
        "unknown model '\(options.positional[0])'; models: "
          + ModelName.allCases.map(\.rawValue).joined(separator: ", "))
    }
    var input = model.inputShape
    if let text = options.string("input") {
      let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
        Int($0.trimmingCharacters(in: .whitespaces))
      }
      guard !parts.isEmpty, parts.count <= 3, parts.allSatisfy({ ($0 ?? 0) > 0 }) else {
        throw CommandLineError(
          "--input expects up to three positive sizes like 3,224,224, found '\(text)'")
      }
      let sizes = parts.map { $0! }
      if let large = sizes.first(where: { $0 > 65_536 }) {
        throw CommandLineError(
          "--input sizes must be at most 65,536, found \(grouped(large)) in '\(text)'")
      }
      input = sizes
    }
    try say(try model.summary(inputShape: input).description)
    return 0
  }
}

/// Sets ``ComputeSettings/threadCount`` from `--threads`.
func applyThreads(_ options: Arguments) throws {
  ComputeSettings.threadCount = try options.int(
    "threads", default: ComputeSettings.threadCount, range: 1...256)
}

/// The training and test sets a configuration names, from its data
/// folder or the data set's default place; with `trainingSet` false, the
/// test set stands in for both.
func loadData(_ configuration: TrainingConfiguration, trainingSet: Bool = true) throws -> (
  train: Dataset, test: Dataset
) {
  let directory = configuration.dataDirectory.map { URL(fileURLWithPath: $0, isDirectory: true) }
  let test = try configuration.dataset.load(split: .test, directory: directory)
  return (
    trainingSet ? try configuration.dataset.load(split: .train, directory: directory) : test, test
  )
}

/// A one-line progress bar on the terminal, redrawn at most ten times a
/// second; silent when standard error is not a terminal.
final class ProgressBar {
  private let isTerminal = isatty(STDERR_FILENO) != 0 && DistributedRun.isPrimary
  private var lastDraw: UInt64 = 0

  func update(_ progress: TrainingProgress, epochs: Int) {
    guard isTerminal else { return }
    let now = DispatchTime.now().uptimeNanoseconds
    guard now - lastDraw > 100_000_000 || progress.batch == progress.batches else { return }
    lastDraw = now
    let width = 24
    let filled = width * progress.batch / max(progress.batches, 1)
    let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
    let left = Int(progress.secondsLeft.rounded())
    let line =
      "\r\u{1B}[Kepoch \(progress.epoch)/\(epochs) [\(bar)] "
      + String(
        format: "%3d%%  loss %.4f  acc %.2f%%  %.0f ex/s  ETA %d:%02d",
        100 * progress.batch / max(progress.batches, 1), progress.loss, 100 * progress.accuracy,
        progress.examplesPerSecond, left / 60, left % 60)
    try? write(line, to: STDERR_FILENO, name: "standard error")
  }

  /// Clears the bar's line.
  func finish() {
    guard isTerminal else { return }
    try? write("\r\u{1B}[K", to: STDERR_FILENO, name: "standard error")
  }
}
