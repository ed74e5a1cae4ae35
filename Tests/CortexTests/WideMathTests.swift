import CortexKernels
import Foundation
import Testing

@testable import CortexCore

/// The single-precision functions that run in double-precision lanes
/// (WideMath) against the C library computed in `Double` and
/// rounded, on every instruction set: a sweep of every 1999th bit pattern
/// (2.1 million floats, both signs, subnormals and the overflow edges
/// included) plus the special values, at most 1 ulp apart, the specials
/// handled alike, and the same bits on the sets that fuse multiply-adds.
@Suite struct WideMathTests {
  /// Every `stride`th bit pattern, then the specials and the edges where
  /// the functions saturate, underflow or overflow.
  static func sweep(stride: UInt32 = 1999) -> [Float] {
    var x: [Float] = [
      .nan, -.nan, .infinity, -.infinity, 0, -0.0, 1, -1, .leastNonzeroMagnitude,
      -.leastNonzeroMagnitude, .leastNormalMagnitude, -.leastNormalMagnitude,
      .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 0.75, -0.75, 88.72284, -88.72284,
      103.97, -103.97, 708, -708, 3.92, -3.92, 10.5, -10.5, 14.85, -14.85,
    ]
    var bits: UInt32 = 0
    while true {
      x.append(Float(bitPattern: bits))
      let (next, overflow) = bits.addingReportingOverflow(stride)
      if overflow { break }
      bits = next
    }
    return x
  }

  /// The reference: each function in `Double` through the C library,
  /// in the form the scalar kernels use, rounded once.
  static let unary: [(UnaryFunction<Float>, @Sendable (Double) -> Double)] = [
    (.log, { Foundation.log($0) }),
    (.sigmoid, { 1 / (1 + Foundation.exp(-$0)) }),
    (.erf, { Foundation.erf($0) }),
    (.softplus, { Swift.max($0, 0) + Foundation.log1p(Foundation.exp(-Swift.abs($0))) }),
    (.silu, { $0 / (1 + Foundation.exp(-$0)) }),
    (.gelu, { $0 * Foundation.erfc(-$0 / 2.squareRoot()) / 2 }),
    (.geluTanh, { v in v / (1 + Foundation.exp(-2 * c * (v + 0.044715 * v * v * v))) }),
  ]

  static let c = (2 / Double.pi).squareRoot()

  static let binary: [(BinaryFunction<Float>, @Sendable (Double) -> Double)] = [
    (
      .geluGradient,
      { v in
        Foundation.erfc(-v / 2.squareRoot()) / 2 + v * Foundation.exp(-v * v / 2)
          / (2 * Double.pi).squareRoot()
      }
    ),
    (
      .geluTanhGradient,
      { v in
        let s = 1 / (1 + Foundation.exp(-2 * c * (v + 0.044715 * v * v * v)))
        return s + 2 * v * s * (1 - s) * c * (1 + 3 * 0.044715 * v * v)
      }
    ),
  ]

  /// The largest distance in ulps between `y` and `expected`, and the
  /// inputs where it occurs first.
  static func worst(_ x: [Float], _ y: [Float], _ expected: [Float]) -> (Int, Float) {
    var worst = (0, Float.nan)
    for i in x.indices {
      let distance = InstructionSetTests.ulps(y[i], expected[i])
      if distance > worst.0 { worst = (distance, x[i]) }
    }
    return worst
  }

  /// Checks `compute` on every set against `expected`, and that the sets
  /// that fuse multiply-adds agree bit for bit.
  func check(
    _ name: String, _ x: [Float], expected: [Float], bound: Int = 1,
    compute: (any KernelSet.Type) -> [Float]
  ) {
    var results: [InstructionSet: [Float]] = [:]
    for set in InstructionSet.supported {
      let y = compute(ComputeSettings.kernels(for: set))
      let (distance, input) = Self.worst(x, y, expected)
      #expect(distance <= bound, "\(set) \(name): \(distance) ulp at \(input)")
      results[set] = y
    }
    let fused = InstructionSet.supported.filter(\.fusesMultiplyAdd)
    // The same bits, save the payloads of NaNs (x86 keeps one operand's,
    // and the compiler may order the operands differently per set).
    for set in fused.dropFirst() {
      let mismatch = x.indices.first {
        let (y, z) = (results[set]![$0], results[fused[0]]![$0])
        return y.isNaN ? !z.isNaN : y.bitPattern != z.bitPattern
      }
      #expect(
        mismatch == nil,
        "\(name): \(set) against \(fused[0]) at \(mismatch.map { x[$0] } ?? 0)")
    }
  }

  @Test(arguments: 0..<7) func unaryFunctionIsWithin1Ulp(index: Int) {
    let (function, reference) = Self.unary[index]
    let x = Self.sweep()
    check("\(function)", x, expected: x.map { Float(reference(Double($0))) }) { kernels in
      var y = [Float](repeating: 7, count: x.count)
      kernels.apply(function, x, &y, count: x.count)
      return y
    }
  }

  /// The upstream gradients cycle through four values, and the sweep adds
  /// every float within 20,000 ulps of GELU′'s zero, where its two terms
  /// cancel.
  @Test(arguments: 0..<2) func gradientIsWithin1Ulp(index: Int) {
    let (function, derivative) = Self.binary[index]
    var x = Self.sweep()
    let root = Float(-0.751_791_52)
    x += (-20_000...20_000).map { Float(bitPattern: UInt32(Int(root.bitPattern) + $0)) }
    let upstream = x.indices.map { [1, -0.37, 3.5e-3, 7.25][$0 % 4] as Float }
    let expected = zip(upstream, x).map { Float(Double($0) * derivative(Double($1))) }
    check("\(function)", x, expected: expected) { kernels in
      var y = [Float](repeating: 7, count: x.count)
      kernels.apply(
        function, upstream, shapeA: [x.count], x, shapeB: [x.count], &y, result: [x.count])
      return y
    }
  }

  /// A broadcast operand takes the one-lane path, which gives the same
  /// bits as the eight-lane one.
  @Test func broadcastGradientsGiveTheSameBits() {
    let x = (0..<37).map { Float($0) * 0.37 - 6 }
    let upstream: [Float] = [0.625]
    for function in [BinaryFunction<Float>.geluGradient, .geluTanhGradient] {
      var broadcast = [Float](repeating: 7, count: x.count)
      ComputeSettings.kernels.apply(
        function, upstream, shapeA: [1], x, shapeB: [x.count], &broadcast, result: [x.count])
      var full = [Float](repeating: 7, count: x.count)
      ComputeSettings.kernels.apply(
        function, [Float](repeating: 0.625, count: x.count), shapeA: [x.count], x,
        shapeB: [x.count], &full, result: [x.count])
      #expect(broadcast == full, "\(function)")
    }
  }
}
