import Foundation
import Testing

@testable import CortexCLI
@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

#if canImport(Glibc)
  import Glibc
#endif

/// `cortex` where the world gets in the way: lost output, pipes posing as
/// files, two runs for one folder, settings checked before data loads.
@Suite(.serialized) struct CommandReliabilityTests {
  func temporaryFolder() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("cortex-\(UUID().uuidString)")
  }

  /// Runs the command line with standard output replaced by `descriptor`
  /// (or closed, for -1) and returns its exit status.
  func status(_ arguments: [String], standardOutput descriptor: Int32) -> Int32 {
    standardStreamRedirection.withLock { _ in
      let saved = dup(STDOUT_FILENO)
      defer {
        dup2(saved, STDOUT_FILENO)
        close(saved)
      }
      if descriptor >= 0 { dup2(descriptor, STDOUT_FILENO) } else { close(STDOUT_FILENO) }
      return runCommandLine(arguments)
    }
  }

  /// A full disk, a closed descriptor and a pipe without a reader are
  /// errors (exit 2), never a crash, for every kind of command.
  @Test func lostOutputExitsWithTwo() throws {
    let full = open("/dev/full", O_WRONLY)
    defer { close(full) }
    #expect(status(["summary", "lenet5"], standardOutput: full) == 2)
    #expect(status(["gradcheck"], standardOutput: full) == 2)
    #expect(status(["summary", "lenet5"], standardOutput: -1) == 2)
    var pipe: [Int32] = [0, 0]
    #expect(Glibc.pipe(&pipe) == 0)
    close(pipe[0])
    defer { close(pipe[1]) }
    #expect(status(["summary", "lenet5"], standardOutput: pipe[1]) == 2)
    #expect(throws: OutputError.self) { try write("x\n", to: full, name: "a full disk") }
  }

  /// A named pipe is refused at once as a checkpoint or as data.
  @Test func namedPipesAreRefusedWithoutBlocking() throws {
    let folder = temporaryFolder()
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let fifo = folder.appendingPathComponent("checkpoint.safetensors").path
    #expect(mkfifo(fifo, 0o644) == 0)
    let expected = DataError.ioFailure(path: fifo, message: "is a named pipe, not a regular file")
    #expect(throws: expected) { try EvaluateCommand().run([fifo]) }
    #expect(throws: expected) { try TrainCommand().run(["--resume", fifo]) }
    for split in MNIST.Split.allCases {
      for name in [split.fileNames.images, split.fileNames.labels] {
        #expect(mkfifo(folder.appendingPathComponent(name).path, 0o644) == 0)
      }
    }
    let images = folder.appendingPathComponent("t10k-images-idx3-ubyte").path
    #expect(
      throws: DataError.ioFailure(path: images, message: "is a named pipe, not a regular file")
    ) {
      try TrainCommand().run([
        "--data", folder.path, "--out", folder.appendingPathComponent("out").path,
      ])
    }
  }

  /// A live run locks its folder; a finished run's checkpoint is replaced
  /// only with --force.
  @Test func anOutputFolderHoldsOneRun() throws {
    let folder = temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let common = ["--limit", "64", "--batch-size", "32", "--epochs", "1", "--out", folder.path]
    do {
      let live = try OutputFolder(path: folder.path)
      #expect(throws: CommandLineError.self) { try TrainCommand().run(common) }
      _ = live
    }
    #expect(try TrainCommand().run(common) == 0)
    let checkpoint = folder.appendingPathComponent("checkpoint.safetensors").path
    #expect(
      throws: CommandLineError(
        "\(folder.path) holds another run's checkpoint; continue it with --resume \(checkpoint), replace it with --force, or choose another --out"
      )
    ) {
      try TrainCommand().run(common)
    }
    #expect(try TrainCommand().run(common + ["--force"]) == 0)
    #expect(
      throws: CommandLineError(
        "\(checkpoint) has completed 1 epoch; pass --epochs with more than 1 to train on")
    ) {
      try TrainCommand().run(["--resume", checkpoint])
    }
    #expect(throws: CommandLineError.self) {
      try TrainCommand().run(["--resume", checkpoint, "--epochs", "1"])
    }
    #expect(try TrainCommand().run(["--resume", checkpoint, "--epochs", "2"]) == 0)
    let (configuration, completed) = try TrainingRun.savedState(
      at: URL(fileURLWithPath: checkpoint))
    #expect(configuration.trainingLimit == 64)
    #expect(completed == 2)
  }

  /// A run whose loss stays finite but rises far above where it started
  /// has diverged: exit 1, the reason on one line, and the checkpoint
  /// left as it was.
  @Test func aDivergingRunKeepsItsLastCheckpoint() throws {
    let folder = temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    #expect(
      try TrainCommand().run(["--limit", "64", "--epochs", "1", "--out", folder.path]) == 0)
    let url = folder.appendingPathComponent("checkpoint.safetensors")
    var tensors = try Checkpoint.load(from: url)
    // Finite but absurd: every logit is decided by a bias of ±10²⁰.
    tensors["11.bias"] = Tensor((0..<10).map { $0 % 2 == 0 ? 1e20 : -1e20 })
    try Checkpoint.save(tensors, metadata: try Checkpoint.loadMetadata(from: url), to: url)
    let huge = try Data(contentsOf: url)
    #expect(try TrainCommand().run(["--resume", url.path, "--epochs", "2"]) == 1)
    #expect(try Data(contentsOf: url) == huge)
  }

  /// Settings and the output folder are checked before any data loads:
  /// the missing data folder is never reached.
  @Test func settingsAreCheckedBeforeTheDataLoads() throws {
    let missing = ["--data", "/nonexistent/data"]
    #expect(throws: CommandLineError("--batch-size must be in 1...60000, found 0")) {
      try TrainCommand().run(missing + ["--batch-size", "0"])
    }
    #expect(throws: CommandLineError("--out needs a folder name, found an empty one")) {
      try TrainCommand().run(missing + ["--out", ""])
    }
    let file = temporaryFolder()
    _ = FileManager.default.createFile(atPath: file.path, contents: Data())
    defer { try? FileManager.default.removeItem(at: file) }
    #expect(
      throws: CommandLineError(
        "cannot create the output folder \(file.path): a file of that name exists")
    ) {
      try TrainCommand().run(missing + ["--out", file.path])
    }
    #expect(
      throws: CommandLineError(
        "cannot create the output folder \(file.path)/run: Not a directory")
    ) {
      try TrainCommand().run(missing + ["--out", file.path + "/run"])
    }
  }

  /// An existing output folder that cannot be written is refused with one
  /// line naming it and exit status 2, before any data loads (the data
  /// folder given does not exist) or any epoch runs. Tests may run as
  /// root, who writes anywhere else; no one can create a file in /proc.
  @Test(
    .enabled(
      if: FileManager.default.fileExists(atPath: "/proc/self"),
      "needs /proc, a folder that no one, root included, can create a file in"))
  func anUnwritableOutputFolderIsRefusedBeforeTheDataLoads() throws {
    let errors = temporaryFolder()
    _ = FileManager.default.createFile(atPath: errors.path, contents: Data())
    defer { try? FileManager.default.removeItem(at: errors) }
    let descriptor = open(errors.path, O_WRONLY)
    let status = standardStreamRedirection.withLock { _ in
      let saved = dup(STDERR_FILENO)
      dup2(descriptor, STDERR_FILENO)
      let status = runCommandLine(
        ["train", "--data", "/nonexistent/data", "--epochs", "1", "--out", "/proc"])
      dup2(saved, STDERR_FILENO)
      close(saved)
      return status
    }
    close(descriptor)
    #expect(status == 2)
    // Standard error is the process's, shared with the tests running
    // beside this one, so the line is looked for among what they wrote.
    #expect(
      try String(contentsOf: errors, encoding: .utf8).split(separator: "\n").contains(
        "error: cannot write into the output folder /proc: No such file or directory"))
  }

  /// Fashion-MNIST loads from a folder given with --data, and a missing
  /// installation says how to install it.
  @Test func fashionMNISTLoadsFromItsFolder() throws {
    let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("../../../shared/data/fashion-mnist").standardizedFileURL
    let test = try DatasetName.fashionMNIST.load(split: .test, directory: directory)
    #expect(test.images.shape == [10_000, 1, 28, 28])
    #expect(Set(test.labels) == Set(0..<10))
    // The first test image is an ankle boot (class 9).
    #expect(test.labels[0] == 9)
    if !FileManager.default.fileExists(atPath: DatasetName.fashionMNIST.defaultDirectory.path) {
      #expect(
        throws: DataError.ioFailure(
          path: "/usr/share/datasets/fashion-mnist",
          message:
            "Fashion-MNIST is not installed; run `apt-get install dataset-fashion-mnist` or pass --data DIR with its four IDX files"
        )
      ) {
        try TrainCommand().run(["--dataset", "fashion-mnist", "--out", temporaryFolder().path])
      }
    }
  }
}
