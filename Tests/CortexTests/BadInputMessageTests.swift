import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Bad hyperparameters, shapes that don't fit and bad file contents are
/// thrown errors whose messages say what was expected and what was found.
@Suite struct BadInputMessageTests {
  /// The message of the error `body` throws, or `nil` when it throws none.
  func message(_ body: () throws -> Any) -> String? {
    do {
      _ = try body()
      return nil
    } catch {
      return "\(error)"
    }
  }

  @Test func convolutionHyperparameters() {
    let input = [1, 3, 7, 7]
    func conv(stride: Int = 1, padding: Int = 0, dilation: Int = 1, size: Int = 3) -> String? {
      message {
        try Conv2D<Float>(
          inputChannels: 3, outputChannels: 10, filterSize: size, stride: stride,
          padding: padding, dilation: dilation
        ).outputShape(for: input)
      }
    }
    #expect(
      conv(stride: 3)
        == "(7 − 3 + 2·0)/3 + 1 = 2.33: a 3×3 filter with stride 3 does not fit a 7×7 input")
    #expect(conv(stride: 0) == "Conv2D: stride must be positive, found 0")
    #expect(conv(padding: -1) == "Conv2D: padding must not be negative, found -1")
    #expect(conv(dilation: 0) == "Conv2D: dilation must be positive, found 0")
    #expect(conv(size: 9) == "a 9×9 filter is larger than a 7×7 input padded by 0: 9 > 7 + 2·0")
    #expect(conv(dilation: 2) == nil)
    #expect(
      conv(stride: 3, dilation: 2)
        == "(7 − 5 + 2·0)/3 + 1 = 1.67: a 3×3 filter with dilation 2 (extent 5) and stride 3 does not fit a 7×7 input"
    )
  }

  @Test func convolutionShapes() {
    #expect(
      message {
        try Conv2D<Float>(inputChannels: 4, outputChannels: 2, filterSize: 3)
          .outputShape(for: [1, 3, 7, 7])
      } == "filter depth 4 does not match input depth 3")
    #expect(
      message {
        try conv2dOutputShape(
          input: [1, 3, 7, 7], filters: [2, 3, 3, 3], bias: [3], stride: 1, padding: 0,
          dilation: 1, rounding: .exact)
      } == "bias of shape [3] does not match 2 filters: expected [2]")
    #expect(
      message { try convolutionOutputSize(input: 7, filter: 3, stride: 3, padding: 0) }
        == "(7 − 3 + 2·0)/3 + 1 = 2.33: a 3×3 filter with stride 3 does not fit a 7×7 input")
  }

  @Test func poolingHyperparameters() {
    #expect(
      message { try MaxPool2D<Float>(size: 2).outputShape(for: [1, 3, 7, 7]) }
        == "(7 − 2 + 2·0)/2 + 1 = 3.5: a 2×2 window with stride 2 does not fit a 7×7 input")
    #expect(
      message { try AvgPool2D<Float>(size: 3, stride: 2).outputShape(for: [1, 3, 8, 8]) }
        == "(8 − 3 + 2·0)/2 + 1 = 3.5: a 3×3 window with stride 2 does not fit an 8×8 input")
    #expect(
      message { try MaxPool2D<Float>(size: 0).outputShape(for: [1, 3, 8, 8]) }
        == "MaxPool2D: size must be positive, found 0")
    #expect(
      message { try MaxPool2D<Float>(size: 2, padding: 2).outputShape(for: [1, 3, 8, 8]) }
        == "MaxPool2D: padding 2 is more than half of the 2×2 window")
    #expect(
      message { try GlobalAvgPool2D<Float>().outputShape(for: [2, 3]) }
        == "GlobalAvgPool2D expects [N, C, H, W], found [2, 3]")
  }

  @Test func denseMaxoutAndBatchNorm() {
    #expect(
      message { try Dense<Float>(inputSize: 10, outputSize: 3).outputShape(for: [2, 12]) }
        == "Dense expects 10 input features, found 12 (input shape [2, 12])")
    #expect(
      message { try Dense<Float>(inputSize: 10, outputSize: 3).outputShape(for: [2, 2, 5]) }
        == "Dense expects 10 input features, found 5 (input shape [2, 2, 5]); insert a Flatten to map whole volumes"
    )
    #expect(
      message { try maxoutOutputShape(input: [2, 10], pieces: 3) }
        == "10 features cannot be split into units of 3 pieces")
    #expect(
      message { try maxoutOutputShape(input: [2, 10], pieces: 0) }
        == "the number of pieces must be positive, found 0")
    #expect(
      message { try BatchNorm2D<Float>(channels: 4).outputShape(for: [2, 3, 4, 4]) }
        == "BatchNorm2D expects 4 channels on axis 1, found input shape [2, 3, 4, 4]")
  }

  @Test func modelsNameTheFailingLayer() throws {
    let model = try Sequential<Float> {
      try Conv2D<Float>(inputChannels: 1, outputChannels: 6, filterSize: 5)
      try MaxPool2D<Float>(size: 2)
      Flatten<Float>()
      try Dense<Float>(inputSize: 100, outputSize: 10)
    }
    #expect(
      message { try model.outputShape(for: [1, 1, 32, 32]) }
        == "layer 3 (Dense): Dense expects 100 input features, found 1176 (input shape [1, 1176])")
    #expect(
      message { try model.outputShape(for: [1, 1, 31, 31]) }
        == "layer 1 (MaxPool2D): (27 − 2 + 2·0)/2 + 1 = 13.5: a 2×2 window with stride 2 does not fit a 27×27 input"
    )
    #expect(
      message { try model.load(stateDictionary: [:]) }
        == "checkpoint has no tensor named '0.weight'")
  }

  @Test func articlesBeforeNumbers() {
    #expect(
      [1, 7, 8, 11, 18, 80, 110, 800, 11_000, 18_500, 1_100].map(article) == [
        "a", "a", "an", "an", "an", "an", "a", "an", "an", "an", "a",
      ])
  }

  @Test func fileContents() throws {
    let directory = try DataTestSupport.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("bad.safetensors")
    try Data([1, 2, 3]).write(to: url)
    let error = #expect(throws: DataError.self) { try Checkpoint.load(from: url) }
    #expect(
      error?.description == "\(url.path): file is 3 bytes, shorter than the 8-byte header length")
    let images = directory.appendingPathComponent("images-idx3-ubyte")
    try Data([0, 0, 8, 3, 0, 0, 0, 1]).write(to: images)
    let idxError = #expect(throws: DataError.self) {
      try MNIST.decodeImages(Data(contentsOf: images), source: images.path)
    }
    #expect(
      idxError?.description
        == "\(images.path): header ends after 8 bytes, expected 16 (magic number and 3 dimension sizes)"
    )
    let cifar = directory.appendingPathComponent("data_batch_1.bin")
    try Data(repeating: 0, count: 100).write(to: cifar)
    let cifarError = #expect(throws: DataError.self) {
      try CIFAR10.decode(Data(contentsOf: cifar), source: cifar.path)
    }
    #expect(
      cifarError?.description
        == "\(cifar.path): ends inside record 0: 100 of its 3073 bytes are present (file is 100 bytes)"
    )
  }
}
