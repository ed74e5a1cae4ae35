import Testing

@testable import Cortex

@Suite struct LeakyReluTests {
  @Test func values() {
    let x = Tensor<Double>([-2, -0.5, 0, 0.5, 3])
    #expect(leakyRelu(x) == Tensor([-0.02, -0.005, 0, 0.5, 3]))
    #expect(leakyRelu(x, negativeSlope: 0.2) == Tensor([-0.4, -0.1, 0, 0.5, 3]))
  }

  @Test func tieAtZeroTakesTheNegativeSlope() {
    let x = Tensor<Double>([0, 0])
    #expect(gradient(at: x) { leakyRelu($0).sum() } == Tensor([0.01, 0.01]))
    #expect(gradient(at: x) { leakyRelu($0, negativeSlope: 0.2).sum() } == Tensor([0.2, 0.2]))
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
