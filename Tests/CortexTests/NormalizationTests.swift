import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

@Suite struct BatchNormTests {
  /// Batch norm in training mode with fresh running statistics.
  private func trainingBatchNorm(
    _ x: Tensor<Double>, scale: Tensor<Double>, offset: Tensor<Double>
  ) -> Tensor<Double> {
    var statistics = BatchNormStatistics<Double>(channels: scale.scalarCount)
    return batchNorm(x, scale: scale, offset: offset, statistics: &statistics, training: true)
  }

  @Test(arguments: [[6, 3], [3, 2, 3, 5], [4, 3, 5]])
  func trainingNormalizesEachChannel(shape: [Int]) {
    let x = Tensor<Double>.randomNormal(shape, mean: 3, standardDeviation: 2, seed: 1)
    let channels = shape[1]
    let scale = Tensor<Double>.randomUniform([channels], lower: 0.5, upper: 2, seed: 2)
    let offset = Tensor<Double>.randomNormal([channels], seed: 3)
    let y = trainingBatchNorm(x, scale: scale, offset: offset)
    #expect(y.shape == shape)
    let axes = [0] + Array(2..<shape.count)
    let broadcastShape = [1, channels] + [Int](repeating: 1, count: shape.count - 2)
    let normalized = (y - offset.reshaped(to: broadcastShape)) / scale.reshaped(to: broadcastShape)
    let mean = normalized.mean(alongAxes: axes)
    let variance = square(normalized).mean(alongAxes: axes)
    #expect(mean.isAlmostEqual(to: .zeros([channels]), absoluteTolerance: 1e-12))
    // The biased variance is normalized, so it comes out as σ²/(σ² + ε).
    #expect(variance.isAlmostEqual(to: .ones([channels]), absoluteTolerance: 1e-5))
  }

  /// Each channel's sums run over its planes in order, eight lanes at a
  /// time added in a fixed order, the channels shared out among threads:
  /// one thread and two, and every set that fuses multiply-adds, give the
  /// same bits, forward and backward (planes of 81, a partial register at
  /// each end).
  @Test func thePassesDoNotDependOnTheThreadCountOrTheSet() throws {
    let x = Tensor<Float>.randomNormal([8, 24, 9, 9], mean: 1, standardDeviation: 3, seed: 4)
    let scale = Tensor<Float>.randomUniform([24], lower: 0.5, upper: 2, seed: 5)
    let offset = Tensor<Float>.randomNormal([24], seed: 6)
    let upstream = Tensor<Float>.randomUniform(x.shape, lower: -1, upper: 1, seed: 7)
    func run() -> [[Float]] {
      let (y, pullback) = valueWithPullback(at: [x, scale, offset]) { inputs in
        var statistics = BatchNormStatistics<Float>(channels: 24)
        return batchNorm(
          inputs[0], scale: inputs[1], offset: inputs[2], statistics: &statistics,
          training: true)
      }
      return [y.scalars] + pullback(upstream).map(\.scalars)
    }
    let reference = withThreadCount(1) { run() }
    #expect(withThreadCount(2) { run() } == reference)
    let saved = ComputeSettings.instructionSet
    defer { try? ComputeSettings.setInstructionSet(saved) }
    for set in InstructionSet.supported.filter(\.fusesMultiplyAdd) {
      try ComputeSettings.setInstructionSet(set)
      #expect(withThreadCount(1) { run() } == reference, "\(set)")
    }
  }

  @Test func runningStatisticsOfFeatures() {
    // Channel 0 holds 1, 2, 3, 4: mean 2.5, biased variance 1.25, unbiased 5/3.
    // Channel 1 holds 10, 20, 30, 60: mean 30, biased variance 350, unbiased 1400/3.
    let x = Tensor<Double>(shape: [4, 2], scalars: [1, 10, 2, 20, 3, 30, 4, 60])
    var statistics = BatchNormStatistics<Double>(channels: 2)
    #expect(statistics.mean == Tensor([0, 0]))
    #expect(statistics.variance == Tensor([1, 1]))
    let y = batchNorm(
      x, scale: .ones([2]), offset: .zeros([2]), statistics: &statistics, training: true)
    let firstVariance: [Double] = [0.9 + 0.1 * 5 / 3, 0.9 + 0.1 * 1400 / 3]
    #expect(statistics.mean.isAlmostEqual(to: Tensor([0.25, 3]), absoluteTolerance: 1e-15))
    #expect(statistics.variance.isAlmostEqual(to: Tensor(firstVariance), absoluteTolerance: 1e-13))
    // The batch is normalized with its own, biased variance.
    #expect(
      Swift.abs(y[0, 0] - (1 - 2.5) / Foundation.sqrt(1.25 + 1e-5)) < 1e-15)
    #expect(
      Swift.abs(y[3, 1] - (60 - 30) / Foundation.sqrt(350 + 1e-5)) < 1e-15)

    _ = batchNorm(
      x, scale: .ones([2]), offset: .zeros([2]), statistics: &statistics, training: true,
      momentum: 0.5)
    let secondMean: [Double] = [0.5 * 0.25 + 0.5 * 2.5, 0.5 * 3 + 0.5 * 30]
    let unbiased: [Double] = [5 / 3, 1400 / 3]
    let secondVariance = (0..<2).map { 0.5 * firstVariance[$0] + 0.5 * unbiased[$0] }
    #expect(statistics.mean.isAlmostEqual(to: Tensor(secondMean), absoluteTolerance: 1e-14))
    #expect(
      statistics.variance.isAlmostEqual(to: Tensor(secondVariance), absoluteTolerance: 1e-12))
  }

  @Test func runningStatisticsOfChannels() {
    // [N 2, C 2, H 1, W 2]. Channel 0 holds 1, 3, 5, 7: mean 4, unbiased
    // variance 20/3. Channel 1 holds 0, 0, 2, 2: mean 1, unbiased variance 4/3.
    let x = Tensor<Double>(shape: [2, 2, 1, 2], scalars: [1, 3, 0, 0, 5, 7, 2, 2])
    var statistics = BatchNormStatistics<Double>(channels: 2)
    let y = batchNorm(
      x, scale: .ones([2]), offset: .zeros([2]), statistics: &statistics, training: true)
    #expect(statistics.mean.isAlmostEqual(to: Tensor([0.4, 0.1]), absoluteTolerance: 1e-15))
    let variance: [Double] = [0.9 + 0.1 * 20 / 3, 0.9 + 0.1 * 4 / 3]
    #expect(statistics.variance.isAlmostEqual(to: Tensor(variance), absoluteTolerance: 1e-14))
    #expect(Swift.abs(y[1, 0, 0, 1] - 3 / Foundation.sqrt(5 + 1e-5)) < 1e-15)
    #expect(Swift.abs(y[0, 1, 0, 0] - -1 / Foundation.sqrt(1 + 1e-5)) < 1e-15)
  }

  @Test func inferenceUsesTheRunningStatistics() {
    let running = BatchNormStatistics<Double>(mean: Tensor([1, -2]), variance: Tensor([4, 9]))
    var statistics = running
    let x = Tensor<Double>.randomNormal([3, 2, 2, 2], seed: 4)
    let scale = Tensor<Double>([0.5, 2])
    let offset = Tensor<Double>([0.1, -0.3])
    let y = batchNorm(x, scale: scale, offset: offset, statistics: &statistics, training: false)
    #expect(statistics == running)
    let shape = [1, 2, 1, 1]
    let expected =
      scale.reshaped(to: shape) * (x - running.mean.reshaped(to: shape))
      / sqrt(running.variance.reshaped(to: shape) + 1e-5) + offset.reshaped(to: shape)
    #expect(y.isAlmostEqual(to: expected, absoluteTolerance: 1e-14))
  }

  @Test(arguments: [[5, 3], [7, 1], [3, 2, 3, 5], [2, 3, 1, 3]])
  func trainingGradientCheck(shape: [Int]) {
    let channels = shape[1]
    let x = Tensor<Double>.randomNormal(shape, mean: 1, standardDeviation: 2, seed: 5)
    let scale = Tensor<Double>.randomUniform([channels], lower: 0.5, upper: 2, seed: 6)
    let offset = Tensor<Double>.randomNormal([channels], seed: 7)
    let report = checkGradients(at: [x, scale, offset]) {
      trainingBatchNorm($0[0], scale: $0[1], offset: $0[2])
    }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
    #expect(report.inputs.count == 3)
  }

  @Test(arguments: [[4, 3], [2, 3, 2, 3]])
  func inferenceGradientCheck(shape: [Int]) {
    let channels = shape[1]
    let x = Tensor<Double>.randomNormal(shape, seed: 8)
    let scale = Tensor<Double>.randomUniform([channels], lower: 0.5, upper: 2, seed: 9)
    let offset = Tensor<Double>.randomNormal([channels], seed: 10)
    let running = BatchNormStatistics<Double>(
      mean: .randomNormal([channels], seed: 11),
      variance: .randomUniform([channels], lower: 0.5, upper: 3, seed: 12))
    let report = checkGradients(at: [x, scale, offset]) { inputs in
      var statistics = running
      return batchNorm(
        inputs[0], scale: inputs[1], offset: inputs[2], statistics: &statistics, training: false)
    }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }

  @Test(arguments: [[4, 3], [2, 3, 2, 2]])
  func zeroVarianceStaysFinite(shape: [Int]) {
    let channels = shape[1]
    let x = Tensor<Double>.filled(2.5, shape: shape)
    let offset = Tensor<Double>.randomNormal([channels], seed: 13)
    let weights = Tensor<Double>.randomNormal(shape, seed: 14)
    let (y, (dx, dScale, dOffset)) = valueWithGradient(at: x, .ones([channels]), offset) {
      (trainingBatchNorm($0, scale: $1, offset: $2) * weights).sum()
    }
    #expect(y.scalar.isFinite)
    for gradient in [dx, dScale, dOffset] {
      #expect(gradient.scalars.allSatisfy { $0.isFinite })
    }
    // With no spread, every value is the mean: the output is β.
    let output = trainingBatchNorm(x, scale: .ones([channels]), offset: offset)
    let broadcastShape = [1, channels] + [Int](repeating: 1, count: shape.count - 2)
    #expect(output == offset.reshaped(to: broadcastShape).broadcasted(to: shape))
  }

  @Test func worksInFloat() {
    let x = Tensor<Float>.randomNormal([4, 3, 2, 2], seed: 15)
    var statistics = BatchNormStatistics<Float>(channels: 3)
    let report = checkGradients(at: [x, .ones([3]), .zeros([3])]) { inputs in
      var fresh = statistics
      return batchNorm(
        inputs[0], scale: inputs[1], offset: inputs[2], statistics: &fresh, training: true)
    }
    #expect(report.passed, "\(report)")
    _ = batchNorm(
      x, scale: .ones([3]), offset: .zeros([3]), statistics: &statistics, training: true)
    #expect(statistics.mean.scalars.allSatisfy { $0.isFinite })
  }
}

/// Layer normalization runs fused, forward and backward, one pass per row
/// for each sum; it agrees with its composed definition on rows of any
/// length and with weights over one or two trailing axes, and gives the
/// same bits on every instruction set.
@Suite struct FusedLayerNormTests {
  static func composed<Scalar: TensorScalar>(
    _ x: Tensor<Scalar>, _ weight: Tensor<Scalar>, _ bias: Tensor<Scalar>
  ) -> Tensor<Scalar> {
    let axes = Array((x.rank - weight.rank)..<x.rank)
    let centered = x - x.mean(alongAxes: axes, keepDims: true)
    let variance = square(centered).mean(alongAxes: axes, keepDims: true)
    return centered / sqrt(variance + 1e-5) * weight + bias
  }

  static func valuesAndGradients<Scalar: TensorScalar>(
    _ inputs: [Tensor<Scalar>], _ f: @escaping ([Tensor<Scalar>]) -> Tensor<Scalar>
  ) -> [Tensor<Scalar>] {
    let (y, pullback) = valueWithPullback(at: inputs, of: f)
    return [y] + pullback(Tensor.randomUniform(y.shape, lower: -1, upper: 1, seed: 3))
  }

  @Test(arguments: [[3, 1], [3, 7], [2, 3, 8], [4, 9], [5, 256], [2, 3, 4, 5], [70, 33]])
  func fusedAgreesWithTheComposedForm(shape: [Int]) {
    let trailing = shape.count == 4 ? 2 : 1
    let x = Tensor<Double>.randomNormal(shape, standardDeviation: 2, seed: 1) + 3
    let weightShape = Array(shape.suffix(trailing))
    let w = Tensor<Double>.randomNormal(weightShape, seed: 2)
    let b = Tensor<Double>.randomNormal(weightShape, seed: 3)
    let fused = Self.valuesAndGradients([x, w, b]) { layerNorm($0[0], weight: $0[1], bias: $0[2]) }
    let composed = Self.valuesAndGradients([x, w, b]) { Self.composed($0[0], $0[1], $0[2]) }
    for (a, c) in zip(fused, composed) {
      #expect(
        a.isAlmostEqual(to: c, absoluteTolerance: 1e-12, relativeTolerance: 1e-12),
        "\(shape): \(a) against \(c)")
    }
    let fusedFloat = Self.valuesAndGradients([x, w, b].map { $0.converted(to: Float.self) }) {
      layerNorm($0[0], weight: $0[1], bias: $0[2])
    }
    for (a, c) in zip(fusedFloat, composed) {
      #expect(
        a.converted(to: Double.self).isAlmostEqual(
          to: c, absoluteTolerance: 2e-5, relativeTolerance: 2e-5), "Float \(shape)")
    }
  }

  @Test func theFusedPassesAreTheSameBitsOnEverySet() throws {
    let x = Tensor<Float>.randomNormal([17, 37], seed: 4)
    let w = Tensor<Float>.randomNormal([37], seed: 5)
    let b = Tensor<Float>.randomNormal([37], seed: 6)
    func run(on set: InstructionSet) throws -> [[Float]] {
      let saved = ComputeSettings.instructionSet
      try ComputeSettings.setInstructionSet(set)
      defer { try? ComputeSettings.setInstructionSet(saved) }
      return Self.valuesAndGradients([x, w, b]) { layerNorm($0[0], weight: $0[1], bias: $0[2]) }
        .map(\.scalars)
    }
    let sets = InstructionSet.supported
    let reference = try run(on: sets[0])
    for set in sets.dropFirst() {
      #expect(try run(on: set) == reference, "\(set) against \(sets[0])")
    }
  }

  /// The weight and bias gradients are summed in blocks of a fixed number
  /// of rows, so one thread and two give the same bits.
  @Test func theGradientsDoNotDependOnTheThreadCount() {
    let x = Tensor<Float>.randomNormal([8, 40, 64], seed: 7)
    let w = Tensor<Float>.randomNormal([64], seed: 8)
    let b = Tensor<Float>.randomNormal([64], seed: 9)
    func run() -> [[Float]] {
      Self.valuesAndGradients([x, w, b]) { layerNorm($0[0], weight: $0[1], bias: $0[2]) }
        .map(\.scalars)
    }
    #expect(withThreadCount(1) { run() } == withThreadCount(2) { run() })
  }
}
