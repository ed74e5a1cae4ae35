import CortexKernels
import CortexKernelsBaseline
import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// The kernels of every instruction set the CPU has: the elementwise
/// functions against plain loops, and training that gives the same bits on
/// every set that fuses multiply-adds.
@Suite struct InstructionSetTests {
  /// Pairs of shapes that broadcast: equal, scalar on either side, rows,
  /// columns, and lengths that leave every tail of a 16-lane register.
  static let shapePairs: [([Int], [Int])] =
    (1...33).map { ([$0], [$0]) }
    + [
      ([1], [37]), ([37], [1]), ([5, 19], [19]), ([5, 19], [5, 1]), ([3, 1, 7], [1, 4, 7]),
      ([2, 3, 4, 5], [3, 1, 5]), ([64, 128], [64, 128]),
      // Large enough to run in chunks across the pool's threads.
      ([300, 250], [300, 250]),
    ]

  /// Whether `x` and `y` are the same number: equal with the same sign, or
  /// both NaN.
  static func same<S: TensorScalar>(_ x: S, _ y: S) -> Bool {
    x.isNaN ? y.isNaN : x == y && x.sign == y.sign
  }

  /// `f` over `a` and `b` broadcast to `result`, one output index at a time.
  static func broadcastLoop<S>(
    _ a: [S], _ shapeA: [Int], _ b: [S], _ shapeB: [Int], result: [Int], _ f: (S, S) -> S
  ) -> [S] {
    /// The flat index into `shape` (aligned right, broadcast along its 1s)
    /// of the result's multi-index `index`.
    func flat(_ index: [Int], _ shape: [Int]) -> Int {
      let offset = result.count - shape.count
      return shape.indices.reduce(0) { $0 * shape[$1] + (shape[$1] == 1 ? 0 : index[$1 + offset]) }
    }
    return (0..<result.reduce(1, *)).map { position in
      var index = [Int](repeating: 0, count: result.count)
      var rest = position
      for axis in result.indices.reversed() {
        index[axis] = rest % result[axis]
        rest /= result[axis]
      }
      return f(a[flat(index, shapeA)], b[flat(index, shapeB)])
    }
  }

  /// Every binary function and a plain loop of its formula; the GELU
  /// gradients in single precision, computed in double-precision lanes, are
  /// checked in WideMathTests.
  static func binaryReferences<S: TensorScalar>(_: S.Type) -> [(BinaryFunction<S>, (S, S) -> S)] {
    let bit = { (condition: Bool) -> S in condition ? 1 : 0 }
    let c = (2 / Double.pi).squareRoot()
    let gelu: [(BinaryFunction<S>, (S, S) -> S)] = [
      (
        .geluGradient,
        { g, x in
          let v = Double(x)
          let cdf = Foundation.erfc(-v / 2.squareRoot()) / 2
          let density = Foundation.exp(-v * v / 2) / (2 * Double.pi).squareRoot()
          return S(Double(g) * (cdf + v * density))
        }
      ),
      (
        .geluTanhGradient,
        { g, x in
          let v = Double(x)
          let s = 1 / (1 + Foundation.exp(-2 * c * (v + 0.044715 * v * v * v)))
          let slope = c * (1 + 3 * 0.044715 * v * v)
          return S(Double(g) * (s + 2 * v * s * (1 - s) * slope))
        }
      ),
    ]
    let others: [(BinaryFunction<S>, (S, S) -> S)] = [
      (.add, +), (.subtract, -), (.multiply, *), (.divide, /), (.power, { S.pow($0, $1) }),
      (.maximum, { $0 >= $1 ? $0 : $1 }), (.minimum, { $0 <= $1 ? $0 : $1 }),
      (.greater, { bit($0 > $1) }), (.less, { bit($0 < $1) }),
      (.greaterOrEqual, { bit($0 >= $1) }), (.lessOrEqual, { bit($0 <= $1) }),
      (.equal, { bit($0 == $1) }), (.notEqual, { bit($0 != $1) }),
      (.passWhereAtLeast(0), { $1 >= 0 ? $0 : 0 }),
      (.passWhereAtLeast(0.75), { $1 >= 0.75 ? $0 : 0 }),
      (.passWhereAtMost(0.75), { $1 <= 0.75 ? $0 : 0 }), (.tanhGradient, { $0 * (1 - $1 * $1) }),
      (.sigmoidGradient, { $0 * $1 * (1 - $1) }),
      (
        .logisticLoss,
        { z, t in
          Swift.max(z, 0) - z * t + S(Foundation.log1p(Foundation.exp(-Double(Swift.abs(z)))))
        }
      ),
    ]
    return (S.self == Double.self ? gelu : []) + others
  }

  func checkBinary<S: TensorScalar>(_: S.Type, on set: InstructionSet) {
    let kernels = ComputeSettings.kernels(for: set)
    var generator = SeededGenerator(seed: 17)
    for (shapeA, shapeB) in Self.shapePairs {
      let result = broadcastShape(shapeA, shapeB)!
      var a = (0..<shapeA.reduce(1, *)).map { _ in S(generator.nextUnit() * 4 - 2) }
      let b = (0..<shapeB.reduce(1, *)).map { _ in S(generator.nextUnit() * 4 - 1).rounded() / 2 }
      // Ties, signed zeros and NaN on the left; ties with `b` on the right.
      for (i, special) in [S.nan, 0, -0.0, -S.infinity, 0.5].enumerated() where i * 3 < a.count {
        a[i * 3] = special
      }
      for (function, reference) in Self.binaryReferences(S.self) {
        var out = [S](repeating: 7, count: result.reduce(1, *))
        kernels.apply(
          function, a, shapeA: shapeA, b, shapeB: shapeB, &out, result: result)
        let expected = Self.broadcastLoop(a, shapeA, b, shapeB, result: result, reference)
        #expect(
          Swift.zip(out, expected).allSatisfy(Self.same),
          "\(set) \(S.self) \(function) \(shapeA) \(shapeB)")
      }
    }
  }

  @Test func binaryFunctionsMatchPlainLoopsOnEverySet() {
    for set in InstructionSet.supported {
      checkBinary(Float.self, on: set)
      checkBinary(Double.self, on: set)
    }
  }

  /// Every unary function and a plain loop of its formula. In single
  /// precision, `tanh` and `exp` (vector approximations) and the functions
  /// computed in double-precision lanes are checked on their own (below and
  /// in WideMathTests).
  static func unaryReferences<S: TensorScalar>(_: S.Type) -> [(UnaryFunction<S>, (S) -> S)] {
    let bit = { (condition: Bool) -> S in condition ? 1 : 0 }
    let inDouble = { (f: @escaping (Double) -> Double) in { (x: S) in S(f(Double(x))) } }
    let c = (2 / Double.pi).squareRoot()
    let exact: [(UnaryFunction<S>, (S) -> S)] =
      S.self == Double.self
      ? [
        (.tanh, { S.tanh($0) }), (.exp, { S.exp($0) }), (.log, { S.log($0) }),
        (.sigmoid, { $0 >= 0 ? 1 / (1 + S.exp(-$0)) : S.exp($0) / (1 + S.exp($0)) }),
        (.erf, inDouble(Foundation.erf)),
        (
          .softplus,
          inDouble { Swift.max($0, 0) + Foundation.log1p(Foundation.exp(-Swift.abs($0))) }
        ),
        (.silu, inDouble { $0 / (1 + Foundation.exp(-$0)) }),
        (.gelu, inDouble { $0 * Foundation.erfc(-$0 / 2.squareRoot()) / 2 }),
        (
          .geluTanh,
          inDouble { $0 / (1 + Foundation.exp(-2 * c * ($0 + 0.044715 * $0 * $0 * $0))) }
        ),
      ] : []
    return exact + [
      (.negate, { -$0 }), (.sqrt, { $0.squareRoot() }), (.square, { $0 * $0 }),
      (.abs, { Swift.abs($0) }), (.sign, { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }),
      (.power(2.5), { S.pow($0, 2.5) }), (.maximum(0), { $0 >= 0 ? $0 : 0 }),
      (.maximum(-0.0), { $0 >= -0.0 ? $0 : -0.0 }), (.maximum(0.5), { $0 >= 0.5 ? $0 : 0.5 }),
      (.minimum(0.5), { $0 <= 0.5 ? $0 : 0.5 }), (.atLeast(0.5), { bit($0 >= 0.5) }),
      (.atMost(0.5), { bit($0 <= 0.5) }), (.finiteOrZero, { $0.isFinite ? $0 : 0 }),
      (.sin, inDouble(Foundation.sin)), (.cos, inDouble(Foundation.cos)),
      (.log1p, inDouble(Foundation.log1p)), (.expm1, inDouble(Foundation.expm1)),
    ]
  }

  func checkUnary<S: TensorScalar>(_: S.Type, on set: InstructionSet) {
    let kernels = ComputeSettings.kernels(for: set)
    var generator = SeededGenerator(seed: 23)
    // 70,000 elements run in chunks across the pool's threads.
    for count in Array(0...33) + [1000, 70_000] {
      var x = (0..<count).map { _ in S(generator.nextUnit() * 40 - 20) }
      let specials: [S] = [.nan, 0, -0.0, .infinity, -.infinity, 0.5, -1, 1e-30, 100]
      for (i, special) in specials.enumerated() where i * 3 < count { x[i * 3] = special }
      for (function, reference) in Self.unaryReferences(S.self) {
        var out = [S](repeating: 7, count: count)
        kernels.apply(function, x, &out, count: count)
        #expect(
          Swift.zip(out, x.map(reference)).allSatisfy(Self.same),
          "\(set) \(S.self) \(function) \(count)")
      }
    }
  }

  @Test func unaryFunctionsMatchPlainLoopsOnEverySet() {
    for set in InstructionSet.supported {
      checkUnary(Float.self, on: set)
      checkUnary(Double.self, on: set)
    }
  }

  @Test(.enabled(if: InstructionSet.avx512.isSupported, "this CPU has no AVX-512"))
  func avx512TanhIsWithin4e7OfTheExactValue() {
    checkTanh(on: .avx512)
  }

  @Test(.enabled(if: InstructionSet.avx2.isSupported, "this CPU has no AVX2 and FMA"))
  func avx2TanhIsWithin4e7OfTheExactValue() {
    checkTanh(on: .avx2)
  }

  @Test func baselineTanhIsWithin4e7OfTheExactValue() {
    checkTanh(on: InstructionSet.supported.last!)
  }

  func checkTanh(on set: InstructionSet) {
    let x = FastPathTests.tanhInputs
    for count in Array(0...17) + [x.count] {
      var y = [Float](repeating: .nan, count: count)
      ComputeSettings.kernels(for: set).apply(.tanh, x, &y, count: count)
      for i in 0..<count {
        let exact = Foundation.tanh(Double(x[i]))
        #expect(Swift.abs(Double(y[i]) - exact) <= 4e-7, "\(set) tanh(\(x[i])) = \(y[i])")
      }
    }
  }

  /// The distance between two floats in units in the last place: how many
  /// representable floats lie between them.
  static func ulps(_ a: Float, _ b: Float) -> Int {
    if a == b || (a.isNaN && b.isNaN) { return 0 }
    func ordered(_ x: Float) -> Int {
      let bits = Int(Int32(bitPattern: x.bitPattern))
      return bits < 0 ? Int(Int32.min) - bits : bits
    }
    return Swift.abs(ordered(a) - ordered(b))
  }

  /// Single-precision `exp` within 1 ulp of the C library's `expf` on every
  /// set: a sweep of every 4099th float from −105 to 90 (about 470,000, the
  /// subnormal results included), the specials, and the same bits on the
  /// sets that fuse multiply-adds.
  @Test func singlePrecisionExpIsWithin1UlpOfTheCLibrary() {
    var x: [Float] = [
      .nan, .infinity, -.infinity, 0, -0.0, 1, -1, 88.72283, 88.722_84, -103.97, -104, 1e-30,
    ]
    var v = Float(-105)
    while v < 90 {
      x.append(v)
      v = Float(bitPattern: v < 0 ? v.bitPattern &- 4099 : v.bitPattern &+ 4099)
      if v == 0 || v.sign == .minus && v > -1e-30 { v = 1e-30 }
    }
    var bits: [InstructionSet: [Float]] = [:]
    for set in InstructionSet.supported {
      var y = [Float](repeating: 7, count: x.count)
      ComputeSettings.kernels(for: set).apply(.exp, x, &y, count: x.count)
      let worst = zip(x, y).map { Self.ulps($1, Foundation.expf($0)) }.max() ?? 0
      #expect(worst <= 1, "\(set): \(worst) ulp")
      #expect(y[0].isNaN && y[1] == .infinity && y[2] == 0 && y[3] == 1 && y[4] == 1)
      bits[set] = y
    }
    let fused = InstructionSet.supported.filter(\.fusesMultiplyAdd)
    for set in fused.dropFirst() {
      #expect(
        zip(bits[set]!, bits[fused[0]]!).allSatisfy { $0.bitPattern == $1.bitPattern },
        "\(set) against \(fused[0])")
    }
  }

  @Test func aSetTheCPULacksIsAnError() throws {
    let missing = try #require(InstructionSet.allCases.first { !$0.isSupported })
    let error = #expect(throws: InstructionSetError.self) {
      try ComputeSettings.setInstructionSet(missing)
    }
    let message = String(describing: error!)
    #expect(message.contains(missing.rawValue))
    #expect(!message.contains("\n"))
    #expect(ComputeSettings.instructionSet.isSupported)
  }

  /// The widest set (the default) and AVX2 train LeNet-5 to identical bits.
  @Test(
    .enabled(
      if: InstructionSet.supported.filter(\.fusesMultiplyAdd).count > 1,
      "this CPU has fewer than two instruction sets with fused multiply-add"))
  func leNet5TrainsToTheSameBitsOnEveryFusedSet() throws {
    let sets = InstructionSet.supported.filter(\.fusesMultiplyAdd)
    let reference = try trainLeNet5(on: sets[0])
    for set in sets.dropFirst() {
      let run = try trainLeNet5(on: set)
      #expect(run.losses == reference.losses, "\(set) against \(sets[0])")
      #expect(run.parameters == reference.parameters, "\(set) against \(sets[0])")
    }
    #expect(reference.losses.last! < reference.losses.first!)
  }

  /// The gradients of 64-filter 3×3 convolutions, whose filter gradients
  /// run on the packed tile, are the same bits on every fused set: with 8
  /// channels (the input gradient folds a column matrix back) and with 16
  /// (the input gradient is a transposed convolution, and rows of 16
  /// outputs let the tile read its columns from the padded image).
  @Test(
    .enabled(
      if: InstructionSet.supported.filter(\.fusesMultiplyAdd).count > 1,
      "this CPU has fewer than two instruction sets with fused multiply-add"),
    arguments: [[4, 8, 9, 10], [2, 16, 8, 16]])
  func manyFilterConvolutionGradientsAreTheSameBitsOnEveryFusedSet(shape: [Int]) throws {
    let x = Tensor<Float>.randomNormal(shape, seed: 21)
    let w = Tensor<Float>.randomNormal([64, shape[1], 3, 3], seed: 22)
    let upstream = Tensor<Float>.randomNormal([shape[0], 64, shape[2], shape[3]], seed: 23)
    func gradients(on set: InstructionSet) throws -> [[Float]] {
      let saved = ComputeSettings.instructionSet
      try ComputeSettings.setInstructionSet(set)
      defer { try? ComputeSettings.setInstructionSet(saved) }
      let (_, pullback) = valueWithPullback(at: [x, w]) { t in
        conv2d(t[0], filters: t[1], padding: 1)
      }
      return pullback(upstream).map(\.scalars)
    }
    let sets = InstructionSet.supported.filter(\.fusesMultiplyAdd)
    let reference = try gradients(on: sets[0])
    #expect(reference[0].contains { $0 != 0 } && reference[1].contains { $0 != 0 })
    for set in sets.dropFirst() {
      #expect(try gradients(on: set) == reference, "\(set) against \(sets[0])")
    }
  }

  /// 50 steps of SGD with momentum on seeded random batches of 16 images.
  func trainLeNet5(on set: InstructionSet) throws -> (losses: [Double], parameters: [[Float]]) {
    let saved = ComputeSettings.instructionSet
    try ComputeSettings.setInstructionSet(set)
    defer { try? ComputeSettings.setInstructionSet(saved) }
    let model: Sequential<Float> = try withRandomSeed(3) { try Zoo.lenet5() }
    let trainer = Trainer(model: model, optimizer: SGD<Float>(learningRate: 0.01, momentum: 0.9))
    var losses: [Double] = []
    for step in 0..<50 {
      let x = Tensor<Float>.randomUniform(
        [16, 1, 28, 28], lower: 0, upper: 1, seed: UInt64(step % 5))
      let labels = (0..<16).map { ($0 * 7 + step % 5) % 10 }
      losses.append(trainer.step(inputs: x, labels: labels).loss)
    }
    return (losses, trainer.parameters.map(\.value.scalars))
  }
}
