import Cortex
import Foundation

/// `cortex soak`: many LeNet-5 training steps in a row, watching the
/// resident memory, to show that a long run does not grow.
struct SoakCommand: Command {
  let name = "soak"
  let abstract = "Train LeNet-5 for many steps and report resident memory"
  let help = """
    usage: cortex soak [--steps N] [--every N] [--warmup N] [--batch N]
                       [--threads N] [--synthetic]

    Runs LeNet-5 (Zoo.lenet5, tanh) training steps with SGD (learning rate
    0.01, momentum 0.9) on the bundled MNIST training set, reshuffled every
    epoch, and prints the step, the mean loss since the last report, the
    steps per second and the resident set size (RSS, from /proc/self/statm;
    "unavailable" on other systems) every N steps. At the end it prints the
    smallest and largest RSS reported after the warm-up and their spread,
    (max − min) / min.

    options:
      --steps N     training steps, 1...10000000 (default 10000)
      --every N     report every N steps (default 500)
      --warmup N    steps left out of the min/max (default 1000)
      --batch N     examples per step (default 64)
      --threads N   ComputeSettings.threadCount (default \(ComputeSettings.threadCount))
      --synthetic   random 1×28×28 images and labels instead of MNIST
    """

  func run(_ arguments: [String]) throws -> Int32 {
    let options = try Arguments(
      arguments, valueOptions: ["steps", "every", "warmup", "batch", "threads"],
      flagOptions: ["synthetic"])
    guard options.positional.isEmpty else {
      throw CommandLineError("soak takes no positional arguments, found \(options.positional)")
    }
    let steps = try options.int("steps", default: 10_000, range: 1...10_000_000)
    let every = try options.int("every", default: 500, range: 1...10_000_000)
    let warmup = try options.int("warmup", default: 1000, range: 0...10_000_000)
    let batchSize = try options.int("batch", default: 64, range: 1...65_536)
    ComputeSettings.threadCount = try options.int(
      "threads", default: ComputeSettings.threadCount, range: 1...256)

    let data: Dataset
    if options.flag("synthetic") {
      let count = 60_000
      data = Dataset(
        images: Tensor<Float>.randomUniform([count, 1, 28, 28], seed: 1),
        labels: (0..<count).map { ($0 * 7919) % 10 })
    } else {
      data = try MNIST.loadBundled(split: .train)
    }
    let trainer = Trainer<Float>(
      model: ModelName.lenet5.build(), optimizer: SGD<Float>(learningRate: 0.01, momentum: 0.9))
    try say(
      "LeNet-5, batch \(batchSize), \(counted(ComputeSettings.threadCount, "thread")), "
        + "\(counted(steps, "step")) on "
        + (options.flag("synthetic") ? "synthetic data" : "MNIST (\(data.count) examples)"))
    try say(line("step", "loss", "steps/s", "RSS MiB"))
    try say(line("0", "-", "-", residentMegabytes(residentBytes())))
    fflush(nil)

    var reported: [Int] = []
    var lossSum = 0.0
    var lossCount = 0
    var epoch: UInt64 = 0
    var batches = data.batches(size: batchSize, seed: epoch, dropLast: true).makeIterator()
    let clock = ContinuousClock()
    var intervalStart = clock.now
    for step in 1...steps {
      guard let batch = batches.next() ?? nextEpoch(&epoch, &batches, data, batchSize) else {
        throw CommandLineError("batch size \(batchSize) is larger than the data set")
      }
      let (loss, _) = trainer.step(inputs: batch.images, labels: batch.labels)
      lossSum += loss
      lossCount += 1
      if step % every == 0 || step == steps {
        let elapsed = clock.now - intervalStart
        let seconds =
          Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let rss = residentBytes()
        if step > warmup, let rss { reported.append(rss) }
        try say(
          line(
            String(step), String(format: "%.4f", lossSum / Double(lossCount)),
            String(format: "%.1f", Double(lossCount) / seconds), residentMegabytes(rss)))
        fflush(nil)
        lossSum = 0
        lossCount = 0
        intervalStart = clock.now
      }
    }
    if let low = reported.min(), let high = reported.max() {
      let spread = Double(high - low) / Double(low) * 100
      try say(
        "after \(warmup) warm-up steps: RSS min \(residentMegabytes(low)) MiB, max "
          + "\(residentMegabytes(high)) MiB, spread \(String(format: "%.2f", spread))%")
    } else {
      try say("no RSS reading after the warm-up")
    }
    return 0
  }

  private func nextEpoch(
    _ epoch: inout UInt64, _ batches: inout Dataset.Batches.Iterator, _ data: Dataset,
    _ batchSize: Int
  ) -> Dataset? {
    epoch += 1
    batches = data.batches(size: batchSize, seed: epoch, dropLast: true).makeIterator()
    return batches.next()
  }

  private func line(_ a: String, _ b: String, _ c: String, _ d: String) -> String {
    [(a, 8), (b, 10), (c, 10), (d, 10)].map { text, width in
      String(repeating: " ", count: max(0, width - text.count)) + text
    }.joined()
  }

  private func residentMegabytes(_ bytes: Int?) -> String {
    bytes.map { String(format: "%.1f", Double($0) / 1_048_576) } ?? "unavailable"
  }

  /// The resident set size of this process, or `nil` where it cannot be
  /// read.
  private func residentBytes() -> Int? {
    #if os(Linux)
      guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else {
        return nil
      }
      let fields = text.split(separator: " ")
      guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
      return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    #else
      return nil
    #endif
  }
}
