import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// The research building blocks against float64 references computed here
/// with plain loops, and their edge cases.
@Suite struct ResearchOperationTests {
  /// `Φ(x)` by Simpson's rule on the density, independent of the C library's erf.
  static func normalCDF(_ x: Double) -> Double {
    let steps = 2000
    let h = x / Double(steps)
    var total = 0.0
    for i in 0...steps {
      let t = Double(i) * h
      let weight = i == 0 || i == steps ? 1.0 : (i % 2 == 1 ? 4.0 : 2.0)
      total += weight * Foundation.exp(-t * t / 2)
    }
    return 0.5 + total * h / 3 / (2 * Double.pi).squareRoot()
  }

  static let points = Tensor<Double>([-3.2, -1, -0.25, 0, 0.4, 1.7, 2.9])

  @Test func geluMatchesTheNormalCDF() {
    let y = gelu(Self.points)
    let approximate = gelu(Self.points, approximation: .tanh)
    for (i, x) in Self.points.scalars.enumerated() {
      #expect(Swift.abs(y.scalars[i] - x * Self.normalCDF(x)) < 1e-12)
      let t = Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))
      #expect(Swift.abs(approximate.scalars[i] - 0.5 * x * (1 + t)) < 1e-15)
      // The tanh form stays within 1e-3 of the exact one.
      #expect(Swift.abs(approximate.scalars[i] - y.scalars[i]) < 1e-3)
    }
  }

  @Test func geluAtPlusMinusTen() {
    let x = Tensor<Double>([-10, 10])
    let (value, derivative) = valueWithGradient(at: x) { gelu($0).sum() }
    #expect(Swift.abs(value.scalar - 10) < 1e-20)
    #expect(Swift.abs(derivative.scalars[0]) < 1e-20)
    #expect(derivative.scalars[1] == 1)
    let tanhDerivative = gradient(at: x) { gelu($0, approximation: .tanh).sum() }
    #expect(Swift.abs(tanhDerivative.scalars[0]) < 1e-15)
    #expect(Swift.abs(tanhDerivative.scalars[1] - 1) < 1e-15)
    #expect(gelu(x).scalars.allSatisfy { $0.isFinite })
  }

  @Test func smoothFunctionsMatchTheirFormulas() {
    let x = Self.points
    let softplusValues = softplus(x).scalars
    let siluValues = silu(x).scalars
    for (i, v) in x.scalars.enumerated() {
      #expect(Swift.abs(softplusValues[i] - Foundation.log(1 + Foundation.exp(v))) < 1e-14)
      #expect(Swift.abs(siluValues[i] - v / (1 + Foundation.exp(-v))) < 1e-14)
    }
    #expect(softplus(Tensor<Double>([1000, -1000])).scalars == [1000, 0])
    // erf(x) = 2Φ(x√2) − 1.
    for (i, v) in x.scalars.enumerated() {
      #expect(Swift.abs(erf(x).scalars[i] - (2 * Self.normalCDF(v * 2.squareRoot()) - 1)) < 1e-12)
    }
    #expect(erf(Tensor<Double>([0.5])).scalar == 0.5204998778130465)
    let tiny = Tensor<Double>([1e-18])
    #expect(log1p(tiny).scalar == 1e-18)
    #expect(expm1(tiny).scalar == 1e-18)
    let angles = Tensor<Double>([0, Double.pi / 6, Double.pi / 3])
    #expect(
      sin(angles).isAlmostEqual(
        to: Tensor([0, 0.5, 3.0.squareRoot() / 2]), absoluteTolerance: 1e-15))
    #expect(
      cos(angles).isAlmostEqual(
        to: Tensor([1, 3.0.squareRoot() / 2, 0.5]), absoluteTolerance: 1e-15))
  }

  @Test func selectTakesEachBranchAndRoutesTheGradient() {
    let condition = Mask(shape: [2, 1], scalars: [true, false])
    let a = Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    let b = Tensor<Double>([-.infinity, -2, -3])
    let (value, (ga, gb)) = valueWithGradient(at: a, b) { select(condition, $0, $1).sum() }
    #expect(value.scalar == 6 + -Double.infinity)
    #expect(select(condition, a, b).scalars == [1, 2, 3, -.infinity, -2, -3])
    #expect(ga.scalars == [1, 1, 1, 0, 0, 0])
    #expect(gb.scalars == [1, 1, 1])
    #expect(a.mask { $0 > 3 }.scalars == [false, false, false, true, true, true])
  }

  @Test func binaryCrossEntropyAtLogitsOfPlusMinusHundred() {
    let logits = Tensor<Double>([100, 100, -100, -100])
    let targets = Tensor<Double>([1, 0, 1, 0])
    let (losses, gradients) = valueWithGradient(at: logits) {
      binaryCrossEntropy(logits: $0, targets: targets, reduction: .sum)
    }
    #expect(Swift.abs(losses.scalar - 200) < 1e-12)
    let tail = 1 / (1 + Foundation.exp(100.0))  // σ(−100) = 3.7e-44
    #expect(Array(gradients.scalars[..<3]) == [0, 1, -1])
    #expect(Swift.abs(gradients.scalars[3] - tail) < 1e-57)
    let none = binaryCrossEntropy(logits: logits, targets: targets, reduction: .none)
    #expect(none.scalars[1] == 100 && none.scalars[2] == 100)
    #expect(none.scalars[0] == Foundation.log1p(Foundation.exp(-100.0)))
    #expect(binaryCrossEntropy(logits: logits, targets: targets).scalar == losses.scalar / 4)
  }

  @Test func lossesAndReductionsMatchLoops() {
    let p = Tensor<Double>(shape: [2, 3], scalars: [0.5, -1, 2, 0, 3, -0.25])
    let t = Tensor<Double>(shape: [2, 3], scalars: [1, -1, 0, 0.5, 2, 0])
    let squared = zip(p.scalars, t.scalars).map { ($0 - $1) * ($0 - $1) }
    let absolute = zip(p.scalars, t.scalars).map { Swift.abs($0 - $1) }
    #expect(meanSquaredError(predictions: p, targets: t).scalar == squared.reduce(0, +) / 6)
    #expect(
      meanSquaredError(predictions: p, targets: t, reduction: .sum).scalar == squared.reduce(0, +))
    #expect(meanSquaredError(predictions: p, targets: t, reduction: .none).scalars == squared)
    #expect(l1Loss(predictions: p, targets: t).scalar == absolute.reduce(0, +) / 6)
    #expect(l1Loss(predictions: p, targets: t, reduction: .none).shape == [2, 3])

    // Cross-entropy with soft targets and label smoothing, by loops.
    let logits = Tensor<Double>(shape: [2, 3], scalars: [1, 2, 0.5, -1, 0, 3])
    let labels = [1, 2]
    let epsilon = 0.1
    var perExample: [Double] = []
    for i in 0..<2 {
      let row = Array(logits.scalars[(3 * i)..<(3 * i + 3)])
      let logTotal = Foundation.log(row.map(Foundation.exp).reduce(0, +))
      var loss = 0.0
      for j in 0..<3 {
        let target = (j == labels[i] ? 1 - epsilon : 0) + epsilon / 3
        loss -= target * (row[j] - logTotal)
      }
      perExample.append(loss)
    }
    let smoothed = softmaxCrossEntropy(
      logits: logits, labels: labels, labelSmoothing: epsilon, reduction: .none)
    #expect(smoothed.isAlmostEqual(to: Tensor(perExample), absoluteTolerance: 1e-14))
    let hard = softmaxCrossEntropy(logits: logits, labels: labels)
    let hardNone = softmaxCrossEntropy(logits: logits, labels: labels, reduction: .none)
    #expect(Swift.abs(hardNone.mean().scalar - hard.scalar) < 1e-14)
    #expect(
      Swift.abs(
        softmaxCrossEntropy(logits: logits, labels: labels, reduction: .sum).scalar - 2
          * hard.scalar) < 1e-14)
    let nll = negativeLogLikelihood(
      logProbabilities: logSoftmax(logits), labels: labels, reduction: .none)
    #expect(nll.isAlmostEqual(to: hardNone, absoluteTolerance: 1e-14))
    let probabilities = crossEntropy(
      probabilities: softmax(logits), labels: labels, reduction: .none)
    #expect(probabilities.isAlmostEqual(to: hardNone, absoluteTolerance: 1e-14))
    let hinge = multiclassHingeLoss(scores: logits, labels: labels, reduction: .none)
    // Row 0: max(0, 1−2+1) + max(0, 0.5−2+1) = 0 + 0 ; row 1: max(0,−1−3+1)+max(0,0−3+1) = 0.
    let shifted = multiclassHingeLoss(scores: logits, labels: [0, 0], reduction: .none)
    #expect(hinge.scalars == [0, 0])
    #expect(shifted.scalars == [2.5, 7.0])
    #expect(multiclassHingeLoss(scores: logits, labels: [0, 0]).scalar == 4.75)
  }

  @Test func layerNormMatchesLoopsAndKeepsAConstantRowFinite() {
    let x = Tensor<Double>(shape: [2, 4], scalars: [1, 2, 4, 7, 3, 3, 3, 3])
    let weight = Tensor<Double>([1, 2, 0.5, -1])
    let bias = Tensor<Double>([0, 0.1, -0.2, 0.3])
    let y = layerNorm(x, weight: weight, bias: bias)
    let row = [1.0, 2, 4, 7]
    let mean = row.reduce(0, +) / 4
    let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 4
    for j in 0..<4 {
      let expected =
        (row[j] - mean) / (variance + 1e-5).squareRoot() * weight.scalars[j] + bias.scalars[j]
      #expect(Swift.abs(y.scalars[j] - expected) < 1e-14)
    }
    // The constant row gives the bias, and finite gradients.
    #expect(Array(y.scalars[4...]) == bias.scalars)
    let (gx, gw, gb) = gradient(at: x, weight, bias) { x, w, b in
      square(layerNorm(x, weight: w, bias: b)).sum()
    }
    #expect((gx.scalars + gw.scalars + gb.scalars).allSatisfy { $0.isFinite })
    // On the constant row x − μ = 0, so ∂x = (u − mean u)/√ε with u = 2·β·γ.
    let u = zip(weight.scalars, bias.scalars).map { 2 * $0 * $1 }
    let meanU = u.reduce(0, +) / 4
    for j in 0..<4 {
      let expected = (u[j] - meanU) / 1e-5.squareRoot()
      #expect(Swift.abs(gx.scalars[4 + j] - expected) < 1e-9 * Swift.abs(expected) + 1e-12)
    }
  }

  /// Attention by loops: softmax over visible keys, 0 for a row with none.
  static func referenceAttention(
    _ q: Tensor<Double>, _ k: Tensor<Double>, _ v: Tensor<Double>, visible: (Int, Int) -> Bool
  ) -> [Double] {
    let (b, h, n, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let (m, e) = (k.shape[2], v.shape[3])
    var out = [Double](repeating: 0, count: b * h * n * e)
    for bh in 0..<(b * h) {
      for i in 0..<n {
        var scores = [Double](repeating: -.infinity, count: m)
        for j in 0..<m where visible(i, j) {
          var dot = 0.0
          for c in 0..<d {
            dot += q.scalars[(bh * n + i) * d + c] * k.scalars[(bh * m + j) * d + c]
          }
          scores[j] = dot / Double(d).squareRoot()
        }
        let largest = scores.max()!
        guard largest > -.infinity else { continue }
        let weights = scores.map { Foundation.exp($0 - largest) }
        let total = weights.reduce(0, +)
        for c in 0..<e {
          var sum = 0.0
          for j in 0..<m { sum += weights[j] / total * v.scalars[(bh * m + j) * e + c] }
          out[(bh * n + i) * e + c] = sum
        }
      }
    }
    return out
  }

  @Test func attentionMatchesLoopsAndZeroesAFullyMaskedRow() {
    let q = Tensor<Double>.randomNormal([2, 2, 3, 4], seed: 1)
    let k = Tensor<Double>.randomNormal([2, 2, 5, 4], seed: 2)
    let v = Tensor<Double>.randomNormal([2, 2, 5, 3], seed: 3)
    let plain = scaledDotProductAttention(query: q, key: k, value: v)
    #expect(
      plain.isAlmostEqual(
        to: Tensor(
          shape: [2, 2, 3, 3], scalars: Self.referenceAttention(q, k, v) { _, _ in true }),
        absoluteTolerance: 1e-13))
    let causal = scaledDotProductAttention(query: q, key: k, value: v, causal: true)
    #expect(
      causal.isAlmostEqual(
        to: Tensor(shape: [2, 2, 3, 3], scalars: Self.referenceAttention(q, k, v) { $1 <= $0 }),
        absoluteTolerance: 1e-13))

    // Query 1 sees no key; query 2 sees keys 0 and 3.
    let blocked: [[Bool]] = [
      [true, true, true, true, true], [false, false, false, false, false],
      [true, false, false, true, false],
    ]
    let mask = Tensor<Double>(
      shape: [3, 5], scalars: blocked.flatMap { $0.map { $0 ? 0 : -.infinity } })
    let (masked, (gq, gk, gv)) = valueWithGradient(at: q, k, v) { q, k, v in
      (scaledDotProductAttention(query: q, key: k, value: v, mask: mask)
        * Tensor.linspace(from: -1, to: 1, count: 3)).sum()
    }
    let output = scaledDotProductAttention(query: q, key: k, value: v, mask: mask)
    #expect(
      output.isAlmostEqual(
        to: Tensor(
          shape: [2, 2, 3, 3], scalars: Self.referenceAttention(q, k, v) { blocked[$0][$1] }),
        absoluteTolerance: 1e-13))
    #expect(masked.scalar.isFinite)
    #expect((gq.scalars + gk.scalars + gv.scalars).allSatisfy { $0.isFinite })
    for bh in 0..<4 {
      #expect(Array(output.scalars[(bh * 3 + 1) * 3..<(bh * 3 + 2) * 3]) == [0, 0, 0])
      #expect(Array(gq.scalars[(bh * 3 + 1) * 4..<(bh * 3 + 2) * 4]) == [0, 0, 0, 0])
    }
    let weights = attentionWeights(query: q, key: k, mask: mask)
    #expect(Array(weights.scalars[5..<10]) == [0, 0, 0, 0, 0])
    #expect(Swift.abs(weights.scalars[0..<5].reduce(0, +) - 1) < 1e-15)
  }
}
