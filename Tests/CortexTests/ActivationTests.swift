import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

@Suite struct LeakyReluTests {
  @Test func values() {
    let x = Tensor<Double>([-2, -0.5, 0, 0.5, 3])
    #expect(leakyRelu(x) == Tensor([-0.02, -0.005, 0, 0.5, 3]))
    #expect(leakyRelu(x, negativeSlope: 0.2) == Tensor([-0.4, -0.1, 0, 0.5, 3]))
  }

  /// leakyRelu is `max(x, αx)`: at the tie `x = 0` the first candidate wins.
  @Test func tieAtZeroTakesTheFirstCandidate() {
    let x = Tensor<Double>([0, 0])
    #expect(gradient(at: x) { leakyRelu($0).sum() } == Tensor([1, 1]))
    #expect(gradient(at: x) { leakyRelu($0, negativeSlope: 0.2).sum() } == Tensor([1, 1]))
    let y = Tensor<Double>([-2, 0, 3])
    #expect(gradient(at: y) { leakyRelu($0, negativeSlope: 0.2).sum() } == Tensor([0.2, 1, 1]))
    #expect(gradient(at: y) { max($0, 0.2 * $0).sum() } == Tensor([0.2, 1, 1]))
    // A slope above 1 is the min gate: x for x > 0, αx below.
    #expect(leakyRelu(y, negativeSlope: 3) == Tensor([-6, 0, 3]))
    #expect(gradient(at: y) { leakyRelu($0, negativeSlope: 3).sum() } == Tensor([3, 1, 1]))
  }

  @Test(arguments: [([7], 0.01), ([3, 5], 0.2), ([2, 3, 4, 5], 0.01)])
  func gradientCheck(shape: [Int], slope: Double) {
    // Away from the kink at 0 by far more than the difference step.
    let x = Tensor<Double>.randomNormal(shape, seed: UInt64(shape.count)).map {
      $0 >= 0 ? $0 + 0.05 : $0 - 0.05
    }
    let report = checkGradients(at: x) { leakyRelu($0, negativeSlope: slope) }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }
}
