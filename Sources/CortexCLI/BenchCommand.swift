import Cortex
import Foundation

/// `cortex bench`: times the kernels and training steps that matter, through
/// the public API, and prints medians.
struct BenchCommand: Command {
  let name = "bench"
  let abstract = "Time GEMM, convolution, pooling and training steps (medians)"
  let help = """
    usage: cortex bench [--json] [--repeats N] [--threads N] [--filter TEXT]

    Times each row through the public API (Tensor operations, their
    pullbacks, Trainer.step), after warm-up runs, and prints the median
    wall-clock time of N runs in milliseconds. Rows, in order:

      sgemm_1024                matmul 1024×1024 · 1024×1024, Float
      conv_cifar1_fwdbwd        conv2d 64×3×32×32, 32 filters 5×5, pad 2,
                                forward + backward (input, filter, bias)
      conv_c32_16_fwdbwd        conv2d 64×32×16×16, 64 filters 3×3, pad 1
      conv_resnet56_fwdbwd      conv2d 8×64×56×56, 64 filters 3×3, pad 1
      maxpool_fwdbwd            maxPool2d 2×2 stride 2 on 64×32×32×32,
                                forward + backward
      lenet5_step_b64           Zoo.lenet5 training step (Trainer, softmax
                                cross-entropy, SGD momentum 0.9), batch 64
      convnetjs_cifar_step_b64  Zoo.convNetJSCIFAR10 training step, batch 64
      attention_fwdbwd          scaledDotProductAttention, query, key and
                                value 64×4×50×32, forward + backward
      vit_mnist_step_b128       Zoo vit-mnist training step (Trainer, softmax
                                cross-entropy, AdamW 0.002), batch 128
      gpt_tiny_step_b32         Zoo gpt-tiny training step (Trainer, softmax
                                cross-entropy at all 64 positions, AdamW
                                0.001), batch 32 of 64 random tokens in
                                0..<128 with the next tokens as labels
      layernorm_fwdbwd          layerNorm 4096×256 with weight and bias,
                                forward + backward (input, weight, bias)
      gelu_fwdbwd               gelu (exact) 4096×1024, forward + backward
      softmax_fwdbwd            softmax 12800×50 along the last axis,
                                forward + backward
      per_example_grads_mlp     DP-SGD's gradient: per-example gradients of
                                a 64-128-128-10 ReLU MLP's cross-entropy
                                (vmap of gradient) on a batch of 64, each
                                clipped to norm 1, summed
      sgemm_1024_1thread        sgemm_1024 on one thread
      fma_peak                  multiply-adds on registers alone, one
                                thread: the limit of the instruction set
      add_64x128                x + y on two [64, 128] Float tensors
      allreduce_lenet5          all-reduce of LeNet-5's 61,706 gradients
      allreduce_lenet5_overlap  a data-parallel LeNet-5 training step,
                                global batch 64, gradients all-reduced in
                                buckets during the backward pass
      allreduce_lenet5_serial   the same, all buckets after the backward
      allreduce_cifar           all-reduce of the ConvNetJS CIFAR-10 net's
                                22,466 gradients
      allreduce_cifar_overlap, allreduce_cifar_serial
                                its data-parallel steps, as for LeNet-5
      allreduce_resnet18        all-reduce of ResNet-18's 11,689,512 gradients
      resnet18_step_b32         Zoo.resNet18 training step, batch 32 of
                                3×224×224 (seconds per run: it runs only
                                when --filter selects it)

    The allreduce rows need `mpirun -np 2 cortex bench --filter allreduce`
    (each process then uses its share of the cores); elsewhere they are
    skipped with a note. Under mpirun only rank 0 prints.

    The first line names the instruction set in use (the widest the CPU
    has; CORTEX_ISA=avx512|avx2|baseline forces a narrower one) and the
    core count.

    GFLOP/s counts 2mnk for a GEMM, 2 per multiply-add for fma_peak and, for a convolution's forward +
    backward, 3 × the forward's 2·N·K·C·Fh·Fw·H2·W2 (the input and the
    filter gradients each cost as much as the forward; the bias gradient
    and col2im are not counted). Pooling and training steps print "-"
    (null in JSON): their time is not dominated by multiply-adds.

    options:
      --json          print only a JSON array of {"name", "shape", "threads",
                      "median_ms", "gflops", "isa"}
      --repeats N     timed runs per row, 1...10000 (default 30)
      --threads N     threads for every row but the last, 1...256
                      (default: ComputeSettings.threadCount, here \(ComputeSettings.threadCount))
      --filter TEXT   only rows whose name contains TEXT
    """

  func run(_ arguments: [String]) throws -> Int32 {
    let options = try Arguments(
      arguments, valueOptions: ["repeats", "threads", "filter"], flagOptions: ["json"])
    guard options.positional.isEmpty else {
      throw CommandLineError("bench takes no positional arguments, found \(options.positional)")
    }
    let repeats = try options.int("repeats", default: 30, range: 1...10_000)
    _ = try DistributedRun.start(options)
    let threads = try options.int(
      "threads", default: ComputeSettings.threadCount, range: 1...256)
    let filter = options.string("filter")?.lowercased()
    let rows = (BenchRow.all(threads: threads) + BenchRow.allReduceRows(threads: threads)).filter {
      filter.map($0.name.lowercased().contains) ?? !$0.runsOnlyWhenNamed
    }
    guard !rows.isEmpty else { throw CommandLineError("no row matches '\(filter ?? "")'") }
    let json = options.flag("json")
    let print: (String) -> Void = { if DistributedRun.isPrimary { Swift.print($0) } }
    let isa = ComputeSettings.instructionSet
    if !json {
      print(
        "instruction set: \(isa), "
          + "\(ProcessInfo.processInfo.activeProcessorCount) cores")
      print(tableLine("op", "shape", "threads", "median ms", "GFLOP/s"))
    }
    var results: [BenchResult] = []
    let savedThreads = ComputeSettings.threadCount
    defer { ComputeSettings.threadCount = savedThreads }
    for row in rows {
      ComputeSettings.threadCount = row.threads
      let result = row.measure(repeats: repeats)
      results.append(result)
      if !json {
        guard let median = result.medianMilliseconds else {
          print(tableLine(result.name, result.shape, String(result.threads), "", "") + result.note!)
          continue
        }
        print(
          tableLine(
            result.name, result.shape, String(result.threads),
            String(format: median < 0.1 ? "%.5f" : "%.3f", median),
            result.gflops.map { String(format: "%.1f", $0) } ?? "-"))
      }
    }
    if json { print(jsonArray(results, isa: isa)) }
    return 0
  }

  private func tableLine(
    _ name: String, _ shape: String, _ threads: String, _ median: String, _ gflops: String
  ) -> String {
    name.padding(toLength: 26, withPad: " ", startingAt: 0)
      + shape.padding(toLength: 34, withPad: " ", startingAt: 0)
      + String(repeating: " ", count: max(0, 7 - threads.count)) + threads
      + String(repeating: " ", count: max(0, 11 - median.count)) + median
      + String(repeating: " ", count: max(0, 9 - gflops.count)) + gflops
  }

  private func jsonArray(_ results: [BenchResult], isa: InstructionSet) -> String {
    let objects = results.map { result in
      let gflops = result.gflops.map { String(format: "%.2f", $0) } ?? "null"
      let median = result.medianMilliseconds.map { String(format: "%.4f", $0) } ?? "null"
      return "  {\"name\": \(jsonString(result.name)), \"shape\": \(jsonString(result.shape)), "
        + "\"threads\": \(result.threads), \"median_ms\": \(median), \"gflops\": \(gflops), "
        + "\"isa\": \(jsonString(isa.rawValue))"
        + (result.note.map { ", \"note\": \(jsonString($0))" } ?? "") + "}"
    }
    return "[\n" + objects.joined(separator: ",\n") + "\n]"
  }

  private func jsonString(_ text: String) -> String {
    var escaped = "\""
    for character in text.unicodeScalars {
      switch character {
      case "\"": escaped += "\\\""
      case "\\": escaped += "\\\\"
      case "\n": escaped += "\\n"
      default: escaped.unicodeScalars.append(character)
      }
    }
    return escaped + "\""
  }
}

/// One measured row.
struct BenchResult {
  var name: String
  var shape: String
  var threads: Int
  /// `nil` for a skipped row.
  var medianMilliseconds: Double?
  var gflops: Double?
  /// Why the row was skipped.
  var note: String?
}

/// A benchmark: how to prepare it, and the work of one timed run.
struct BenchRow {
  var name: String
  var shape: String
  var threads: Int
  /// Floating-point operations of one run, or `nil` where not counted.
  var flops: Double?
  /// Whether every process of an MPI job runs it in step with the others:
  /// it then warms up a fixed number of times.
  var isCollective = false
  /// Why the row cannot run here; it is then reported, not run.
  var skipNote: String?
  /// Whether the row runs only when `--filter` selects it (a slow one).
  var runsOnlyWhenNamed = false
  /// Builds the inputs and returns the work of one run.
  var prepare: () -> () -> Void

  /// Runs the work a few times untimed, then `repeats` times timed.
  func measure(repeats: Int) -> BenchResult {
    if let skipNote {
      return BenchResult(name: name, shape: shape, threads: threads, note: skipNote)
    }
    let work = prepare()
    let clock = ContinuousClock()
    // Warm up: first-touch pages, fill the buffer pool, start the workers.
    let warmUpStart = clock.now
    var warmUps = 0
    while warmUps < 3
      || (!isCollective && warmUps < 50 && clock.now - warmUpStart < .milliseconds(200))
    {
      work()
      warmUps += 1
    }
    var times: [Double] = []
    times.reserveCapacity(repeats)
    for _ in 0..<repeats {
      // The processes of a collective row start each timed run together.
      if isCollective { DistributedRun.group?.barrier() }
      let start = clock.now
      work()
      let elapsed = clock.now - start
      times.append(
        Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) * 1e-15)
    }
    times.sort()
    let median =
      times.count % 2 == 1
      ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
    return BenchResult(
      name: name, shape: shape, threads: threads, medianMilliseconds: median,
      gflops: flops.map { $0 / (median * 1e-3) / 1e9 })
  }

  /// The rows, in order; every row but the last runs on `threads` threads.
  static func all(threads: Int) -> [BenchRow] {
    [
      gemm(name: "sgemm_1024", size: 1024, threads: threads),
      convolution(
        name: "conv_cifar1_fwdbwd", input: [64, 3, 32, 32], filters: [32, 3, 5, 5], padding: 2,
        threads: threads),
      convolution(
        name: "conv_c32_16_fwdbwd", input: [64, 32, 16, 16], filters: [64, 32, 3, 3], padding: 1,
        threads: threads),
      convolution(
        name: "conv_resnet56_fwdbwd", input: [8, 64, 56, 56], filters: [64, 64, 3, 3],
        padding: 1, threads: threads),
      maxPool(name: "maxpool_fwdbwd", input: [64, 32, 32, 32], threads: threads),
      trainingStep(
        name: "lenet5_step_b64", model: ModelName.lenet5.build(), input: [64, 1, 28, 28],
        threads: threads),
      trainingStep(
        name: "convnetjs_cifar_step_b64", model: ModelName.convnetjsCIFAR10.build(),
        input: [64, 3, 32, 32],
        threads: threads),
      trainingStep(
        name: "fashion_cnn_step_b64", model: ModelName.fashionCNN.build(),
        input: [64, 1, 28, 28], threads: threads,
        optimizer: { AdamW<Float>(learningRate: 0.002) }),
      attention(name: "attention_fwdbwd", shape: [64, 4, 50, 32], threads: threads),
      trainingStep(
        name: "vit_mnist_step_b128", model: ModelName.vitMNIST.build(), input: [128, 1, 28, 28],
        threads: threads, optimizer: { AdamW<Float>(learningRate: 0.002) }),
      trainingStep(
        name: "gpt_tiny_step_b32", model: ModelName.gptTiny.build(),
        shape: "batch 32x64 tokens of 128", threads: threads,
        optimizer: { AdamW<Float>(learningRate: 0.001) }
      ) { nextTokenBatch(sequences: 32, length: 64, vocabularySize: 128) },
      forwardBackward(
        name: "layernorm_fwdbwd", shapes: [[4096, 256], [256], [256]], threads: threads
      ) { layerNorm($0[0], weight: $0[1], bias: $0[2]) },
      forwardBackward(name: "gelu_fwdbwd", shapes: [[4096, 1024]], threads: threads) {
        gelu($0[0])
      },
      forwardBackward(name: "softmax_fwdbwd", shapes: [[12800, 50]], threads: threads) {
        softmax($0[0], alongAxis: -1)
      },
      perExampleGradients(name: "per_example_grads_mlp", threads: threads),
      gemm(name: "sgemm_1024_1thread", size: 1024, threads: 1),
      fmaPeak(),
      addition(name: "add_64x128", threads: threads),
    ]
  }

  /// The register-only multiply-add loop of the current instruction set.
  static func fmaPeak() -> BenchRow {
    let iterations = 1 << 21
    let flops = Double(ComputeSettings.runFMAPeakLoop(iterations: 1))
    return BenchRow(
      name: "fma_peak", shape: "12 chains, registers only", threads: 1,
      flops: flops * Double(iterations)
    ) {
      { _ = ComputeSettings.runFMAPeakLoop(iterations: iterations) }
    }
  }

  static func addition(name: String, threads: Int) -> BenchRow {
    BenchRow(name: name, shape: "64x128 + 64x128", threads: threads, flops: nil) {
      let x = Tensor<Float>.randomUniform([64, 128], lower: -1, upper: 1, seed: 1)
      let y = Tensor<Float>.randomUniform([64, 128], lower: -1, upper: 1, seed: 2)
      return { _ = x + y }
    }
  }

  static func gemm(name: String, size: Int, threads: Int) -> BenchRow {
    BenchRow(
      name: name, shape: "\(size)x\(size)x\(size)", threads: threads,
      flops: 2 * Double(size) * Double(size) * Double(size)
    ) {
      let a = Tensor<Float>.randomUniform([size, size], lower: -1, upper: 1, seed: 1)
      let b = Tensor<Float>.randomUniform([size, size], lower: -1, upper: 1, seed: 2)
      return { withoutRecording { _ = matmul(a, b) } }
    }
  }

  static func convolution(
    name: String, input: [Int], filters: [Int], padding: Int, threads: Int
  ) -> BenchRow {
    let outputShape = try! conv2dOutputShape(
      input: input, filters: filters, stride: 1, padding: padding)
    let forwardFlops =
      2 * Double(outputShape.reduce(1, *)) * Double(filters[1] * filters[2] * filters[3])
    let shape =
      "\(dims(input)) k\(filters[0]) \(filters[2])x\(filters[3]) p\(padding)"
    return BenchRow(name: name, shape: shape, threads: threads, flops: 3 * forwardFlops) {
      let x = Tensor<Float>.randomUniform(input, lower: -1, upper: 1, seed: 1)
      let w = Tensor<Float>.randomUniform(filters, lower: -0.1, upper: 0.1, seed: 2)
      let b = Tensor<Float>.randomUniform([filters[0]], lower: -0.1, upper: 0.1, seed: 3)
      let seed = Tensor<Float>.randomUniform(outputShape, lower: -1, upper: 1, seed: 4)
      return {
        let (_, pullback) = valueWithPullback(at: [x, w, b]) { inputs in
          conv2d(inputs[0], filters: inputs[1], bias: inputs[2], stride: 1, padding: padding)
        }
        _ = pullback(seed)
      }
    }
  }

  static func maxPool(name: String, input: [Int], threads: Int) -> BenchRow {
    BenchRow(name: name, shape: "\(dims(input)) 2x2 s2", threads: threads, flops: nil) {
      let x = Tensor<Float>.randomUniform(input, lower: -1, upper: 1, seed: 1)
      let outputShape = try! pool2dOutputShape(input: input, size: 2, stride: 2)
      let seed = Tensor<Float>.randomUniform(outputShape, lower: -1, upper: 1, seed: 2)
      return {
        let (_, pullback) = valueWithPullback(at: [x]) { maxPool2d($0[0], size: 2, stride: 2) }
        _ = pullback(seed)
      }
    }
  }

  /// Attention's two batched products, `q·kᵀ` and `weights·v`, each
  /// `2·B·H·T²·D` flops, three times over for forward + backward.
  static func attention(name: String, shape: [Int], threads: Int) -> BenchRow {
    let (tokens, depth) = (Double(shape[2]), Double(shape[3]))
    let forwardFlops = 4 * Double(shape[0] * shape[1]) * tokens * tokens * depth
    return BenchRow(name: name, shape: dims(shape), threads: threads, flops: 3 * forwardFlops) {
      let (q, k, v) = (
        Tensor<Float>.randomNormal(shape, seed: 1), Tensor<Float>.randomNormal(shape, seed: 2),
        Tensor<Float>.randomNormal(shape, seed: 3)
      )
      let seed = Tensor<Float>.randomUniform(shape, lower: -1, upper: 1, seed: 4)
      return {
        let (_, pullback) = valueWithPullback(at: [q, k, v]) {
          scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2])
        }
        _ = pullback(seed)
      }
    }
  }

  /// `f` forward and backward through every input, seeded with a fixed
  /// upstream gradient; the row's shape is the first input's.
  static func forwardBackward(
    name: String, shapes: [[Int]], threads: Int,
    _ f: @escaping ([Tensor<Float>]) -> Tensor<Float>
  ) -> BenchRow {
    BenchRow(name: name, shape: dims(shapes[0]), threads: threads, flops: nil) {
      let inputs = shapes.enumerated().map { index, shape in
        Tensor<Float>.randomNormal(shape, seed: UInt64(index + 1))
      }
      let seed = Tensor<Float>.randomUniform(f(inputs).shape, lower: -1, upper: 1, seed: 9)
      return {
        let (_, pullback) = valueWithPullback(at: inputs, of: f)
        _ = pullback(seed)
      }
    }
  }

  /// DP-SGD's clipped gradient sum: the per-example gradients of an MLP's
  /// loss, each scaled to norm at most 1, summed over the batch.
  static func perExampleGradients(name: String, threads: Int) -> BenchRow {
    let sizes = [64, 128, 128, 10]
    let batch = 64
    return BenchRow(
      name: name, shape: "batch \(batch), MLP \(sizes.map(String.init).joined(separator: "-"))",
      threads: threads, flops: nil
    ) {
      var weights: [Tensor<Float>] = []
      for layer in 1..<sizes.count {
        let scale = 1 / Float(sizes[layer - 1]).squareRoot()
        let weight = Tensor<Float>.randomNormal(
          [sizes[layer], sizes[layer - 1]], seed: UInt64(layer))
        weights += [weight * scale, Tensor<Float>.zeros([sizes[layer]])]
      }
      let inputs = Tensor<Float>.randomNormal([batch, sizes[0]], seed: 7)
      let classes = sizes[sizes.count - 1]
      let targets = Tensor<Float>(shape: [batch, classes]) { $0 % (classes + 1) == 0 ? 1 : 0 }
      let perExample = vmap(
        { (t: [Tensor<Float>]) -> [Tensor<Float>] in
          gradient(at: weights) { w in
            var h = t[0].reshaped(to: [1, -1])
            for layer in stride(from: 0, to: w.count, by: 2) {
              h = linear(h, weight: w[layer], bias: w[layer + 1])
              if layer + 2 < w.count { h = relu(h) }
            }
            return softmaxCrossEntropy(logits: h, probabilities: t[1].reshaped(to: [1, -1]))
          }
        }, inAxes: [0, 0])
      return {
        let gradients = perExample([inputs, targets])
        let norms = sqrt(
          gradients.map { square($0).reshaped(to: [batch, -1]).sum(alongAxes: 1) }
            .reduce(Tensor(0), +))
        let factors = min(1 / (norms + 1e-6), 1)
        _ = gradients.map { g in
          (g * factors.reshaped(to: [batch] + [Int](repeating: 1, count: g.rank - 1)))
            .sum(alongAxes: 0)
        }
      }
    }
  }

  /// A training step of an image classifier on a batch of uniform noise
  /// of shape `input`, labelled 0 to 9 in turn.
  static func trainingStep(
    name: String, model: Sequential<Float>, input: [Int], threads: Int,
    optimizer: @escaping () -> any Optimizer<Float> = {
      SGD<Float>(learningRate: 0.01, momentum: 0.9)
    }
  ) -> BenchRow {
    trainingStep(
      name: name, model: model, shape: "batch \(dims(input))", threads: threads,
      optimizer: optimizer
    ) {
      (
        Tensor<Float>.randomUniform(input, lower: 0, upper: 1, seed: 1),
        (0..<input[0]).map { $0 % 10 }
      )
    }
  }

  /// A ``Trainer`` step of `model` on the batch that `batch` makes once.
  static func trainingStep(
    name: String, model: Sequential<Float>, shape: String, threads: Int,
    optimizer: @escaping () -> any Optimizer<Float>,
    batch: @escaping () -> (inputs: Tensor<Float>, labels: [Int])
  ) -> BenchRow {
    BenchRow(name: name, shape: shape, threads: threads, flops: nil) {
      let trainer = Trainer(model: model, optimizer: optimizer())
      let (x, labels) = batch()
      return { trainer.step(inputs: x, labels: labels) }
    }
  }

  /// A language model's batch: `sequences` runs of `length + 1` random
  /// tokens in `0..<vocabularySize`; the inputs are each run's first
  /// `length` tokens (`[sequences, length]`), the labels its last
  /// `length`, the token after each input position.
  static func nextTokenBatch(sequences: Int, length: Int, vocabularySize: Int) -> (
    inputs: Tensor<Float>, labels: [Int]
  ) {
    var generator = SeededGenerator(seed: 1)
    let runs = (0..<sequences).map { _ in
      (0...length).map { _ in Int(generator.next() % UInt64(vocabularySize)) }
    }
    return (
      Tensor(
        shape: [sequences, length], scalars: runs.flatMap { $0.dropLast() }.map(Float.init)),
      runs.flatMap { $0.dropFirst() }
    )
  }

  private static func dims(_ shape: [Int]) -> String {
    shape.map(String.init).joined(separator: "x")
  }
}
