import Foundation
import Testing

@testable import CortexCLI
@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// `cortex train` under `mpirun`: the same model as one process, and a
/// failing rank ends the job. Skipped, with the reason printed, where
/// OpenMPI or the `cortex` executable is missing.
@Suite(.serialized, .enabled(if: MPIJob.unavailability == nil, MPIJob.skipComment))
struct MPIRunTests {
  /// 50 steps of LeNet-5 (two epochs of 400 digits, global batch 16,
  /// shifts, momentum): one process of an MPI job, stopped after the first
  /// epoch and resumed, gives the same bits as a plain run; two processes
  /// give every tensor within 1e-5 of it, relative to the tensor's largest
  /// element. They cannot give the same bits: one process sums the 16
  /// examples' gradients in one pass over the batch, two processes each sum
  /// 8 and then add the two sums, and Float addition is not associative;
  /// the last-bit differences are carried along by 50 steps of momentum
  /// (at most 1.1e-6 here, over seeds 1 to 5). A max-pooling window whose
  /// two largest inputs differ by a rounding error can route a gradient
  /// differently and part the runs by more; these digits do not meet one.
  @Test func twoProcessesTrainTheModelOneProcessTrains() throws {
    let folder = try MPIJob.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let data = try MPIJob.smallMNIST(in: folder)
    let common = ["--data", data, "--batch-size", "16", "--seed", "3", "--threads", "1"]
    let single = folder.appendingPathComponent("single")
    #expect(try TrainCommand().run(common + ["--epochs", "2", "--out", single.path]) == 0)
    let expected = try Checkpoint.load(
      from: single.appendingPathComponent("checkpoint.safetensors"))
    #expect(expected.count == 21)

    let resumed = folder.appendingPathComponent("resumed")
    let checkpoint = resumed.appendingPathComponent("checkpoint.safetensors")
    let first = try MPIJob.run(
      processes: 1, ["train"] + common + ["--epochs", "1", "--out", resumed.path])
    #expect(first.status == 0, "\(first.output)")
    #expect(first.output.contains("1 thread in 1 process"))
    let second = try MPIJob.run(
      processes: 1,
      [
        "train", "--epochs", "2", "--resume", checkpoint.path, "--out",
        resumed.path,
      ])
    #expect(second.status == 0, "\(second.output)")
    #expect(try Checkpoint.load(from: checkpoint) == expected)

    let two = folder.appendingPathComponent("two")
    let job = try MPIJob.run(
      processes: 2, ["train"] + common + ["--epochs", "2", "--out", two.path])
    #expect(job.status == 0, "\(job.output)")
    // Only rank 0 prints.
    #expect(job.output.components(separatedBy: "epoch 2/2").count == 2)
    let trained = try Checkpoint.load(from: two.appendingPathComponent("checkpoint.safetensors"))
    #expect(trained.keys.sorted() == expected.keys.sorted())
    for (name, tensor) in expected {
      let largest = tensor.scalars.map { abs(Double($0)) }.max()!
      let difference = zip(tensor.scalars, trained[name]!.scalars).map {
        abs(Double($0) - Double($1))
      }.max()!
      #expect(difference <= 1e-5 * largest, "\(name): \(difference) of \(largest)")
    }
  }

  /// The collectives and the buckets, run by ``InsideMPIJobTests`` in two
  /// copies of this test binary under `mpirun`.
  @Test func collectivesAndBucketsAgreeAcrossTwoProcesses() throws {
    let job = try MPIJob.run(
      processes: 2,
      [
        CommandLine.arguments[0], "--testing-library", "swift-testing", "--filter",
        "InsideMPIJobTests",
      ], direct: true)
    #expect(job.status == 0, "\(job.output)")
    // Both processes ran the test.
    #expect(job.output.components(separatedBy: "Test run with 1 test").count == 3, "\(job.output)")
  }

  /// A rank that cannot read its data ends every rank within seconds with
  /// an error naming it; the checkpoint already in the folder stays as it
  /// was.
  @Test func rankThatCannotLoadItsDataEndsTheJob() throws {
    let folder = try MPIJob.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let checkpoint = folder.appendingPathComponent("checkpoint.safetensors")
    try Checkpoint.save(["w": Tensor<Float>([1, 2, 3])], to: checkpoint)
    let before = try Data(contentsOf: checkpoint)
    // Rank 1 alone reads a folder that does not exist.
    let command = [
      MPIJob.cortex!, "train", "--data", try MPIJob.smallMNIST(in: folder), "--out", folder.path,
      "--force",
    ].joined(separator: " ")
    let job = try MPIJob.runTwoRanks(
      shell: "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then exec \(command) --data /nonexistent; "
        + "else exec \(command); fi")
    #expect(job.seconds < 30)
    #expect(job.status != 0)
    #expect(job.output.contains("error: rank 1 of 2: "), "\(job.output)")
    #expect(job.output.contains("/nonexistent"))
    #expect(try Data(contentsOf: checkpoint) == before)
  }

  /// A rank killed once rank 0 has saved its first checkpoint ends the
  /// job within seconds; the checkpoint in the folder is a whole one.
  @Test func killedRankEndsTheJobAndLeavesAWholeCheckpoint() throws {
    let folder = try MPIJob.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let checkpoint = folder.appendingPathComponent("checkpoint.safetensors")
    let command = [
      MPIJob.cortex!, "train", "--data", try MPIJob.smallMNIST(in: folder), "--batch-size", "32",
      "--epochs", "100",
      "--out", folder.path,
    ].joined(separator: " ")
    let job = try MPIJob.runTwoRanks(
      shell: "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then "
        + "(while [ ! -f \(checkpoint.path) ]; do sleep 0.05; done; kill -9 $$) & fi; "
        + "exec \(command)")
    #expect(job.seconds < 30)
    #expect(job.status != 0)
    #expect(job.output.contains("rank 1"), "\(job.output)")
    #expect(!job.output.contains("epoch 100/100"))
    let run = try TrainingRun.resume(
      from: checkpoint, train: MNIST.loadBundled(split: .test).prefix(64),
      test: MNIST.loadBundled(split: .test).prefix(64))
    #expect(run.completedEpochs >= 1)
  }

  /// Ranks that start different runs end the job on every rank within
  /// seconds, naming each differing setting and the ranks' values: a
  /// different seed (which trained apart), model (which corrupted memory)
  /// or limit (which hung).
  @Test(arguments: [
    (["--seed", "2"], "seed (rank 0: 1, rank 1: 2)"),
    (
      ["--model", "convnetjs-mnist", "--limit", "200", "--batch-size", "32"],
      "model (rank 0: lenet5, rank 1: convnetjs-mnist); training images (rank 0: 400, "
        + "rank 1: 200); limit (rank 0: none, rank 1: 200); batch size (rank 0: 16, rank 1: 32)"
    ),
  ])
  func ranksThatDisagreeEndTheJob(rankOne: [String], difference: String) throws {
    let folder = try MPIJob.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let command = [
      MPIJob.cortex!, "train", "--data", try MPIJob.smallMNIST(in: folder), "--batch-size", "16",
      "--epochs", "1", "--threads", "1", "--out", folder.appendingPathComponent("out").path,
    ].joined(separator: " ")
    let job = try MPIJob.runTwoRanks(
      shell: "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then exec \(command) "
        + "\(rankOne.joined(separator: " ")); else exec \(command); fi")
    #expect(job.seconds < 30)
    #expect(job.status != 0)
    #expect(
      job.output.contains(
        "the processes disagree on \(difference); every process of a job must start the same run"),
      "\(job.output)")
    #expect(!job.output.contains("epoch 1/1"))
  }

  /// `CORTEX_MPI_LIBRARY` naming a missing file ends a distributed run
  /// with one line naming the file and the reason, where it used to fall
  /// back to the system's libmpi.
  @Test func aMissingLibraryInTheEnvironmentIsAnError() throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: MPIJob.cortex!)
    process.arguments = ["train", "--distributed", "--limit", "64", "--epochs", "1"]
    var environment = ProcessInfo.processInfo.environment
    environment["CORTEX_MPI_LIBRARY"] = "/nonexistent/libmpi.so"
    process.environment = environment
    let (status, text) = try statusAndStandardError(of: process)
    #expect(status == 2)
    #expect(
      text
        == "error: CORTEX_MPI_LIBRARY names /nonexistent/libmpi.so, which cannot be loaded: "
        + "/nonexistent/libmpi.so: cannot open shared object file: No such file or directory\n")
  }

  /// A collective whose sizes differ between ranks ends the job before
  /// it touches memory, with the sizes by rank.
  @Test func collectivesOfDifferentSizesEndTheJob() throws {
    let job = try MPIJob.run(
      processes: 2,
      [
        "-x", "CORTEX_TEST_MISMATCHED_COLLECTIVE=1", CommandLine.arguments[0],
        "--testing-library", "swift-testing", "--filter", "MismatchedCollectiveTests",
      ], direct: true)
    #expect(job.status != 0)
    #expect(
      job.output.contains(
        "allReduce needs the same number of scalars on every process, found rank 0: 3, rank 1: 4"),
      "\(job.output)")
  }
}

/// Starting `mpirun` and the `cortex` executable from the tests.
enum MPIJob {
  /// `mpirun` on the `PATH`.
  static let mpirun: String? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/mpirun" }.first {
      FileManager.default.isExecutableFile(atPath: $0)
    }
  }()

  /// The `cortex` executable built beside the test bundle.
  static let cortex: String? = {
    var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
      let candidate = folder.appendingPathComponent("cortex").path
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      folder = folder.deletingLastPathComponent()
    }
    return nil
  }()

  /// Why the MPI tests cannot run here, or `nil` when they can.
  static let unavailability: String? = {
    guard mpirun != nil else {
      return "mpirun was not found (install OpenMPI: apt-get install openmpi-bin)"
    }
    if case .failure(let error) = MPILibrary.shared { return error.description }
    guard cortex != nil else { return "the cortex executable was not found beside the tests" }
    return nil
  }()

  static var skipComment: Comment {
    Comment(rawValue: unavailability ?? "")
  }

  static func scratchFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory
      .appendingPathComponent("cortex-mpi-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// A small MNIST in `folder/mnist` for `--data`: the first 400 training
  /// and 200 test digits of the bundled set, so that every process of a
  /// job loads and evaluates quickly.
  static func smallMNIST(in folder: URL) throws -> String {
    let directory = folder.appendingPathComponent("mnist")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    for (name, split, count) in [("train", MNIST.Split.train, 400), ("t10k", .test, 200)] {
      let part = try MNIST.loadBundled(split: split).prefix(count)
      let pixels = part.images.scalars.map { UInt8(($0 * 255).rounded()) }
      let images = DataTestSupport.idx(
        magic: 0x803, sizes: [UInt32(count), 28, 28], payload: pixels)
      let labels = DataTestSupport.idx(
        magic: 0x801, sizes: [UInt32(count)], payload: part.labels.map { UInt8($0) })
      try Data(images).write(to: directory.appendingPathComponent("\(name)-images-idx3-ubyte"))
      try Data(labels).write(to: directory.appendingPathComponent("\(name)-labels-idx1-ubyte"))
    }
    return directory.path
  }

  /// Runs `script` with `/bin/sh` as each of two ranks, and how many
  /// seconds the job took.
  static func runTwoRanks(shell script: String) throws -> (
    status: Int32, output: String, seconds: Double
  ) {
    let start = Date()
    let job = try run(processes: 2, ["/bin/sh", "-c", script], direct: true)
    return (job.status, job.output, Date().timeIntervalSince(start))
  }

  /// Runs `mpirun -np processes cortex arguments` (or, `direct`, the
  /// command in `arguments`) and returns its exit status and its standard
  /// output and error together; a job still running after 60 s is killed.
  static func run(processes: Int, _ arguments: [String], direct: Bool = false) throws -> (
    status: Int32, output: String
  ) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: mpirun!)
    process.arguments =
      ["-np", String(processes), "--oversubscribe"] + (direct ? [] : [cortex!]) + arguments
    var environment = ProcessInfo.processInfo.environment
    // CI runs as root; containers often forbid the single-copy mechanism.
    environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    environment["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
    // A process waiting for another yields its core instead of spinning.
    environment["OMPI_MCA_mpi_yield_when_idle"] = "1"
    process.environment = environment
    let log = FileManager.default.temporaryDirectory
      .appendingPathComponent("cortex-mpi-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: log) }
    let handle = try FileHandle(forWritingTo: log)
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    let deadline = Date().addingTimeInterval(60)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning {
      process.terminate()
      let grace = Date().addingTimeInterval(5)
      while process.isRunning && Date() < grace { usleep(20_000) }
      if process.isRunning { kill(process.processIdentifier, SIGKILL) }
      process.waitUntilExit()
      Issue.record("mpirun \(arguments.joined(separator: " ")) was still running after 60 s")
    }
    try handle.close()
    return (process.terminationStatus, try String(contentsOf: log, encoding: .utf8))
  }
}

/// The collectives and the gradient buckets, checked from inside a job of
/// two processes that `MPIRunTests` starts from this test binary. Outside
/// such a job the suite is skipped.
@Suite(
  .enabled(
    if: ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] == "2",
    "runs inside the two-process job that collectivesAndBucketsAgreeAcrossTwoProcesses starts"))
struct InsideMPIJobTests {
  /// One test, not several: the processes must call the same collectives
  /// in the same order, which tests running side by side would not.
  @Test func collectivesAndBucketsCombineEveryRank() throws {
    try collectivesCombineEveryRank()
    try bucketedStepsMatchOneProcessSteps()
  }

  func collectivesCombineEveryRank() throws {
    let group = try ProcessGroup.world()
    #expect(group.size == 2)
    let rank = Float(group.rank)
    var sum = Tensor<Float>([rank + 1, 10 * (rank + 1)])
    group.allReduce(&sum)
    #expect(sum.scalars == [3, 30])
    var mean = Tensor<Double>(shape: [2, 1], scalars: [Double(rank), 1])
    group.allReduce(&mean, .mean)
    #expect(mean.scalars == [0.5, 1])
    var value = Tensor<Float>([rank, -rank])
    group.broadcast(&value, from: 1)
    #expect(value.scalars == [1, -1])
    let gathered = group.allGather(Tensor<Float>(shape: [1, 2], scalars: [rank, 2 * rank]))
    #expect(gathered.shape == [2, 1, 2])
    #expect(gathered.scalars == [0, 0, 1, 2])
    group.barrier()
  }

  /// Four steps of each process on its half of a batch of 6 give the
  /// parameters of four one-process steps on the whole batch, with buckets
  /// of at most 15 scalars (the last layer's 12 weights and 3 biases, the
  /// first layer's 4 biases, its 20 weights), reduced during the backward
  /// pass or after it with the same bits. The third step freezes the first
  /// layer (one bucket is left) and the fourth unfreezes it.
  func bucketedStepsMatchOneProcessSteps() throws {
    let group = try ProcessGroup.world()
    func model() throws -> Sequential<Float> {
      try withRandomSeed(8) {
        try Sequential<Float> {
          try Dense<Float>(inputSize: 5, outputSize: 4)
          Tanh<Float>()
          try Dense<Float>(inputSize: 4, outputSize: 3)
        }
      }
    }
    let inputs = Tensor<Float>.randomNormal([6, 5], seed: 2)
    let labels = [0, 1, 2, 2, 1, 0]
    let reference = try model()
    let single = Trainer(model: reference, optimizer: SGD<Float>(learningRate: 0.1, momentum: 0.9))
    // Whether the first layer trains at each step.
    let schedule = [true, true, false, true]
    func setFirstLayer(of model: Sequential<Float>, trainable: Bool) {
      for (name, parameter) in model.namedParameters where name.hasPrefix("0.") {
        parameter.isTrainable = trainable
      }
    }
    var results: [[Tensor<Float>]] = []
    for overlap in [true, false] {
      let network = try model()
      let parallel = DataParallel(
        model: network, group: group, bucketCapacity: 15, overlapsBackward: overlap)
      #expect(parallel.bucketCount == 3)
      let trainer = Trainer(
        model: network, optimizer: SGD<Float>(learningRate: 0.1, momentum: 0.9))
      let half = 3 * group.rank..<3 * group.rank + 3
      for trains in schedule {
        setFirstLayer(of: network, trainable: trains)
        let (loss, correct) = parallel.step(
          trainer, inputs: inputs.sliced(alongAxis: 0, range: half),
          labels: Array(labels[half]), batchCount: 6)
        #expect(parallel.bucketCount == (trains ? 3 : 1))
        #expect(loss > 0.5 && loss < 2)
        #expect((0...6).contains(correct))
      }
      results.append(network.parameters.map(\.value))
    }
    for trains in schedule {
      setFirstLayer(of: reference, trainable: trains)
      single.step(inputs: inputs, labels: labels)
    }
    #expect(results[0] == results[1])
    for (trained, expected) in zip(results[0], reference.parameters.map(\.value)) {
      #expect(trained.isAlmostEqual(to: expected, absoluteTolerance: 1e-6, relativeTolerance: 1e-5))
    }
  }
}

/// One all-reduce of 3 scalars on rank 0 and 4 on rank 1, run by
/// `MPIRunTests` in two copies of this test binary under `mpirun`.
@Suite(
  .enabled(
    if: ProcessInfo.processInfo.environment["CORTEX_TEST_MISMATCHED_COLLECTIVE"] == "1"
      && ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] == "2",
    "runs inside the job that collectivesOfDifferentSizesEndTheJob starts"))
struct MismatchedCollectiveTests {
  @Test func allReduceOfDifferentSizes() throws {
    let group = try ProcessGroup.world()
    var tensor = Tensor<Float>(repeating: 1, shape: [3 + group.rank])
    group.allReduce(&tensor)
    Issue.record("an all-reduce of different sizes returned")
  }
}
