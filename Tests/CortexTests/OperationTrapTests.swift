import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Shape mismatches inside the network operations trap with a message that
/// names the operation and the shapes involved. Each case runs in a child
/// process.
@Suite struct OperationTrapTests {
  /// The cases: what the child runs is chosen by index, and the message
  /// its standard error must hold.
  static let cases: [(name: String, message: String)] = [
    (
      "conv2d filter depth",
      "conv2d: filter depth 4 does not match input depth 3 (input [1, 3, 5, 5], filters [2, 4, 3, 3])"
    ),
    (
      "conv2d does not fit",
      "conv2d: (7 − 3 + 2·0)/3 + 1 = 2.33: a 3×3 filter with stride 3 does not fit a 7×7 input (input [1, 1, 7, 7], filters [1, 1, 3, 3])"
    ),
    (
      "maxPool2d does not fit",
      "maxPool2d: (7 − 2 + 2·0)/2 + 1 = 3.5: a 2×2 window with stride 2 does not fit a 7×7 input (input [1, 2, 7, 7])"
    ),
    (
      "linear",
      "linear: input of shape [2, 5] does not match weight of shape [3, 4] (expected [..., in] and [out, in])"
    ),
    ("maxout", "maxout: 10 features cannot be split into units of 3 pieces (input [2, 10])"),
    (
      "batchNorm",
      "batchNorm: scale of shape [4] and offset of shape [4] do not match input of shape [2, 3, 2, 2] (expected [3])"
    ),
    ("softmaxCrossEntropy", "softmaxCrossEntropy: 3 labels for a batch of 2 examples"),
    ("globalAvgPool2d", "globalAvgPool2d: expects an input of shape [N, C, H, W], found [2, 3]"),
    ("subtract", "subtract: shapes [2, 3, 4] and [2, 4] cannot be broadcast together"),
    (
      "channel concatenation",
      "concatenate: shape [2, 3, 5, 4] does not match [2, 3, 4, 4] outside axis 1"
    ),
    ("add on two devices", "add: tensors on two devices, cpu and test:1 (shapes [[2, 3], [2, 3]])"),
    ("exp on a device no backend serves", "exp: no backend serves device test:1"),
    (
      "matmul on two devices",
      "matmul: tensors on two devices, test:1 and cpu (shapes [[2, 3], [3, 2]])"
    ),
  ]

  /// A tensor whose storage is marked as living on a second device (its
  /// scalars are in host memory: only the mark matters to the check).
  static func onSecondDevice(_ shape: [Int]) -> Tensor<Float> {
    let count = shape.reduce(1, *)
    return Tensor(
      shape: shape,
      storage: TensorStorage(
        [Float](repeating: 1, count: count), device: Device(backend: "test", ordinal: 1)))
  }

  /// Runs case `index`; each traps.
  static func run(_ index: Int) {
    switch index {
    case 0:
      _ = conv2d(Tensor<Float>.zeros([1, 3, 5, 5]), filters: .zeros([2, 4, 3, 3]))
    case 1:
      _ = conv2d(Tensor<Float>.zeros([1, 1, 7, 7]), filters: .zeros([1, 1, 3, 3]), stride: 3)
    case 2:
      _ = maxPool2d(Tensor<Float>.zeros([1, 2, 7, 7]), size: 2, stride: 2)
    case 3:
      _ = linear(Tensor<Float>.zeros([2, 5]), weight: .zeros([3, 4]))
    case 4:
      _ = maxout(Tensor<Float>.zeros([2, 10]), pieces: 3)
    case 5:
      var statistics = BatchNormStatistics<Float>(channels: 3)
      _ = batchNorm(
        Tensor<Float>.zeros([2, 3, 2, 2]), scale: .ones([4]), offset: .zeros([4]),
        statistics: &statistics, training: true)
    case 6:
      _ = softmaxCrossEntropy(logits: Tensor<Float>.zeros([2, 5]), labels: [0, 1, 2])
    case 7:
      _ = globalAvgPool2d(Tensor<Float>.zeros([2, 3]))
    case 8:
      _ = Tensor<Double>.zeros([2, 3, 4]) - Tensor<Double>.zeros([2, 4])
    case 9:
      _ = Tensor(
        concatenating: [Tensor<Float>.zeros([2, 3, 4, 4]), .zeros([2, 3, 5, 4])], alongAxis: 1)
    case 10:
      _ = Tensor<Float>.ones([2, 3]) + onSecondDevice([2, 3])
    case 11:
      _ = exp(onSecondDevice([2, 3]))
    default:
      _ = matmul(onSecondDevice([2, 3]), Tensor<Float>.ones([3, 2]))
    }
  }

  @Test(arguments: 0..<OperationTrapTests.cases.count)
  func trapNamesTheOperationAndShapes(index: Int) async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      [index = index as Int] in
      OperationTrapTests.run(index)
    }
    let standardError = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      standardError.contains(Self.cases[index].message),
      "\(Self.cases[index].name): \(standardError)")
  }
}
