import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

@Suite struct SoftmaxTests {
  @Test func valuesOfOneRow() {
    let y = softmax(Tensor<Double>([1, 2, 3]))
    let expected = Tensor<Double>([0.09003057317038046, 0.24472847105479767, 0.6652409557748219])
    #expect(y.isAlmostEqual(to: expected, absoluteTolerance: 1e-15, relativeTolerance: 1e-14))
  }

  @Test(arguments: [0, 1, 2, -1])
  func slicesSumToOne(axis: Int) {
    let x = Tensor<Double>.randomNormal([2, 3, 5], standardDeviation: 3, seed: 1)
    let sums = softmax(x, alongAxis: axis).sum(alongAxes: [axis])
    #expect(sums.isAlmostEqual(to: .ones(sums.shape), absoluteTolerance: 1e-14))
  }

  @Test(arguments: [([3, 5], 1), ([4, 3], 0), ([2, 3, 4], 1), ([2, 3, 5], 2), ([7], 0)])
  func gradientCheck(shape: [Int], axis: Int) {
    // Logits of unit scale, as at initialization. A much wider spread makes
    // some probabilities, and so some derivatives, so small that central
    // differences in Double cannot resolve them to a relative error of 1e-7.
    let x = Tensor<Double>.randomNormal(shape, seed: UInt64(shape.count + axis))
    let report = checkGradients(at: x) { softmax($0, alongAxis: axis) }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }

  @Test func finiteForHugeLogits() {
    let x = Tensor<Double>(shape: [2, 3], scalars: [1e4, -1e4, 1e4, -1e4, -1e4, 0])
    let weights = Tensor<Double>.randomNormal([2, 3], seed: 9)
    let (y, gradient) = valueWithGradient(at: x) { (softmax($0, alongAxis: 1) * weights).sum() }
    #expect(y.scalar.isFinite)
    #expect(gradient.scalars.allSatisfy { $0.isFinite })
    let probabilities = softmax(x, alongAxis: 1)
    #expect(probabilities == Tensor(shape: [2, 3], scalars: [0.5, 0, 0.5, 0, 0, 1]))
  }
}

@Suite struct LogSoftmaxTests {
  @Test func equalsTheLogarithmOfSoftmax() {
    let x = Tensor<Double>.randomNormal([4, 6], seed: 2)
    let expected = log(softmax(x, alongAxis: 1))
    #expect(logSoftmax(x, alongAxis: 1).isAlmostEqual(to: expected, absoluteTolerance: 1e-14))
  }

  @Test(arguments: [([3, 5], 1), ([4, 3], 0), ([2, 3, 4], 1), ([5], 0)])
  func gradientCheck(shape: [Int], axis: Int) {
    let x = Tensor<Double>.randomNormal(shape, seed: UInt64(10 + axis))
    let report = checkGradients(at: x) { logSoftmax($0, alongAxis: axis) }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }

  /// Large logits: each log-probability is `(x − m) − ln Σ`, with `x − m`
  /// exact near the row's largest `m`, so the log-probabilities keep their
  /// relative accuracy where `x − (m + ln Σ)` would round them to multiples
  /// of `m`'s ulp (6e-5 at 1000, thousands of ulps of a log-probability
  /// near −0.5). Rows of 5 (one partial register), 50 and 64 (registers
  /// of sixteen), and the same values along the first axis (composed),
  /// against the same inputs in `Double`; and the cross-entropy's loss,
  /// computed the same way.
  @Test(arguments: [5, 50, 64])
  func largeLogitsKeepTheirLogProbabilitiesAccurate(length: Int) {
    let x = Tensor<Float>.randomNormal([9, length], seed: 4) + 1000
    let wide = x.converted(to: Double.self)
    let expected = logSoftmax(wide).scalars
    var worst = 0.0
    for (y, e) in zip(logSoftmax(x).scalars, expected) where e < -1e-3 {
      worst = max(worst, abs(Double(y) - e) / abs(e))
    }
    #expect(worst < 1e-6, "worst relative error \(worst)")
    // The same rows along the first axis, where the log-softmax is composed.
    worst = 0
    let alongColumns = logSoftmax(x.transposed(), alongAxis: 0).transposed().scalars
    for (y, e) in zip(alongColumns, expected) where e < -1e-3 {
      worst = max(worst, abs(Double(y) - e) / abs(e))
    }
    #expect(worst < 1e-6, "along the first axis: worst relative error \(worst)")
    let labels = (0..<9).map { $0 * 7 % length }
    let loss = Double(softmaxCrossEntropy(logits: x, labels: labels).scalar)
    let wideLoss = softmaxCrossEntropy(logits: wide, labels: labels).scalar
    #expect(abs(loss - wideLoss) / wideLoss < 1e-6, "\(loss) against \(wideLoss)")
  }

  /// One dominant logit: the row's sum is 1 plus terms below the float's
  /// spacing at 1, and `ln Σ` is taken as `log1p` of those terms, so the
  /// largest's log-probability keeps them (−49·e⁻²⁰ ≈ −1.0e-7, which
  /// `ln(1 + …)` in single precision gives as −1.19e-7, or 0 below 6e-8).
  /// Rows of 5, 13, 50 and 64, in `Float` and `Double`.
  @Test(arguments: [5, 13, 50, 64])
  func aDominantLogitKeepsItsLogProbability(length: Int) {
    for gap in [20.0, 25.0, 12.0] {
      let row = (0..<length).map { $0 == 1 ? gap : 0 }
      let expected = -Foundation.log1p(Double(length - 1) * Foundation.exp(-gap))
      let single = Double(
        logSoftmax(Tensor<Float>(shape: [1, length], scalars: row.map(Float.init)))[0, 1])
      let double = logSoftmax(Tensor<Double>(shape: [1, length], scalars: row))[0, 1]
      #expect(abs(single - expected) <= 1e-6 * abs(expected), "\(gap): \(single) for \(expected)")
      #expect(abs(double - expected) <= 1e-14 * abs(expected), "\(gap): \(double) for \(expected)")
    }
  }

  @Test func finiteForHugeLogits() {
    let x = Tensor<Double>([1e4, -1e4, 0])
    let weights = Tensor<Double>([0.3, -1.2, 0.7])
    let (y, gradient) = valueWithGradient(at: x) { (logSoftmax($0) * weights).sum() }
    #expect(y.scalar.isFinite)
    #expect(gradient.scalars.allSatisfy { $0.isFinite })
    #expect(logSoftmax(x) == Tensor([0, -2e4, -1e4]))
  }
}

@Suite struct LogSumExpTests {
  @Test func valuesAlongAxes() {
    let x = Tensor<Double>(shape: [2, 2], scalars: [0, 0, 1, 2])
    let rows = x.logSumExp(alongAxes: 1)
    #expect(rows.shape == [2])
    #expect(
      rows.isAlmostEqual(
        to: Tensor([Foundation.log(2.0), Foundation.log(Foundation.exp(1.0) + Foundation.exp(2.0))]
        ),
        absoluteTolerance: 1e-15))
    let all = x.logSumExp(alongAxes: [0, 1], keepDims: true)
    #expect(all.shape == [1, 1])
    #expect(
      Swift.abs(all.scalar - Foundation.log(2 + Foundation.exp(1.0) + Foundation.exp(2.0))) < 1e-15)
  }

  @Test(arguments: [[1], [0, 2], [0, 1, 2], [-1]])
  func gradientCheck(axes: [Int]) {
    let x = Tensor<Double>.randomNormal([2, 3, 5], seed: UInt64(axes.count))
    for keepDims in [false, true] {
      let report = checkGradients(at: x) { $0.logSumExp(alongAxes: axes, keepDims: keepDims) }
      #expect(report.maxRelativeError <= 1e-7, "\(report)")
    }
  }

  @Test func finiteForHugeLogits() {
    let x = Tensor<Double>([1e4, -1e4, 1e4])
    let (value, gradient) = valueWithGradient(at: x) { $0.logSumExp(alongAxes: 0) }
    #expect(Swift.abs(value.scalar - (1e4 + Foundation.log(2.0))) < 1e-9)
    #expect(gradient.isAlmostEqual(to: Tensor([0.5, 0, 0.5]), absoluteTolerance: 1e-15))
    let negative = Tensor<Double>([-1e4, -1e4]).logSumExp(alongAxes: 0)
    #expect(Swift.abs(negative.scalar - (-1e4 + Foundation.log(2.0))) < 1e-9)
  }

  @Test func allNegativeInfinityGivesNegativeInfinity() {
    let x = Tensor<Double>([-.infinity, -.infinity])
    #expect(x.logSumExp(alongAxes: 0).scalar == -.infinity)
  }
}

/// Along the last axis, softmax and log-softmax run as one fused pass per
/// row, forward and backward; elsewhere they are composed. The two agree,
/// rows of any length (registers of 8 and of 16 lanes, a partial one at
/// the end included) and with −∞ entries.
@Suite struct FusedSoftmaxTests {
  /// `f` along the last axis, and the same along axis 0 of the transpose
  /// (the composed form), with the gradients of a fixed projection.
  static func bothForms<Scalar: TensorScalar>(
    _ x: Tensor<Scalar>, logarithm: Bool
  ) -> (fused: [Tensor<Scalar>], composed: [Tensor<Scalar>]) {
    let f: (Tensor<Scalar>, Int) -> Tensor<Scalar> = { x, axis in
      logarithm ? logSoftmax(x, alongAxis: axis) : softmax(x, alongAxis: axis)
    }
    let seed = Tensor<Scalar>.randomUniform(x.shape, lower: -1, upper: 1, seed: 5)
    let (fused, fusedPullback) = valueWithPullback(at: x) { f($0, 1) }
    let (composed, composedPullback) = valueWithPullback(at: x.transposed()) { f($0, 0) }
    return (
      [fused, fusedPullback(seed)],
      [composed.transposed(), composedPullback(seed.transposed()).transposed()]
    )
  }

  @Test(arguments: [1, 2, 7, 8, 9, 15, 16, 17, 32, 50, 67])
  func fusedRowsAgreeWithTheComposedForm(length: Int) {
    for logarithm in [false, true] {
      var x = Tensor<Double>.randomNormal([5, length], standardDeviation: 3, seed: UInt64(length))
      if length > 2 { x[1, 2] = -.infinity }
      let (fused, composed) = Self.bothForms(x, logarithm: logarithm)
      for (a, b) in zip(fused, composed) {
        #expect(
          a.isAlmostEqual(to: b, absoluteTolerance: 1e-14, relativeTolerance: 1e-14),
          "\(length) \(logarithm): \(a) against \(b)")
      }
      let (fusedFloat, composedFloat) = Self.bothForms(
        x.converted(to: Float.self), logarithm: logarithm)
      for (a, b) in zip(fusedFloat, composedFloat) {
        #expect(
          a.isAlmostEqual(to: b, absoluteTolerance: 2e-6, relativeTolerance: 2e-6),
          "Float \(length) \(logarithm): \(a) against \(b)")
      }
    }
  }

  /// Rows run four at a time, a step of each row after the same step of
  /// the others; each row comes out as it does alone.
  @Test(arguments: [17, 50, 64])
  func aRowIsTheSameBitsInAGroupAsAlone(length: Int) {
    let x = Tensor<Float>.randomNormal([7, length], standardDeviation: 3, seed: 9)
    let upstream = Tensor<Float>.randomNormal([7, length], seed: 10)
    for logarithm in [false, true] {
      let f: (Tensor<Float>) -> Tensor<Float> = { logarithm ? logSoftmax($0) : softmax($0) }
      let (y, pullback) = valueWithPullback(at: x, of: f)
      let gradient = pullback(upstream)
      for row in 0..<7 {
        let rows = row..<(row + 1)
        let (alone, alonePullback) = valueWithPullback(at: x[alongAxis: 0, rows], of: f)
        #expect(alone.scalars == y[alongAxis: 0, rows].scalars, "row \(row), \(logarithm)")
        #expect(
          alonePullback(upstream[alongAxis: 0, rows]).scalars
            == gradient[alongAxis: 0, rows].scalars,
          "gradient of row \(row), \(logarithm)")
      }
    }
  }

  /// The fused rows' exponential leaves out the checks that arguments of
  /// at most 0 never need; it gives the `exp` kernel's bits all the same,
  /// on every set. Seen through the log-softmax's gradient kernel: with
  /// upstream 1 at each row's first element and 0 elsewhere, element
  /// `j > 0` of the gradient is exactly `0 − e^(yⱼ)`. The rows' lengths
  /// end in every way a row can (no rest, a rest of at most eight, more);
  /// their values reach down past the subnormal results to −∞, and a NaN
  /// stays NaN.
  @Test(arguments: [64, 50, 25, 13])
  func theRowsExponentialIsTheExpKernels(length: Int) {
    var y: [Float] = []
    for row in 0..<40 {
      for j in 0..<length {
        let step = Float(row % 20 * length + j) / Float(20 * length)
        y.append(row < 20 ? -120 * step : -103.5 - 0.7 * step)
      }
    }
    y[3] = -.infinity
    y += [Float](repeating: -1, count: length)
    y[y.count - 2] = .nan
    let rows = y.count / length
    let upstream = (0..<y.count).map { $0 % length == 0 ? Float(1) : 0 }
    for set in InstructionSet.supported {
      let kernels = ComputeSettings.kernels(for: set)
      var (gradient, expected) = ([Float](repeating: 7, count: y.count), y)
      gradient.withUnsafeMutableBufferPointer { out in
        kernels.run(
          .softmaxRowsGradient(
            y: y, upstream: upstream, out: out.baseAddress!, rows: rows, length: length,
            logarithm: true))
      }
      kernels.apply(.exp, y, &expected, count: y.count)
      var mismatches = 0
      for i in 0..<(rows - 1) * length where i % length != 0 {
        if (0 - gradient[i]).bitPattern != expected[i].bitPattern { mismatches += 1 }
      }
      #expect(mismatches == 0, "\(set), length \(length): \(mismatches) exponentials differ")
      let reachesSubnormals = expected.contains { $0 > 0 && !$0.isNormal }
      #expect(expected.contains(0) && reachesSubnormals)
      #expect(gradient[y.count - 2].isNaN, "\(set)")
    }
  }

  @Test func theFusedPassesAreTheSameBitsOnEveryFusedSet() throws {
    let x = Tensor<Float>.randomNormal([33, 50], standardDeviation: 3, seed: 7)
    let upstream = Tensor<Float>.randomNormal([33, 50], seed: 8)
    func run(on set: InstructionSet) throws -> [[Float]] {
      let saved = ComputeSettings.instructionSet
      try ComputeSettings.setInstructionSet(set)
      defer { try? ComputeSettings.setInstructionSet(saved) }
      return [false, true].flatMap { logarithm -> [[Float]] in
        let (y, pullback) = valueWithPullback(at: x) {
          logarithm ? logSoftmax($0) : softmax($0)
        }
        return [y.scalars, pullback(upstream).scalars]
      }
    }
    let sets = InstructionSet.supported.filter(\.fusesMultiplyAdd)
    let reference = try run(on: sets[0])
    for set in sets.dropFirst() {
      #expect(try run(on: set) == reference, "\(set) against \(sets[0])")
    }
  }
}
