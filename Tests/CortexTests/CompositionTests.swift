import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Inception modules join their branches along the channel axis; residual
/// blocks add a skip path. Both are built from existing operations
/// (concatenation and the add gate); these tests check how gradients flow
/// through them.
@Suite struct ChannelConcatenationTests {
  @Test func eachBranchGetsItsSliceOfTheGradient() {
    let branches = [1, 3, 2].enumerated().map { index, channels in
      Tensor<Double>.randomNormal([2, channels, 3, 3], seed: UInt64(index))
    }
    let upstream = Tensor<Double>.randomNormal([2, 6, 3, 3], seed: 10)
    let (value, pullback) = valueWithPullback(at: branches) {
      Tensor(concatenating: $0, alongAxis: 1)
    }
    #expect(value.shape == [2, 6, 3, 3])
    let gradients = pullback(upstream)
    #expect(gradients[0] == upstream.sliced(alongAxis: 1, range: 0..<1))
    #expect(gradients[1] == upstream.sliced(alongAxis: 1, range: 1..<4))
    #expect(gradients[2] == upstream.sliced(alongAxis: 1, range: 4..<6))
  }

  @Test func gradientCheckThroughBranches() {
    let branches = [2, 1, 3].enumerated().map { index, channels in
      Tensor<Double>.randomNormal([3, channels, 2, 3], seed: UInt64(20 + index))
    }
    let report = checkGradients(at: branches) { inputs in
      tanh(Tensor(concatenating: inputs, alongAxis: 1))
    }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
    #expect(report.inputs.count == 3)
  }

  @Test func gradientsOfBranchesFromOneInputAddUp() {
    // An inception-like module: three branches of one input, joined.
    let x = Tensor<Double>.randomNormal([2, 3, 2, 2], seed: 30)
    let report = checkGradients(at: x) { x in
      Tensor(concatenating: [tanh(x), sigmoid(x), x * x], alongAxis: 1)
    }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }
}

@Suite struct ResidualAddTests {
  @Test func skipPathGetsTheUpstreamGradientUnchanged() {
    let skip = Tensor<Double>.randomNormal([2, 3, 2, 2], seed: 40)
    let residual = Tensor<Double>.randomNormal([2, 3, 2, 2], seed: 41)
    let upstream = Tensor<Double>.randomNormal([2, 3, 2, 2], seed: 42)
    let (_, pullback) = valueWithPullback(at: [skip, residual]) { $0[0] + $0[1] }
    let gradients = pullback(upstream)
    #expect(gradients[0] == upstream)
    #expect(gradients[1] == upstream)
  }

  @Test func deadBranchStillPassesTheGradientThroughTheSkip() {
    // y = x + relu(x·Wᵀ + b) with b so negative that the branch is off:
    // the whole gradient arrives through the skip connection.
    let x = Tensor<Double>.randomUniform([4, 3], lower: -1, upper: 1, seed: 43)
    let weight = Tensor<Double>.randomUniform([3, 3], lower: -1, upper: 1, seed: 44)
    let bias = Tensor<Double>.filled(-10, shape: [3])
    let upstream = Tensor<Double>.randomNormal([4, 3], seed: 45)
    let (_, pullback) = valueWithPullback(at: [x]) { inputs in
      inputs[0] + relu(linear(inputs[0], weight: weight, bias: bias))
    }
    #expect(pullback(upstream)[0] == upstream)
  }

  @Test func residualBlockGradientCheck() {
    let x = Tensor<Double>.randomNormal([3, 4], seed: 46)
    let first = Tensor<Double>.randomNormal([5, 4], standardDeviation: 0.5, seed: 47)
    let second = Tensor<Double>.randomNormal([4, 5], standardDeviation: 0.5, seed: 48)
    let report = checkGradients(at: [x, first, second]) { inputs in
      let hidden = tanh(linear(inputs[0], weight: inputs[1]))
      return inputs[0] + linear(hidden, weight: inputs[2])
    }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }
}
