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

/// Nothing wrong passes in silence: checkpoints verify their checksums
/// and refuse NaN, sizes are compared with the file before its data is
/// read, resumed runs refuse what they would drop or reset, runs that
/// diverge without a NaN stop, and the command line refuses what it
/// would misread.
@Suite(.serialized) struct IntegrityTests {
  typealias Support = DataTestSupport

  func temporaryFolder() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("cortex-\(UUID().uuidString)")
  }

  /// The bytes of a little-endian header length and `header`.
  func prefix(_ header: String) -> [UInt8] {
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) } + Array(header.utf8)
  }

  // MARK: Checksums and finite values

  /// A flipped bit in a tensor's data is refused, naming that tensor and
  /// both checksums.
  @Test func aFlippedBitNamesTheFirstBadTensor() throws {
    let tensors: [String: Tensor<Float>] = [
      "a": Tensor([1, 2]), "b": Tensor([3, 4, 5]), "c": Tensor([6]),
    ]
    var bytes = [UInt8](try Checkpoint.encode(tensors))
    let dataStart = bytes.count - 24
    let original = Array(bytes[dataStart + 8..<dataStart + 20])
    bytes[dataStart + 12] ^= 0x10  // the second value of 'b'
    // The last tensor too: the first bad one in the file is named.
    bytes[bytes.count - 1] ^= 0x01
    let corrupt = Array(bytes[dataStart + 8..<dataStart + 20])
    #expect(
      Support.dataError { _ = try Checkpoint.decode(Data(bytes), source: "m.safetensors") }
        == "m.safetensors: tensor 'b' does not match its checksum (CRC-32 "
        + String(format: "%08x", Support.crc32(corrupt)) + ", recorded "
        + String(format: "%08x", Support.crc32(original)) + "): the file is corrupt")
  }

  /// A changed metadata value (or name, shape, dtype) is refused by the
  /// header's checksum, even when the JSON stays valid.
  @Test func aChangedHeaderIsRefused() throws {
    let bytes = [UInt8](
      try Checkpoint.encode(["w": Tensor<Float>([1, 2])], metadata: ["epochs": "12"]))
    let value = Array(#""epochs":"12""#.utf8)
    let start = try #require(
      (0...bytes.count - value.count).first { Array(bytes[$0..<$0 + value.count]) == value })
    var changed = bytes
    changed.replaceSubrange(start..<start + value.count, with: Array(#""epochs":"99""#.utf8))
    let error = Support.dataError { _ = try Checkpoint.decode(Data(changed), source: "m") }
    #expect(error?.hasPrefix("m: the header does not match its checksum (CRC-32 ") == true)
    #expect(error?.hasSuffix("): a name, shape, dtype or metadata value is corrupt") == true)
  }

  /// A file written by another program, without checksums, loads with
  /// a one-line note; Cortex's own files load verified, and their
  /// metadata comes back without the checksum entries.
  @Test func filesWithoutChecksumsLoadWithANote() throws {
    let header = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
    let data = Data(prefix(header) + [0, 0, 128, 63, 0, 0, 0, 64])
    let foreign = try Checkpoint.decodeContents(data, source: "torch.safetensors")
    #expect(foreign.tensors == ["w": Tensor([1, 2])])
    #expect(!foreign.isVerified)
    #expect(
      foreign.note
        == "note: torch.safetensors carries no checksums (written by another program?); "
        + "its contents cannot be verified")
    let own = try Checkpoint.decodeContents(
      Checkpoint.encode(["w": Tensor<Float>([1, 2])], metadata: ["format": "pt"]))
    #expect(own.isVerified && own.note == nil)
    #expect(own.metadata == ["format": "pt"])
  }

  /// NaN and infinities are refused by default, naming the tensor, the
  /// first bad value and how many there are; a caller can allow them.
  @Test func nonFiniteValuesAreRefusedUnlessAllowed() throws {
    let folder = try Support.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let url = folder.appendingPathComponent("w.safetensors")
    let tensors: [String: Tensor<Float>] = [
      "a": Tensor([1, 2]), "w": Tensor([0, 1, .nan, -.infinity]),
    ]
    try Checkpoint.save(tensors, to: url)
    #expect(
      Support.dataError { _ = try Checkpoint.load(from: url) }
        == "\(url.path): tensor 'w' holds NaN at index 2 (2 of 4 values not finite): "
        + "the checkpoint is not usable")
    let allowed = try Checkpoint.load(Float.self, from: url, allowingNonFinite: true)
    #expect(allowed["w"]?.scalars[3] == -.infinity)
    try Checkpoint.save(["x": Tensor<Double>([.infinity])], to: url)
    #expect(
      Support.dataError { _ = try Checkpoint.load(Double.self, from: url) }
        == "\(url.path): tensor 'x' holds inf at index 0 (1 of 1 value not finite): "
        + "the checkpoint is not usable")
  }

  // MARK: Sizes before memory

  /// A 2 GiB and an 8 GiB sparse file with a valid header and junk after
  /// the data are refused from their header; the data is never read.
  @Test func hugeSparseCheckpointsAreRefusedFromTheirHeader() throws {
    let folder = try Support.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let url = folder.appendingPathComponent("huge.safetensors")
    let valid = [UInt8](try Checkpoint.encode(["w": Tensor<Float>([1, 2, 3])]))
    for size in [1 << 31, 1 << 33] {
      _ = FileManager.default.createFile(atPath: url.path, contents: Data(valid))
      #expect(truncate(url.path, off_t(size)) == 0)
      let dataLength = size - (valid.count - 12)
      let expected =
        "\(url.path): bytes 12..<\(dataLength) of the data section belong to no tensor"
      #expect(Support.dataError { _ = try Checkpoint.load(from: url) } == expected)
      #expect(Support.dataError { _ = try Checkpoint.loadMetadata(from: url) } == expected)
    }
  }

  /// Under `ulimit -v 4000000` (4 GB of address space) the `cortex`
  /// program refuses an 8 GiB sparse checkpoint with one line and exit
  /// status 2, where it used to allocate the whole file and crash.
  @Test(.enabled(if: MPIJob.cortex != nil, "the cortex executable was not found beside the tests"))
  func anEightGigabyteFileUnderAnAddressSpaceLimit() throws {
    let folder = try Support.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let url = folder.appendingPathComponent("huge.safetensors")
    let valid = try Checkpoint.encode(["w": Tensor<Float>([1, 2, 3])])
    _ = FileManager.default.createFile(atPath: url.path, contents: valid)
    #expect(truncate(url.path, off_t(1 << 33)) == 0)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = [
      "-c", "ulimit -v 4000000; exec \"$0\" evaluate \"$1\"", MPIJob.cortex!, url.path,
    ]
    let (status, text) = try statusAndStandardError(of: process)
    #expect(status == 2)
    #expect(
      text
        == "error: \(url.path): bytes 12..<\((1 << 33) - (valid.count - 12)) of the data "
        + "section belong to no tensor\n")
  }

  /// A 2 GiB − 1 sparse IDX file with junk after the data its header
  /// declares is refused before the data is read.
  @Test func aHugeSparseIDXFileIsRefusedFromItsHeader() throws {
    let folder = try Support.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let url = folder.appendingPathComponent("t10k-images-idx3-ubyte")
    let file = Support.idx(
      magic: 0x803, sizes: [3, 4, 5], payload: [UInt8](repeating: 7, count: 60))
    _ = FileManager.default.createFile(atPath: url.path, contents: Data(file))
    let size = (1 << 31) - 1
    #expect(truncate(url.path, off_t(size)) == 0)
    #expect(
      Support.dataError { _ = try IDXArray.load(url, rank: 3, maximumBytes: MNIST.maximumBytes) }
        == "\(url.path): holds \(size - 76) bytes after the 60 bytes of data its header "
        + "declares (dimensions [3, 4, 5])")
    // The same file without the junk loads, read in place.
    #expect(truncate(url.path, 76) == 0)
    let array = try IDXArray.load(url, rank: 3, maximumBytes: MNIST.maximumBytes)
    #expect(array.dimensions == [3, 4, 5] && array.bytes == [UInt8](repeating: 7, count: 60))
    // Compressed, with zeros after the gzip stream: mapped, not read whole,
    // and refused where the zeros begin.
    let compressed = folder.appendingPathComponent("t10k-images-idx3-ubyte.gz")
    _ = FileManager.default.createFile(atPath: compressed.path, contents: Data(Support.gzip(file)))
    #expect(truncate(compressed.path, off_t(size)) == 0)
    #expect(
      Support.dataError {
        _ = try IDXArray.load(compressed, rank: 3, maximumBytes: MNIST.maximumBytes)
      } == "\(compressed.path): corrupt gzip data: incorrect header check")
  }

  /// A 2 GiB sparse CIFAR-10 batch that ends inside a record is refused
  /// from its size before it is read.
  @Test func aHugeSparseCIFARBatchIsRefusedFromItsSize() throws {
    let folder = try Support.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let url = folder.appendingPathComponent("data_batch_1.bin")
    _ = FileManager.default.createFile(atPath: url.path, contents: Data())
    let size = 1 << 31
    #expect(truncate(url.path, off_t(size)) == 0)
    let (records, leftover) = size.quotientAndRemainder(dividingBy: CIFAR10.recordLength)
    #expect(
      Support.dataError { _ = try CIFAR10.load(files: [url]) }
        == "\(url.path): ends inside record \(records): \(leftover) of its 3073 bytes are "
        + "present (file is \(size) bytes)")
  }

  // MARK: Resuming and evaluating

  /// The checkpoint of one epoch of 64 images, trained once for the suite.
  static let trained = Result { () throws -> Data in
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "cortex-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    let status = try TrainCommand().run([
      "--limit", "64", "--batch-size", "32", "--epochs", "1", "--out", folder.path,
    ])
    guard status == 0 else { throw CommandLineError("training exited with \(status)") }
    return try Data(contentsOf: folder.appendingPathComponent("checkpoint.safetensors"))
  }

  /// A copy of ``trained`` in a new folder.
  func trainedCheckpoint(in folder: URL) throws -> URL {
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let url = folder.appendingPathComponent("checkpoint.safetensors")
    try Self.trained.get().write(to: url)
    return url
  }

  /// Rewrites the checkpoint at `url` with `change` applied to its tensors
  /// or its metadata.
  func rewrite(
    _ url: URL, tensors change: (inout [String: Tensor<Float>]) -> Void = { _ in },
    metadata changeMetadata: (inout [String: String]) -> Void = { _ in }
  ) throws {
    var tensors = try Checkpoint.load(from: url)
    var metadata = try Checkpoint.loadMetadata(from: url)
    change(&tensors)
    changeMetadata(&metadata)
    try Checkpoint.save(tensors, metadata: metadata, to: url)
  }

  /// A NaN weight is the file's fault: `evaluate` and `--resume` refuse
  /// it, naming the tensor, and never report an accuracy or blame
  /// training; the file stays as it was.
  @Test func aNonFiniteCheckpointIsABadFileNotADivergence() throws {
    let folder = temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let url = try trainedCheckpoint(in: folder)
    try rewrite(url, tensors: { $0["11.bias"] = Tensor(repeating: .nan, shape: [10]) })
    let poisoned = try Data(contentsOf: url)
    let expected = DataError.invalidContent(
      path: url.path,
      message: "tensor '11.bias' holds NaN at index 0 (10 of 10 values not finite): "
        + "the checkpoint is not usable")
    #expect(throws: expected) { try EvaluateCommand().run([url.path]) }
    #expect(throws: expected) { try TrainCommand().run(["--resume", url.path, "--epochs", "2"]) }
    #expect(runCommandLine(["evaluate", url.path]) == 2)
    #expect(try Data(contentsOf: url) == poisoned)
  }

  /// Missing optimizer state and tensors the run does not have are
  /// refused by name, instead of a silent restart or a silent drop.
  @Test func missingOptimizerStateAndExtraTensorsAreRefused() throws {
    let folder = temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let url = try trainedCheckpoint(in: folder)
    let saved = try Data(contentsOf: url)
    try rewrite(url, tensors: { $0["optimizer.3.weight.velocity"] = nil })
    #expect(
      throws: DataError.invalidContent(
        path: url.path,
        message: "the optimizer took 2 steps but the checkpoint has no state for parameter "
          + "3.weight (optimizer.3.weight.velocity); resuming would restart it")
    ) { try TrainCommand().run(["--resume", url.path, "--epochs", "2"]) }

    try saved.write(to: url)
    try rewrite(url, tensors: { $0["extra.weight"] = Tensor([1]) })
    #expect(
      throws: DataError.invalidContent(
        path: url.path,
        message: "holds a tensor that the model lenet5 and its sgd optimizer do not have: "
          + "extra.weight")
    ) { try EvaluateCommand().run([url.path]) }
  }

  /// Metadata obeys the command line's ranges: a learning rate of 1e40
  /// is refused, as `--lr 1e40` is.
  @Test func metadataFollowsTheCommandLinesRules() throws {
    let folder = temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let url = try trainedCheckpoint(in: folder)
    try rewrite(url, metadata: { $0["cortex.learning_rate"] = "1e40" })
    #expect(
      throws: DataError.invalidContent(
        path: url.path,
        message: "the metadata's 'cortex.learning_rate' is 1e+40, expected a value in "
          + "1e-09...100.0")
    ) { try EvaluateCommand().run([url.path]) }
    #expect(throws: CommandLineError("--lr must be in 1e-09...100.0, found 1e+40")) {
      try TrainCommand().run(["--lr", "1e40"])
    }
    try rewrite(
      url,
      metadata: {
        $0["cortex.learning_rate"] = "0.05"
        $0["cortex.epochs"] = "0"
      })
    #expect(
      throws: DataError.invalidContent(
        path: url.path,
        message: "the metadata's 'cortex.epochs' is 0, expected a value in 1...10000")
    ) { try EvaluateCommand().run([url.path]) }
  }

  // MARK: Divergence without NaN

  /// The two rules past the non-finite loss: an epoch whose mean loss is
  /// more than 3 times the starting loss, and a last epoch back at chance
  /// after a first epoch above it.
  @Test func divergenceRules() throws {
    let data = try MNIST.loadBundled(split: .test).prefix(64)
    var configuration = TrainingConfiguration()
    configuration.epochs = 3
    let run = try TrainingRun(configuration, train: data, test: data)
    func record(_ epoch: Int, loss: Double, accuracy: Double, start: Double? = nil) -> EpochRecord {
      EpochRecord(
        epoch: epoch, learningRate: 0.05, trainingLoss: loss, trainingAccuracy: accuracy,
        testAccuracy: accuracy, seconds: 1, lossCurve: [], startingLoss: start)
    }
    #expect(run.brokenRule(by: record(1, loss: 6.8, accuracy: 0.5, start: 2.3)) == nil)
    #expect(
      run.brokenRule(by: record(1, loss: 1257.5, accuracy: 0.0998, start: 2.3))
        == "its mean training loss 1258 is more than 3 times the starting loss 2.3")
    run.history = [record(1, loss: 0.9, accuracy: 0.8, start: 2.25)]
    #expect(
      run.brokenRule(by: record(2, loss: 7, accuracy: 0.6))
        == "its mean training loss 7 is more than 3 times the starting loss 2.25")
    // Chance is judged at the end of the run only.
    #expect(run.brokenRule(by: record(2, loss: 2.3, accuracy: 0.1)) == nil)
    #expect(
      run.brokenRule(by: record(3, loss: 2.3, accuracy: 0.0998))
        == "the run ends at 9.98% test accuracy, at most 1.5 times chance (15.00%), "
        + "after 80.00% in epoch 1")
    #expect(run.brokenRule(by: record(3, loss: 0.5, accuracy: 0.16)) == nil)
    // A run that never rose above chance did not fall back to it.
    run.history = [record(1, loss: 2.3, accuracy: 0.11, start: 2.3)]
    #expect(run.brokenRule(by: record(3, loss: 2.3, accuracy: 0.1)) == nil)
    // Without a recorded starting loss, ln(10) stands in.
    run.history = [record(1, loss: 0.9, accuracy: 0.8)]
    #expect(
      run.brokenRule(by: record(2, loss: 7, accuracy: 0.6))
        == "its mean training loss 7 is more than 3 times the starting loss 2.303")
  }

  /// Runs the command line with its standard output in a file, and
  /// returns the exit status and the lines written.
  func output(_ arguments: [String]) throws -> (status: Int32, lines: [String]) {
    let file = temporaryFolder()
    defer { try? FileManager.default.removeItem(at: file) }
    let descriptor = open(file.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    // `--threads` sets the process's thread count, which the tests that
    // change it hold while they run: this run takes its turn among them,
    // so that the count it prints is its own, and leaves it as it was.
    let status = withThreadCount(ComputeSettings.threadCount) {
      standardStreamRedirection.withLock { _ in
        let saved = dup(STDOUT_FILENO)
        dup2(descriptor, STDOUT_FILENO)
        let status = runCommandLine(arguments)
        dup2(saved, STDOUT_FILENO)
        close(saved)
        return status
      }
    }
    close(descriptor)
    let text = try String(contentsOf: file, encoding: .utf8)
    return (status, text.split(separator: "\n").map(String.init))
  }

  /// The best epoch's checkpoint is kept beside the last one, and the last
  /// line names the file that holds the best test accuracy.
  @Test func theLastLineNamesTheBestCheckpoint() throws {
    let folder = temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let (status, lines) = try output([
      "train", "--limit", "64", "--batch-size", "32", "--epochs", "2", "--threads", "1",
      "--out", folder.path,
    ])
    #expect(status == 0)
    #expect(lines.contains { $0.hasSuffix(", seed 1, 1 thread") }, "\(lines)")
    let best = folder.appendingPathComponent("best.safetensors")
    let history = try TrainingRun.savedState(
      at: folder.appendingPathComponent("checkpoint.safetensors"))
    let kept = try TrainingRun.savedState(at: best)
    #expect(history.completedEpochs == 2)
    // Standard output is the process's, shared with the tests running
    // beside this one: the run's own last line is the last one it could
    // have printed, with none of its epoch lines after it.
    let position = try #require(
      lines.lastIndex { $0.hasPrefix("best test accuracy ") }, "\(lines)")
    let last = lines[position]
    #expect(
      !lines[(position + 1)...].contains {
        $0.hasPrefix("test accuracy ") || $0.hasPrefix("epoch ")
      },
      "\(lines)")
    if kept.completedEpochs == 2 {
      #expect(last.hasSuffix("after epoch 2, the last: \(folder.path)/checkpoint.safetensors"))
    } else {
      #expect(last.hasSuffix("after epoch \(kept.completedEpochs): \(best.path)"))
    }
  }

  // MARK: The command line

  /// An option's value that is itself an option is a forgotten value.
  @Test func aValueThatLooksLikeAnOptionIsRefused() throws {
    #expect(
      throws: CommandLineError(
        "--out needs a value, found the option --force; write --out=--force if that is the value")
    ) { try TrainCommand().run(["--out", "--force"]) }
    #expect(runCommandLine(["train", "--out", "--force"]) == 2)
    #expect(!FileManager.default.fileExists(atPath: "--force"))
    let options = try Arguments(["--out=--force"], valueOptions: ["out"], flagOptions: [])
    #expect(options.string("out") == "--force")
  }

  /// A run that fails before its first checkpoint removes the folders it
  /// created, and only those.
  @Test func aFailedRunLeavesNoFolderItCreated() throws {
    let parent = temporaryFolder()
    defer { try? FileManager.default.removeItem(at: parent) }
    let empty = parent.appendingPathComponent("empty-data")
    try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
    let out = parent.appendingPathComponent("runs/lenet5")
    #expect(throws: DataError.self) {
      try TrainCommand().run(["--data", empty.path, "--out", out.path])
    }
    #expect(!FileManager.default.fileExists(atPath: out.path))
    #expect(!FileManager.default.fileExists(atPath: parent.appendingPathComponent("runs").path))
    #expect(FileManager.default.fileExists(atPath: empty.path))
  }

  /// Messages name the real limit, and counts of one are singular.
  @Test func messagesNameTheLimitAndCountRight() throws {
    #expect(
      throws: CommandLineError("--input sizes must be at most 65,536, found 150,528 in '150528'")
    ) { try SummaryCommand().run(["lenet5", "--input", "150528"]) }
    #expect(throws: CommandLineError.self) { try SummaryCommand().run(["lenet5", "--input", "0"]) }
    #expect(counted(1, "thread") == "1 thread")
    #expect(counted(2, "thread") == "2 threads")
  }
}
