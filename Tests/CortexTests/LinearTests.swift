import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

@Suite struct LinearTests {
  @Test func valuesWithAndWithoutBias() {
    let x = Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    let weight = Tensor<Double>(shape: [2, 3], scalars: [1, 0, -1, 0.5, 0.5, 0.5])
    let bias = Tensor<Double>([10, -10])
    #expect(linear(x, weight: weight) == Tensor(shape: [2, 2], scalars: [-2, 3, -2, 7.5]))
    #expect(
      linear(x, weight: weight, bias: bias) == Tensor(shape: [2, 2], scalars: [8, -7, 8, -2.5]))
  }

  @Test(arguments: [(3, 5, 4), (2, 7, 1), (5, 1, 3), (4, 6, 6)])
  func gradientCheck(examples: Int, inputs: Int, outputs: Int) {
    let x = Tensor<Double>.randomNormal([examples, inputs], seed: 1)
    let weight = Tensor<Double>.randomNormal([outputs, inputs], seed: 2)
    let bias = Tensor<Double>.randomNormal([outputs], seed: 3)
    let withBias = checkGradients(at: [x, weight, bias]) {
      linear($0[0], weight: $0[1], bias: $0[2])
    }
    #expect(withBias.maxRelativeError <= 1e-7, "\(withBias)")
    let withoutBias = checkGradients(at: [x, weight]) { linear($0[0], weight: $0[1]) }
    #expect(withoutBias.maxRelativeError <= 1e-7, "\(withoutBias)")
  }

  @Test func gradientsAreMatrixProducts() {
    let x = Tensor<Double>.randomNormal([4, 3], seed: 4)
    let weight = Tensor<Double>.randomNormal([2, 3], seed: 5)
    let bias = Tensor<Double>.randomNormal([2], seed: 6)
    let upstream = Tensor<Double>.randomNormal([4, 2], seed: 7)
    let (_, pullback) = valueWithPullback(at: [x, weight, bias]) {
      linear($0[0], weight: $0[1], bias: $0[2])
    }
    let gradients = pullback(upstream)
    #expect(gradients[0].isAlmostEqual(to: matmul(upstream, weight), absoluteTolerance: 1e-14))
    #expect(
      gradients[1].isAlmostEqual(to: matmul(upstream.transposed(), x), absoluteTolerance: 1e-14))
    #expect(gradients[2].isAlmostEqual(to: upstream.sum(alongAxes: 0), absoluteTolerance: 1e-14))
  }
}

/// The fully connected layer flattens a volume first: 32×32×3 → 3072.
@Suite struct FlattenTests {
  @Test func volumeBecomesAVector() {
    let volume = Tensor<Double>.randomNormal([2, 3, 32, 32], seed: 8)
    let flat = volume.flattened(fromAxis: 1)
    #expect(flat.shape == [2, 3072])
    #expect(flat.scalars == volume.scalars)
    #expect(flat[1, 2 * 1024 + 5 * 32 + 7] == volume[1, 2, 5, 7])
    #expect(volume.flattened(fromAxis: 0).shape == [6144])
    #expect(volume.flattened(fromAxis: -1).shape == [2, 3, 32, 32])
    #expect(volume.flattened(fromAxis: 2).shape == [2, 3, 1024])
  }

  @Test func gradientHasTheVolumeShape() {
    let volume = Tensor<Double>.randomNormal([2, 3, 4, 4], seed: 9)
    let upstream = Tensor<Double>.randomNormal([2, 48], seed: 10)
    let (_, pullback) = valueWithPullback(at: [volume]) { $0[0].flattened(fromAxis: 1) }
    let gradient = pullback(upstream)[0]
    #expect(gradient.shape == [2, 3, 4, 4])
    #expect(gradient.scalars == upstream.scalars)
  }

  @Test func flattenThenLinearGradientCheck() {
    let volume = Tensor<Double>.randomNormal([3, 2, 3, 5], seed: 11)
    let weight = Tensor<Double>.randomNormal([4, 30], standardDeviation: 0.3, seed: 12)
    let bias = Tensor<Double>.randomNormal([4], seed: 13)
    let report = checkGradients(at: [volume, weight, bias]) {
      linear($0[0].flattened(fromAxis: 1), weight: $0[1], bias: $0[2])
    }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }
}
