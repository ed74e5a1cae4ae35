import Foundation
import Testing

@testable import CortexCLI
@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// The `train`, `evaluate` and `summary` commands, run in process on a
/// small slice of the bundled MNIST.
@Suite(.serialized) struct CommandTests {
  func temporaryFolder() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("cortex-\(UUID().uuidString)")
  }

  /// One run of two epochs, and one of one epoch resumed for a second from
  /// the command line: the same checkpoint tensors, and every picture
  /// written.
  @Test func trainResumesToTheSameCheckpointAndWritesItsPictures() throws {
    let (straight, interrupted) = (temporaryFolder(), temporaryFolder())
    defer {
      try? FileManager.default.removeItem(at: straight)
      try? FileManager.default.removeItem(at: interrupted)
    }
    let common = ["--limit", "192", "--batch-size", "32", "--seed", "5", "--threads", "2"]
    #expect(try TrainCommand().run(common + ["--epochs", "2", "--out", straight.path]) == 0)
    #expect(try TrainCommand().run(common + ["--epochs", "1", "--out", interrupted.path]) == 0)
    let checkpoint = interrupted.appendingPathComponent("checkpoint.safetensors")
    #expect(
      try TrainCommand().run([
        "--epochs", "2", "--resume", checkpoint.path, "--out", interrupted.path,
      ]) == 0)

    let expected = try Checkpoint.load(
      from: straight.appendingPathComponent("checkpoint.safetensors"))
    #expect(try Checkpoint.load(from: checkpoint) == expected)
    for picture in ["curves.svg", "filters.png", "activations.png"] {
      #expect(FileManager.default.fileExists(atPath: straight.appendingPathComponent(picture).path))
    }
    #expect(try EvaluateCommand().run([checkpoint.path]) == 0)
  }

  /// `--flip` overrides a model's default: fashion-cnn flips unless told
  /// no, LeNet-5 only when told yes.
  @Test func flipsFollowTheModelUnlessTold() throws {
    func flips(_ arguments: [String]) throws -> Bool {
      try TrainCommand().newConfiguration(
        Arguments(
          arguments, valueOptions: ["model", "flip"], flagOptions: [])
      ).flipsHorizontally
    }
    #expect(try flips(["--model", "fashion-cnn"]))
    #expect(try !flips(["--model", "fashion-cnn", "--flip", "no"]))
    #expect(try !flips([]))
    #expect(try flips(["--flip", "yes"]))
  }

  @Test func badArgumentsAreOneLineErrors() {
    #expect(throws: CommandLineError("--epochs must be in 1...10000, found 0")) {
      try TrainCommand().run(["--epochs", "0"])
    }
    #expect(
      throws: CommandLineError(
        "--model vgg16 takes 3×224×224 inputs, not MNIST's 1×28×28 digits; choose one of lenet5, convnetjs-mnist, maxout-mnist, fashion-cnn, vit-mnist"
      )
    ) {
      try TrainCommand().run(["--model", "vgg16", "--limit", "10"])
    }
    #expect(
      throws: CommandLineError(
        "--resume takes the run's settings from the checkpoint; drop --limit, --seed")
    ) {
      try TrainCommand().run(["--resume", "x.safetensors", "--seed", "3", "--limit", "10"])
    }
    #expect(throws: CommandLineError("--flip must be yes or no, found 'maybe'")) {
      try TrainCommand().run(["--flip", "maybe", "--limit", "10"])
    }
    #expect(
      throws: CommandLineError(
        "--optimizer must be one of sgd, adam, rmsprop, adadelta, adamw, found 'lbfgs'")
    ) {
      try TrainCommand().run(["--optimizer", "lbfgs", "--limit", "10"])
    }
    #expect(throws: DataError.fileNotFound(path: "/nonexistent/checkpoint.safetensors")) {
      try EvaluateCommand().run(["/nonexistent/checkpoint.safetensors"])
    }
    #expect(
      throws: CommandLineError(
        "unknown model 'lenet6'; models: lenet5, alexnet, zfnet, vgg16, resnet18, googlenet, convnetjs-mnist, convnetjs-cifar10, maxout-mnist, fashion-cnn, alphago-policy, vit-mnist, gpt-tiny"
      )
    ) {
      try SummaryCommand().run(["lenet6"])
    }
    #expect(
      throws: CommandLineError(
        "--input expects up to three positive sizes like 3,224,224, found '3,-1,5'")
    ) {
      try SummaryCommand().run(["vgg16", "--input", "3,-1,5"])
    }
    #expect(
      throws: ShapeError(
        "layer 7 (Dense): Dense expects 400 input features, found 144 (input shape [1, 144])")
    ) {
      try SummaryCommand().run(["lenet5", "--input", "1,20,20"])
    }
  }

  /// The summary's last line, as scripts read it.
  @Test func summaryEndsWithTheTotalParameters() throws {
    let summary = try ModelName.lenet5.build(Float.self).summary(
      inputShape: ModelName.lenet5.inputShape)
    #expect(summary.description.split(separator: "\n").last == "Total parameters: 61,706")
  }
}
