import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

@Suite struct GradientCheckTests {
  /// Every differentiable operation, in Double, against central
  /// differences: passing at gradcheck's defaults, and with relative
  /// errors below 1e-7.
  @Test(arguments: OperationCase.all)
  func doublePrecision(_ operation: OperationCase) {
    let report = checkGradients(at: operation.inputs, of: operation.function)
    #expect(report.inputs.count == operation.inputs.count)
    #expect(report.tolerance == 1e-3)
    #expect(report.absoluteTolerance == 1e-5)
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
    #expect(report.inputs.allSatisfy { $0.passed })
  }
}

/// `a · b` with a pullback for `b` that is off by `error` at flat index
/// `wrongAt`: a deliberately broken operation for the checker to catch.
func brokenProduct(
  _ a: Tensor<Double>, _ b: Tensor<Double>, error: Double, wrongAt: Int
) -> Tensor<Double> {
  let (va, vb) = (a.withoutDerivative, b.withoutDerivative)
  return record("broken product", inputs: [a, b], output: va * vb) { upstream, _ in
    var gb = upstream * va
    gb.withUnsafeMutableBufferPointer { $0[wrongAt] += error }
    return [upstream * vb, gb]
  }
}

@Suite struct GradientCheckReportTests {
  let a = random([2, 3], seed: 1)
  let b = random([2, 3], seed: 2)

  @Test func wrongPullbackFailsAndNamesTheInputAndIndex() {
    let report = checkGradients(at: [a, b]) { t in
      brokenProduct(t[0], t[1], error: 0.5, wrongAt: 4)
    }
    #expect(!report.passed)
    #expect(report.maxRelativeError > 1e-3)
    #expect(report.inputs.count == 2)
    #expect(report.inputs[0].passed)
    #expect(report.inputs[0].maxRelativeError < 1e-7)
    let wrong = try! #require(report.inputs.last)
    #expect(!wrong.passed)
    #expect(wrong.input == 1)
    #expect(wrong.shape == [2, 3])
    #expect(wrong.worstIndex == [1, 1])
    // The output is projected on a random v, so the derivatives at [1, 1]
    // are v·a + 0.5 (analytic) against v·a (numeric).
    expectClose(wrong.analytic - wrong.numeric, 0.5, tolerance: 1e-8)
    expectClose(
      wrong.maxRelativeError,
      relativeError(wrong.analytic, wrong.numeric, absoluteTolerance: 1e-5, tolerance: 1e-3))
    let text = report.description
    #expect(text.contains("FAILED"))
    #expect(text.contains("input 1 [2, 3]"))
    #expect(text.contains("at [1, 1]"))
    #expect(text.contains("analytic \(wrong.analytic), numeric \(wrong.numeric)"))
  }

  @Test func scalarOutputsAreCheckedDirectly() {
    let report = checkGradients(at: [a, b]) { t in
      brokenProduct(t[0], t[1], error: 1, wrongAt: 0).sum()
    }
    let wrong = report.inputs[1]
    #expect(wrong.worstIndex == [0, 0])
    expectClose(wrong.analytic, a[0, 0] + 1, tolerance: 1e-9)
    expectClose(wrong.numeric, a[0, 0], tolerance: 1e-9)
  }

  @Test func fastModePassesCorrectOperations() {
    let cases = OperationCase.matrixProducts + OperationCase.compositions
    for operation in cases {
      let report = checkGradients(at: operation.inputs, mode: .fast, of: operation.function)
      #expect(report.passed, "\(operation.testDescription): \(report)")
      #expect(report.inputs.isEmpty)
      #expect(report.maxRelativeError <= 1e-7)
    }
  }

  @Test func fastModeFallsBackToTheFullCheckOnAWrongPullback() {
    let report = checkGradients(at: [a, b], mode: .fast) { t in
      brokenProduct(t[0], t[1], error: 0.5, wrongAt: 2)
    }
    #expect(!report.passed)
    #expect(report.inputs.count == 2)
    #expect(report.inputs[0].passed)
    #expect(!report.inputs[1].passed)
    #expect(report.inputs[1].worstIndex == [0, 2])
  }

  @Test func customToleranceAndStep() {
    let loose = checkGradients(at: [a, b], tolerance: 10) { t in
      brokenProduct(t[0], t[1], error: 0.5, wrongAt: 4)
    }
    #expect(loose.passed)
    #expect(loose.tolerance == 10)
    let coarse = checkGradients(at: a, step: 1e-3) { exp($0) }
    #expect(coarse.passed, "\(coarse)")
  }

  @Test func nanGradientFails() {
    let report = checkGradients(at: Tensor<Double>([1, 2])) { x in
      record("nan", inputs: [x], output: x.withoutDerivative) { upstream, _ in
        [upstream * .nan]
      }
    }
    #expect(!report.passed)
    #expect(report.maxRelativeError.isNaN)
  }
}

/// Float gradients are checked with the documented looser bound: step
/// 1e-2, rtol 1e-2 and atol 1e-4, single precision keeping about seven
/// digits.
@Suite struct FloatGradientCheckTests {
  static let cases: [(String, [Tensor<Float>], @Sendable ([Tensor<Float>]) -> Tensor<Float>)] = {
    func r(_ shape: [Int], _ seed: UInt64) -> Tensor<Float> {
      random(shape, seed: seed).converted()
    }
    return [
      ("multiply, broadcast", [r([3, 1], 1), r([1, 4], 2)], { $0[0] * $0[1] }),
      ("divide", [r([4], 3), r([4], 4) + 3], { $0[0] / $0[1] }),
      ("exp", [r([5], 5)], { exp($0[0]) }),
      ("tanh", [r([2, 3], 6)], { tanh($0[0]) }),
      ("sigmoid", [r([2, 3], 7)], { sigmoid($0[0]) }),
      ("log", [r([4], 8) + 2], { log($0[0]) }),
      ("matmul", [r([3, 4], 9), r([4, 2], 10)], { matmul($0[0], $0[1]) }),
      ("batched matmul", [r([2, 3, 4], 11), r([4, 2], 12)], { matmul($0[0], $0[1]) }),
      ("sum along axis", [r([3, 4], 13)], { $0[0].sum(alongAxes: 1) }),
      ("mean", [r([3, 4], 14)], { $0[0].mean() }),
      ("max along axis", [r([3, 4], 15)], { $0[0].max(alongAxes: 0) }),
      ("permute and pad", [r([2, 3], 16)], { $0[0].transposed().padded(with: [(1, 0), (0, 1)]) }),
    ]
  }()

  @Test func floatPrecision() {
    for (name, inputs, f) in Self.cases {
      let report = checkGradients(at: inputs, of: f)
      #expect(report.tolerance == 1e-2)
      #expect(report.passed, "\(name): \(report)")
    }
    #expect(Float.defaultGradientStep == 1e-2)
    #expect(Double.defaultGradientStep == 1e-6)
    #expect(Double.defaultGradientTolerance == 1e-3)
    #expect(Double.defaultGradientAbsoluteTolerance == 1e-5)
    #expect(Float.defaultGradientTolerance == 1e-2)
    #expect(Float.defaultGradientAbsoluteTolerance == 1e-4)
  }

  @Test func floatCheckCatchesAWrongPullback() {
    let report = checkGradients(at: Tensor<Float>([0.5, -1, 2])) { x in
      record("wrong square", inputs: [x], output: x.withoutDerivative * x.withoutDerivative) {
        upstream, _ in [upstream * 3 * x.withoutDerivative]
      }
    }
    #expect(!report.passed)
    #expect(report.inputs[0].maxRelativeError > 0.1)
  }
}

/// The pass rule is gradcheck's, `|a − n| ≤ atol + rtol·|n|`: correct
/// gradients pass at the defaults where a relative error alone would cry
/// wolf, and pullbacks that are wrong still fail.
@Suite struct GradientCheckRuleTests {
  let a = random([3, 4], seed: 11)
  let b = random([4, 4], seed: 12)

  /// `a·b` with a pullback changed by `mistake`.
  static func product(
    _ a: Tensor<Double>, _ b: Tensor<Double>,
    mistake:
      @escaping (_ upstream: Tensor<Double>, _ a: Tensor<Double>, _ b: Tensor<Double>) -> [Tensor<
        Double
      >]
  ) -> Tensor<Double> {
    let (va, vb) = (a.withoutDerivative, b.withoutDerivative)
    return record("product", inputs: [a, b], output: matmul(va, vb)) { upstream, _ in
      mistake(upstream, va, vb)
    }
  }

  @Test func theCorrectPullbackPasses() {
    let report = checkGradients(at: [a, b]) { t in
      Self.product(t[0], t[1]) { g, a, b in [matmul(g, b.transposed()), matmul(a.transposed(), g)] }
    }
    expectPasses(report)
    #expect(report.maxRelativeError < 1e-8)
  }

  @Test(arguments: ["1% off", "a dropped term", "the wrong sign", "transposed"])
  func aWrongPullbackFails(_ mistake: String) {
    let report = checkGradients(at: [a, b]) { t in
      Self.product(t[0], t[1]) { g, a, b in
        let right = matmul(g, b.transposed())
        let other = matmul(a.transposed(), g)
        switch mistake {
        case "1% off": return [right * 1.01, other]
        case "a dropped term":
          // Drops the last inner term of every sum: the gradient of a with
          // b's last row missing.
          return [
            matmul(g, b.sliced(alongAxis: 0, range: 0..<3).transposed()).padded(with: [
              (0, 0), (0, 1),
            ]), other,
          ]
        case "the wrong sign": return [right, -other]
        default: return [right, other.transposed()]
        }
      }
    }
    #expect(!report.passed, "\(mistake): \(report)")
  }

  @Test func derivativesThatAreBothNearlyZeroPass() {
    // Analytic 0 against a numeric derivative of rounding noise (about
    // 1e-11): the relative error alone would be 1, the absolute term
    // passes it.
    let x = Tensor<Double>([1e5, 2, 3])
    let report = checkGradients(at: x) { x in
      let noise = record("noise", inputs: [x], output: x.withoutDerivative) { g, _ in [g] }
      return (noise - x).sum() + (x * 1e-30).sum()
    }
    expectPasses(report)
  }

  @Test func theLibrarysAttentionLayersPassInDouble() throws {
    let attention = try withRandomSeed(1) { try MultiHeadAttention<Double>(features: 8, heads: 2) }
    let encoder = try withRandomSeed(2) {
      try TransformerEncoderLayer<Double>(features: 8, heads: 2, hiddenSize: 16, dropout: 0)
    }
    let x = random([2, 3, 8], seed: 13)
    expectPasses(checkGradients(of: attention, at: x))
    expectPasses(checkGradients(of: encoder, at: x))
    expectPasses(checkGradients(of: encoder, at: x, order: 2))
  }

  @Test func aSecondOrderCheckThroughAnUndifferentiablePullbackFailsNamingIt() {
    let tripled: ([Tensor<Double>]) -> Tensor<Double> = { t in
      let x = t[0]
      return record(
        "tripled square", inputs: [x], output: 3 * x.withoutDerivative * x.withoutDerivative,
        pullbackIsDifferentiable: false
      ) { upstream, _ in [upstream.withoutDerivative * 6 * x.withoutDerivative] }
    }
    let x = random([3], seed: 14)
    expectPasses(checkGradients(at: [x], of: tripled))
    let report = checkGradients(at: [x], order: 2, of: tripled)
    #expect(!report.passed)
    #expect(report.undifferentiableOperation == "tripled square")
    #expect(report.description.contains("the pullback of 'tripled square' is not differentiable"))
    // The process goes on, and the next check is unaffected.
    expectPasses(checkGradients(at: [x], order: 2) { ($0[0] * $0[0] * $0[0]).sum() })
  }
}
