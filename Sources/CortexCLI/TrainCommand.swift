import Cortex
import Foundation

/// `cortex train`: trains a zoo model on MNIST, with a progress bar, a
/// checkpoint after every epoch and pictures of what the model learned.
struct TrainCommand: Command {
  let name = "train"
  let abstract = "Train a model on the bundled MNIST (LeNet-5 by default)"
  var help: String {
    """
    usage: cortex train [options]

    Trains a model on the MNIST digits bundled with Cortex and measures its
    test accuracy after every epoch. Writes into the output folder:
      checkpoint.safetensors  the model and optimizer, after every epoch
                              (safetensors; the model's tensors load into
                              PyTorch under their state-dict names)
      curves.svg              training loss and accuracy, test accuracy
      filters.png             the first layer's filters
      activations.png         the first layer's activation maps of a test digit

    options:
      --model NAME         \(trainableModels.map(\.rawValue).joined(separator: ", ")) (default lenet5)
      --epochs N           epochs to train (default 12)
      --batch-size N       examples per step (default 64)
      --lr RATE            base learning rate (default 0.05 for sgd, 0.001 for
                           adam and rmsprop, 1 for adadelta)
      --optimizer NAME     sgd (Nesterov momentum 0.9, weight decay 5e-4; the
                           default), adam, rmsprop, adadelta
      --schedule NAME      cosine (the default), step, plateau, constant
      --seed N             seeds the weights, the order of examples, their
                           shifts and dropout (default 1)
      --shift N            shift each training digit by up to N pixels, anew
                           every epoch (default 2; 0 for none)
      --threads N          compute threads (default: the number of cores)
      --out DIR            output folder (default runs/MODEL)
      --resume CHECKPOINT  continue a saved run; --epochs may extend it, the
                           other settings come from the checkpoint
      --data DIR           a folder holding the four MNIST files (.gz or not)
                           instead of the bundled copy
      --limit N            train on the first N training images only
      --distributed        one process of a data-parallel run under mpirun
                           (implied when mpirun started it): --batch-size is
                           the global batch, split across the processes;
                           only rank 0 prints and writes
    """
  }

  /// The zoo models that take MNIST's 1×28×28 digits (or a crop of them).
  var trainableModels: [ModelName] {
    ModelName.allCases.filter {
      $0.inputShape.count == 3 && $0.inputShape[0] == 1 && $0.inputShape[1] <= 28
    }
  }

  func run(_ arguments: [String]) throws -> Int32 {
    let options = try Arguments(
      arguments,
      valueOptions: [
        "model", "epochs", "batch-size", "lr", "optimizer", "schedule", "seed", "shift", "threads",
        "out", "resume", "data", "limit",
      ], flagOptions: ["distributed"])
    guard options.positional.isEmpty else {
      throw CommandLineError("train takes no positional arguments, found \(options.positional)")
    }
    let epochs = try options.int("epochs", default: 12, range: 1...10_000)
    let limit = try options.int("limit", default: 60_000, range: 1...60_000)
    let group = try DistributedRun.start(options)
    try applyThreads(options)
    var data = try loadMNIST(options)
    if limit < data.train.count { data.train = data.train.prefix(limit) }

    let run: TrainingRun
    if let path = options.string("resume") {
      let conflicting = ["model", "batch-size", "lr", "optimizer", "schedule", "seed", "shift"]
        .filter {
          options.string($0) != nil
        }
      guard conflicting.isEmpty else {
        throw CommandLineError(
          "--resume takes the run's settings from the checkpoint; drop "
            + conflicting.map { "--" + $0 }.joined(separator: ", "))
      }
      run = try TrainingRun.resume(
        from: URL(fileURLWithPath: path), train: data.train, test: data.test,
        epochs: options.string("epochs") == nil ? nil : epochs)
      say("resuming \(path) after epoch \(run.completedEpochs)")
    } else {
      var configuration = TrainingConfiguration()
      configuration.model = try options.choice("model", default: ModelName.lenet5)
      guard trainableModels.contains(configuration.model) else {
        throw CommandLineError(
          "--model \(configuration.model.rawValue) takes "
            + configuration.model.inputShape.map(String.init).joined(separator: "×")
            + " inputs, not MNIST's 1×28×28 digits; choose one of "
            + trainableModels.map(\.rawValue).joined(separator: ", "))
      }
      configuration.epochs = epochs
      configuration.batchSize = try options.int("batch-size", default: 64, range: 1...60_000)
      configuration.optimizer = try options.choice("optimizer", default: OptimizerKind.sgd)
      configuration.schedule = try options.choice("schedule", default: ScheduleKind.cosine)
      configuration.learningRate = try options.double("lr", default: nil, range: 1e-9...100)
      configuration.seed = UInt64(try options.int("seed", default: 1, range: 0...Int.max))
      configuration.maximumShift = try options.int("shift", default: 2, range: 0...8)
      run = try TrainingRun(configuration, train: data.train, test: data.test)
    }
    if let group { run.distribute(over: group) }
    let configuration = run.configuration
    let out = URL(
      fileURLWithPath: options.string("out") ?? "runs/\(configuration.model.rawValue)",
      isDirectory: true)
    let writes = DistributedRun.isPrimary
    if writes { try createDirectory(out) }
    let checkpoint = out.appendingPathComponent("checkpoint.safetensors")

    say(
      "training \(configuration.model.rawValue) on \(data.train.count) MNIST digits: "
        + "\(configuration.epochs) epochs, batch \(configuration.batchSize), "
        + "\(configuration.optimizer.rawValue) at \(configuration.baseLearningRate) with a "
        + "\(configuration.schedule.rawValue) schedule, shifts up to \(configuration.maximumShift) "
        + "pixels, seed \(configuration.seed), "
        + "\(ComputeSettings.threadCount) threads"
        + (group.map { " in each of \($0.size) processes" } ?? ""))
    let bar = ProgressBar()
    let start = DispatchTime.now().uptimeNanoseconds
    while run.completedEpochs < configuration.epochs {
      let record = run.trainEpoch { bar.update($0, epochs: configuration.epochs) }
      bar.finish()
      say(
        String(
          format: "epoch %d/%d  loss %.4f  train %.2f%%  test %.2f%%  lr %.4g  %.1f s",
          record.epoch, configuration.epochs, record.trainingLoss, 100 * record.trainingAccuracy,
          100 * record.testAccuracy, record.learningRate, record.seconds))
      if writes { try run.save(to: checkpoint) }
    }
    let minutes = Double(DispatchTime.now().uptimeNanoseconds - start) / 6e10
    if writes { try writePictures(of: run, to: out) }
    let final = run.history.last!
    say(
      String(format: "test accuracy %.2f%% after %d epochs", 100 * final.testAccuracy, final.epoch)
        + String(format: " (this invocation: %.1f min)", minutes))
    say("wrote \(out.path)/{checkpoint.safetensors, curves.svg, filters.png, activations.png}")
    return 0
  }

  /// The loss and accuracy curves, the first layer's filters and its
  /// activation maps for the first test digit.
  func writePictures(of run: TrainingRun, to out: URL) throws {
    let history = run.history
    var loss: (x: [Double], y: [Double]) = ([], [])
    for record in history {
      for (i, value) in record.lossCurve.enumerated() {
        loss.x.append(Double(record.epoch - 1) + Double(i + 1) / Double(record.lossCurve.count))
        loss.y.append(value)
      }
    }
    let epochs = history.map { Double($0.epoch) }
    let chart = LineChart(
      title: "\(run.configuration.model.rawValue) on MNIST", xLabel: "epoch", yLabel: "",
      series: [
        .init(name: "training loss", x: loss.x, y: loss.y),
        .init(name: "training accuracy", x: epochs, y: history.map(\.trainingAccuracy)),
        .init(name: "test accuracy", x: epochs, y: history.map(\.testAccuracy)),
      ])
    try chart.write(to: out.appendingPathComponent("curves.svg"))

    let (digit, _) = run.testExample(0)
    var activation = digit
    var firstLayerOutput: Tensor<Float>?
    var passedWeights = false
    withLearningPhase(.inference) {
      withoutRecording {
        for layer in run.model.layers {
          if passedWeights && !layer.isElementwise {
            firstLayerOutput = activation
            break
          }
          activation = layer(activation)
          if !layer.parameters.isEmpty { passedWeights = true }
        }
      }
    }
    for (name, parameter) in run.model.namedParameters where name.hasSuffix("weight") {
      var filters = parameter.value
      if filters.rank == 2 {
        // A dense first layer's rows are images of the input's size.
        filters = filters.reshaped(to: [filters.shape[0]] + run.configuration.model.inputShape)
      }
      try Image.filterGrid(filters, scale: 8).writePNG(
        to: out.appendingPathComponent("filters.png"))
      break
    }
    if let maps = firstLayerOutput, maps.rank == 4 {
      try Image.activationGrid(maps.reshaped(to: Array(maps.shape.dropFirst())), scale: 4)
        .writePNG(to: out.appendingPathComponent("activations.png"))
    }
  }
}

/// `cortex evaluate CHECKPOINT`: test accuracy and a confusion matrix.
struct EvaluateCommand: Command {
  let name = "evaluate"
  let abstract = "Test accuracy and confusion matrix of a checkpoint"
  let help = """
    usage: cortex evaluate CHECKPOINT [--data DIR] [--threads N]

    Loads a checkpoint written by `cortex train` and prints its accuracy on
    the MNIST test set and the confusion matrix (rows: the true digit,
    columns: the prediction).

    options:
      --data DIR    a folder holding the four MNIST files instead of the
                    bundled copy
      --threads N   compute threads (default: the number of cores)
    """

  func run(_ arguments: [String]) throws -> Int32 {
    let options = try Arguments(arguments, valueOptions: ["data", "threads"], flagOptions: [])
    guard options.positional.count == 1 else {
      throw CommandLineError(
        "evaluate takes one checkpoint path, found \(options.positional.count) arguments")
    }
    try applyThreads(options)
    let data = try loadMNIST(options, trainingSet: false)
    // The test set stands in for the training set: evaluation uses the
    // normalization saved in the checkpoint and trains nothing.
    let run = try TrainingRun.resume(
      from: URL(fileURLWithPath: options.positional[0]), train: data.test, test: data.test)
    let evaluation = run.evaluate()
    print(
      "\(run.configuration.model.rawValue) after \(run.completedEpochs) epochs: "
        + String(
          format: "test accuracy %.2f%% (%d of %d)", 100 * evaluation.accuracy, evaluation.correct,
          evaluation.total))
    print(evaluation)
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
    `Total parameters: N`.

    models: \(ModelName.allCases.map(\.rawValue).joined(separator: ", "))

    options:
      --input C,H,W   the input shape of one example (default: the model's own)
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
      guard !parts.isEmpty, parts.count <= 3, parts.allSatisfy({ ($0 ?? 0) > 0 && $0! <= 65_536 })
      else {
        throw CommandLineError(
          "--input expects up to three positive sizes like 3,224,224, found '\(text)'")
      }
      input = parts.map { $0! }
    }
    print(try model.build(Float.self).summary(inputShape: input).description)
    return 0
  }
}

/// Sets ``ComputeSettings/threadCount`` from `--threads`.
func applyThreads(_ options: Arguments) throws {
  ComputeSettings.threadCount = try options.int(
    "threads", default: ComputeSettings.threadCount, range: 1...256)
}

/// The MNIST training and test sets, from `--data` or the bundled copy.
func loadMNIST(_ options: Arguments, trainingSet: Bool = true) throws -> (
  train: Dataset, test: Dataset
) {
  func load(_ split: MNIST.Split) throws -> Dataset {
    if let directory = options.string("data") {
      return try MNIST.load(directory: URL(fileURLWithPath: directory), split: split)
    }
    return try MNIST.loadBundled(split: split)
  }
  let test = try load(.test)
  return (trainingSet ? try load(.train) : test, test)
}

/// Creates `url` and its parents, or throws saying why not.
func createDirectory(_ url: URL) throws {
  do {
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  } catch {
    throw CommandLineError(
      "cannot create the output folder \(url.path): \(error.localizedDescription)")
  }
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
    FileHandle.standardError.write(Data(line.utf8))
  }

  /// Clears the bar's line.
  func finish() {
    guard isTerminal else { return }
    FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
  }
}
