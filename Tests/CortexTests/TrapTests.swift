import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Shape mismatches are programmer errors: they trap, and the message names
/// the operation and both shapes. Each case runs in a child process.
@Suite struct TrapTests {
  /// The text a trapping child process wrote to standard error.
  static func standardError(_ result: ExitTest.Result?) -> String {
    String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
  }

  @Test func addingIncompatibleShapesTraps() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Double>.zeros([2, 3]) + Tensor<Double>.zeros([4])
    }
    #expect(
      Self.standardError(result).contains("add: shapes [2, 3] and [4] cannot be broadcast together")
    )
  }

  @Test func multiplyingIncompatibleShapesTraps() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Float>.zeros([3, 2]) * Tensor<Float>.zeros([3])
    }
    #expect(
      Self.standardError(result).contains(
        "multiply: shapes [3, 2] and [3] cannot be broadcast together"))
  }

  @Test func matmulWithMismatchedInnerDimensionsTraps() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = matmul(Tensor<Double>.zeros([2, 3]), Tensor<Double>.zeros([4, 5]))
    }
    #expect(
      Self.standardError(result).contains(
        "matmul: inner dimensions differ: [2, 3] · [4, 5] (3 vs 4)"))
  }

  @Test func matmulOfVectorsNamesTheShapesPassed() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = matmul(Tensor<Double>.zeros([3]), Tensor<Double>.zeros([4]))
    }
    #expect(
      Self.standardError(result).contains("matmul: inner dimensions differ: [3] · [4] (3 vs 4)"))
  }

  @Test func matmulOfABatchNamesTheShapesPassed() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = matmul(Tensor<Double>.zeros([2, 3, 4]), Tensor<Double>.zeros([5, 4]))
    }
    #expect(
      Self.standardError(result).contains(
        "matmul: inner dimensions differ: [2, 3, 4] · [5, 4] (4 vs 5)"))
  }

  @Test func reshapeToTheWrongSizeTraps() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Double>.zeros([2, 3]).reshaped(to: [4, -1])
    }
    #expect(Self.standardError(result).contains("reshape: cannot infer the −1 in [4, -1]"))
  }

  @Test func callingAPullbackTwiceTraps() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      let (_, pullback) = valueWithPullback(at: [Tensor<Double>([1, 2])]) { $0[0] * 2 }
      _ = pullback(Tensor([1, 1]))
      _ = pullback(Tensor([1, 1]))
    }
    #expect(Self.standardError(result).contains("a pullback can be called only once"))
  }

  @Test func gradientOfANonScalarTraps() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = gradient(at: Tensor<Double>([1, 2])) { $0 * 2 }
    }
    #expect(Self.standardError(result).contains("the function must return one scalar"))
  }

  /// The targets above the core keep their messages too, in optimized
  /// builds, through the core's `precondition`.
  @Test func aDatasetWhoseImagesAndLabelsDisagreeTraps() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Dataset(images: Tensor<Float>.zeros([3, 1]), labels: [0])
    }
    #expect(
      Self.standardError(result).contains("Dataset: images of shape [3, 1] do not match 1 labels"))
  }
}
