import CortexKernels
import Foundation
import Testing

@testable import CortexCore

/// The fused attention kernel against plain loops and against the composed
/// definition, forward and backward, on shapes that leave every tail of an
/// eight-lane register, with and without the causal mask; and the same bits
/// from every instruction set that fuses multiply-adds.
@Suite struct AttentionKernelTests {
  /// `[batch, heads, queries, depth]`, keys, value depth.
  static let shapes: [(query: [Int], keys: Int, valueDepth: Int)] = [
    ([2, 3, 5, 4], 5, 4), ([1, 2, 7, 12], 11, 9), ([2, 1, 13, 8], 13, 16), ([1, 1, 1, 3], 1, 1),
    ([1, 2, 17, 5], 9, 3),
  ]

  /// The attention of one group by plain loops, in Double.
  static func reference(
    _ q: [Double], _ k: [Double], _ v: [Double], queries: Int, keys: Int, depth: Int,
    valueDepth: Int, causal: Bool
  ) -> [Double] {
    var out = [Double](repeating: 0, count: queries * valueDepth)
    for i in 0..<queries {
      let visible = causal ? min(i + 1, keys) : keys
      var scores = (0..<visible).map { j in
        (0..<depth).reduce(0.0) { $0 + q[i * depth + $1] * k[j * depth + $1] }
          / Double(depth).squareRoot()
      }
      let largest = scores.max()!
      scores = scores.map { Foundation.exp($0 - largest) }
      let total = scores.reduce(0, +)
      for j in 0..<visible {
        for d in 0..<valueDepth {
          out[i * valueDepth + d] += scores[j] / total * v[j * valueDepth + d]
        }
      }
    }
    return out
  }

  static func inputs(_ shape: (query: [Int], keys: Int, valueDepth: Int), seed: UInt64) -> [Tensor<
    Double
  >] {
    let q = shape.query
    return [
      random(q, seed: seed), random([q[0], q[1], shape.keys, q[3]], seed: seed + 1),
      random([q[0], q[1], shape.keys, shape.valueDepth], seed: seed + 2),
    ]
  }

  @Test(arguments: [false, true])
  func theFusedForwardPassMatchesPlainLoops(causal: Bool) {
    for (index, shape) in Self.shapes.enumerated() {
      let x = Self.inputs(shape, seed: UInt64(10 * index))
      let output = scaledDotProductAttention(query: x[0], key: x[1], value: x[2], causal: causal)
      let (groups, queries, depth) = (
        shape.query[0] * shape.query[1], shape.query[2], shape.query[3]
      )
      let (keys, valueDepth) = (shape.keys, shape.valueDepth)
      var expected: [Double] = []
      for g in 0..<groups {
        expected += Self.reference(
          Array(x[0].scalars[(g * queries * depth)..<((g + 1) * queries * depth)]),
          Array(x[1].scalars[(g * keys * depth)..<((g + 1) * keys * depth)]),
          Array(x[2].scalars[(g * keys * valueDepth)..<((g + 1) * keys * valueDepth)]),
          queries: queries, keys: keys, depth: depth, valueDepth: valueDepth, causal: causal)
      }
      #expect(output.shape == [shape.query[0], shape.query[1], queries, valueDepth])
      let worst = zip(output.scalars, expected).map { abs($0 - $1) }.max() ?? 0
      #expect(worst < 1e-14, "\(shape), causal \(causal): \(worst)")
    }
  }

  /// The same attention composed of recorded operations: what the fused
  /// kernel stands in for.
  static func composed(_ x: [Tensor<Double>], causal: Bool) -> Tensor<Double> {
    let weights = attentionWeights(query: x[0], key: x[1], causal: causal)
    let (b, h, q, k) = (weights.shape[0], weights.shape[1], weights.shape[2], weights.shape[3])
    return matmul(
      weights.reshaped(to: [b * h, q, k]), x[2].reshaped(to: [b * h, k, x[2].shape[3]])
    ).reshaped(to: [b, h, q, x[2].shape[3]])
  }

  @Test(arguments: [false, true])
  func theFusedGradientsMatchTheComposedDefinition(causal: Bool) {
    for (index, shape) in Self.shapes.enumerated() {
      let x = Self.inputs(shape, seed: UInt64(10 * index + 3))
      let seed = random(
        [shape.query[0], shape.query[1], shape.query[2], shape.valueDepth], seed: 99)
      let fused = gradient(at: x) {
        (scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], causal: causal) * seed)
          .sum()
      }
      let composed = gradient(at: x) { (Self.composed($0, causal: causal) * seed).sum() }
      for (a, b) in zip(fused, composed) {
        #expect(a.isAlmostEqual(to: b, absoluteTolerance: 1e-13, relativeTolerance: 1e-12))
      }
    }
  }

  @Test func everySetThatFusesMultiplyAddsGivesTheSameBits() {
    let (groups, queries, keys, depth, valueDepth) = (3, 19, 21, 12, 10)
    let shape = AttentionShape(
      groups: groups, queries: queries, keys: keys, depth: depth, valueDepth: valueDepth)
    var generator = SeededGenerator(seed: 5)
    func values(_ count: Int) -> [Float] {
      (0..<count).map { _ in Float(generator.nextUnit() * 4 - 2) }
    }
    let (q, k, v) = (
      values(groups * queries * depth), values(groups * keys * depth),
      values(groups * keys * valueDepth)
    )
    let g = values(groups * queries * valueDepth)
    /// A buffer holding `values`, released at the end of the test.
    var buffers: [UnsafeMutableBufferPointer<Float>] = []
    defer { buffers.forEach { $0.deallocate() } }
    func buffer(_ values: [Float]) -> UnsafeMutablePointer<Float> {
      let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(values.count, 1))
      _ = b.initialize(from: values)
      buffers.append(b)
      return b.baseAddress!
    }
    let (pq, pk, pv, pg) = (buffer(q), buffer(k), buffer(v), buffer(g))
    let sizes = [groups * queries * valueDepth, groups * queries * keys, q.count, k.count, v.count]
    var results: [[Float]] = []
    for set in InstructionSet.supported where set != .baseline {
      let kernels = ComputeSettings.kernels(for: set)
      for causal in [false, true] {
        let out = sizes.map { buffer([Float](repeating: 0, count: $0)) }
        kernels.run(
          .attention(
            query: pq, key: pk, value: pv, output: out[0], weights: out[1], shape: shape,
            scale: 0.3, causal: causal))
        kernels.run(
          .attentionGradients(
            upstream: pg, query: pq, key: pk, value: pv, weights: out[1], queryGradient: out[2],
            keyGradient: out[3], valueGradient: out[4], shape: shape, scale: 0.3, causal: causal))
        results.append(
          zip(out, sizes).flatMap { Array(UnsafeBufferPointer(start: $0, count: $1)) })
      }
    }
    // Each set's results (non-causal, then causal) against the first set's.
    for index in stride(from: 2, to: results.count, by: 2) {
      #expect(results[index] == results[0])
      #expect(results[index + 1] == results[1])
    }
    #expect(results.allSatisfy { $0.allSatisfy(\.isFinite) })
  }

  @Test func vmapOverTheBatchMatchesTheWholeBatch() {
    let x = Self.inputs(([4, 2, 6, 8], 6, 8), seed: 40)
    let mapped = vmap(
      { t in
        scaledDotProductAttention(
          query: t[0].unsqueezed(at: 0), key: t[1].unsqueezed(at: 0),
          value: t[2].unsqueezed(at: 0), causal: true
        ).squeezed(axes: [0])
      }, inAxes: [0, 0, 0])(x)
    let whole = scaledDotProductAttention(query: x[0], key: x[1], value: x[2], causal: true)
    #expect(mapped.isAlmostEqual(to: whole, absoluteTolerance: 1e-15, relativeTolerance: 0))
  }
}
