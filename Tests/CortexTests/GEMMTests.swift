import CortexKernels
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// The GEMM kernel against a plain triple loop, on random shapes, strides,
/// transposes and both precisions.
@Suite struct GEMMTests {
  /// One product: shapes, stored row strides and flags.
  struct Case: CustomStringConvertible {
    var m: Int
    var n: Int
    var k: Int
    var transposeA = false
    var transposeB = false
    var accumulate = false
    var padA = 0
    var padB = 0
    var padC = 0

    var lda: Int { (transposeA ? m : k) + padA }
    var ldb: Int { (transposeB ? k : n) + padB }
    var ldc: Int { n + padC }
    var rowsA: Int { transposeA ? k : m }
    var rowsB: Int { transposeB ? n : k }

    var description: String {
      "m \(m) n \(n) k \(k) transposeA \(transposeA) transposeB \(transposeB) "
        + "accumulate \(accumulate) lda \(lda) ldb \(ldb) ldc \(ldc)"
    }
  }

  /// Random operands for `test`, with the padding filled in too.
  struct Operands<S: TensorScalar> {
    var a: [S]
    var b: [S]
    var c: [S]

    init(_ test: Case, using generator: inout SeededGenerator) {
      func random(_ count: Int) -> [S] {
        (0..<count).map { _ in S(generator.nextUnit() * 2 - 1) }
      }
      a = random(test.rowsA * test.lda)
      b = random(test.rowsB * test.ldb)
      c = random(test.m * test.ldc)
    }

    /// C after `gemm` with `kernels`.
    func product(_ test: Case, kernels: any KernelSet.Type = ComputeSettings.kernels) -> [S] {
      var c = self.c
      a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
          c.withUnsafeMutableBufferPointer { c in
            kernels.gemm(
              GEMMProduct(
                transposeA: test.transposeA, transposeB: test.transposeB, m: test.m, n: test.n,
                k: test.k, a: a.baseAddress!, lda: test.lda, b: b.baseAddress!, ldb: test.ldb,
                c: c.baseAddress!, ldc: test.ldc, accumulate: test.accumulate))
          }
        }
      }
      return c
    }
  }

  /// How far `gemm` is from a triple loop run in Double.
  struct Errors {
    /// The largest error divided by the entry's bound
    /// `(k + 2) · ε · (Σ|a·b| + |c|)`, the classical bound on a
    /// floating-point dot product: below 1 passes.
    var worstRelativeToBound = 0.0
    var maxAbsoluteDifference = 0.0
    /// Whether the padding columns of C were left alone.
    var paddingIntact = true
  }

  func errors<S: TensorScalar>(
    _: S.Type, _ test: Case, sampledEntries: Int? = nil,
    kernels: any KernelSet.Type = ComputeSettings.kernels, using generator: inout SeededGenerator
  ) -> Errors {
    let operands = Operands<S>(test, using: &generator)
    let (a, b, original) = (operands.a, operands.b, operands.c)
    let c = operands.product(test, kernels: kernels)
    var entries: [(Int, Int)] = []
    if let sampledEntries {
      for _ in 0..<sampledEntries {
        let i = Int(generator.next() % UInt64(test.m))
        entries.append((i, Int(generator.next() % UInt64(test.n))))
      }
    } else {
      for i in 0..<test.m { for j in 0..<test.n { entries.append((i, j)) } }
    }
    var errors = Errors()
    for (i, j) in entries {
      var sum = test.accumulate ? Double(original[i * test.ldc + j]) : 0
      var magnitude = Swift.abs(sum)
      for p in 0..<test.k {
        let x = Double(test.transposeA ? a[p * test.lda + i] : a[i * test.lda + p])
        let y = Double(test.transposeB ? b[j * test.ldb + p] : b[p * test.ldb + j])
        sum += x * y
        magnitude += Swift.abs(x * y)
      }
      let difference = Swift.abs(Double(c[i * test.ldc + j]) - sum)
      let bound = Double(test.k + 2) * Double(S.ulpOfOne) * magnitude
      errors.maxAbsoluteDifference = max(errors.maxAbsoluteDifference, difference)
      if difference > 0 {
        errors.worstRelativeToBound = max(errors.worstRelativeToBound, difference / bound)
      }
    }
    for i in 0..<test.m {
      for j in test.n..<test.ldc where c[i * test.ldc + j] != original[i * test.ldc + j] {
        errors.paddingIntact = false
      }
    }
    return errors
  }

  /// A dimension, mostly small, sometimes up to 300.
  static func dimension(_ generator: inout SeededGenerator) -> Int {
    switch generator.next() % 10 {
    case 0..<5: 1 + Int(generator.next() % 24)
    case 5..<8: 1 + Int(generator.next() % 100)
    default: 1 + Int(generator.next() % 300)
    }
  }

  /// Random cases, with the product m·n·k kept small enough for a debug
  /// build by shrinking the largest dimension.
  static func randomCases(count: Int, seed: UInt64) -> [Case] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { index in
      var test = Case(
        m: dimension(&generator), n: dimension(&generator), k: dimension(&generator))
      while test.m * test.n * test.k > 400_000 {
        if test.m >= test.n && test.m >= test.k {
          test.m /= 2
        } else if test.n >= test.k {
          test.n /= 2
        } else {
          test.k /= 2
        }
      }
      test.transposeA = index % 2 == 1
      test.transposeB = index / 2 % 2 == 1
      test.accumulate = index / 4 % 2 == 1
      if generator.next() % 2 == 0 {
        test.padA = 1 + Int(generator.next() % 9)
        test.padB = 1 + Int(generator.next() % 9)
        test.padC = 1 + Int(generator.next() % 9)
      }
      return test
    }
  }

  /// Shapes at the edges of the blocking: single rows and columns, one
  /// more and one less than a tile, deeper than one packed block, taller
  /// than the packed rows, wider than a packed B block.
  static let edgeCases: [Case] = [
    Case(m: 1, n: 1, k: 1), Case(m: 6, n: 16, k: 1), Case(m: 5, n: 15, k: 7),
    Case(m: 7, n: 17, k: 3, transposeA: true, padC: 3), Case(m: 6, n: 8, k: 300),
    Case(m: 13, n: 33, k: 513, transposeB: true, accumulate: true, padA: 2, padB: 5),
    Case(m: 1200, n: 3, k: 2, transposeA: true), Case(m: 2, n: 4100, k: 3, transposeB: true),
    Case(m: 3, n: 5, k: 0), Case(m: 3, n: 5, k: 0, accumulate: true),
  ]

  @Test func floatMatchesReference() {
    var generator = SeededGenerator(seed: 1)
    for test in Self.edgeCases + Self.randomCases(count: 120, seed: 2) {
      let result = errors(Float.self, test, using: &generator)
      #expect(result.worstRelativeToBound < 1, "\(test)")
      #expect(result.paddingIntact, "\(test)")
    }
  }

  @Test func doubleMatchesReference() {
    var generator = SeededGenerator(seed: 3)
    for test in Self.edgeCases + Self.randomCases(count: 120, seed: 4) {
      let result = errors(Double.self, test, using: &generator)
      #expect(result.maxAbsoluteDifference <= 1e-10, "\(test)")
      #expect(result.worstRelativeToBound < 1, "\(test)")
      #expect(result.paddingIntact, "\(test)")
    }
  }

  /// Large products, with every loop level of the blocking used more than
  /// once; a sample of the entries is checked.
  @Test func largeProducts() {
    var generator = SeededGenerator(seed: 5)
    let single = Case(
      m: 517, n: 389, k: 611, transposeA: true, accumulate: true, padA: 3, padB: 1, padC: 2)
    let singleErrors = errors(Float.self, single, sampledEntries: 3000, using: &generator)
    #expect(singleErrors.worstRelativeToBound < 1, "\(single)")
    #expect(singleErrors.paddingIntact, "\(single)")
    let double = Case(m: 301, n: 203, k: 290, transposeB: true, padA: 1, padC: 5)
    let doubleErrors = errors(Double.self, double, sampledEntries: 3000, using: &generator)
    #expect(doubleErrors.maxAbsoluteDifference <= 1e-10, "\(double)")
    #expect(doubleErrors.paddingIntact, "\(double)")
  }

  /// Every entry of C is computed in the same order whatever the number of
  /// threads, so the results are identical.
  @Test func threadCountDoesNotChangeTheResult() {
    let test = Case(m: 150, n: 200, k: 300, transposeB: true, accumulate: true)
    var generator = SeededGenerator(seed: 6)
    let operands = Operands<Float>(test, using: &generator)
    let parallel = withThreadCount(2) { operands.product(test) }
    #expect(withThreadCount(1) { operands.product(test) } == parallel)
  }

  // MARK: Every instruction set

  /// Every tail of the register tiles (6 rows; 8 to 32 columns) and of the
  /// 8-lane row products, with and without accumulation, in both layouts.
  static let tailCases: [Case] = {
    var cases: [Case] = []
    for m in 1...7 {
      for n in 1...33 {
        cases.append(Case(m: m, n: n, k: 2 + (m + n) % 5, transposeA: n % 2 == 0))
        if m == 1 || m >= 5 {
          cases.append(Case(m: m, n: n, k: 330, accumulate: true, padC: 1))
        }
      }
    }
    for k in 32...48 {
      cases.append(Case(m: 5, n: 4, k: k, transposeB: true, accumulate: k % 2 == 0))
    }
    return cases
  }()

  /// One set's kernels against the triple loop: edge, tail and random
  /// shapes in both precisions.
  func checkMatchesReference(_ set: InstructionSet) {
    let kernels = ComputeSettings.kernels(for: set)
    var generator = SeededGenerator(seed: 11)
    let cases = Self.edgeCases + Self.tailCases + Self.randomCases(count: 24, seed: 12)
    for test in cases {
      let single = errors(Float.self, test, kernels: kernels, using: &generator)
      #expect(single.worstRelativeToBound < 1, "\(set) Float \(test)")
      #expect(single.paddingIntact, "\(set) Float \(test)")
      let double = errors(Double.self, test, kernels: kernels, using: &generator)
      #expect(double.worstRelativeToBound < 1, "\(set) Double \(test)")
      #expect(double.paddingIntact, "\(set) Double \(test)")
    }
  }

  @Test(.enabled(if: InstructionSet.avx512.isSupported, "this CPU has no AVX-512"))
  func avx512KernelsMatchReference() {
    checkMatchesReference(.avx512)
  }

  @Test(.enabled(if: InstructionSet.avx2.isSupported, "this CPU has no AVX2 and FMA"))
  func avx2KernelsMatchReference() {
    checkMatchesReference(.avx2)
  }

  @Test func baselineKernelsMatchReference() {
    checkMatchesReference(InstructionSet.supported.last!)
  }

  /// The sets that fuse multiply-adds sum every entry in the same order,
  /// whatever their register width, so they give identical bits.
  @Test(
    .enabled(
      if: InstructionSet.supported.filter(\.fusesMultiplyAdd).count > 1,
      "this CPU has fewer than two instruction sets with fused multiply-add"))
  func fusedSetsGiveIdenticalBits() {
    let sets = InstructionSet.supported.filter(\.fusesMultiplyAdd)
    var generator = SeededGenerator(seed: 13)
    let cases =
      Self.edgeCases + Self.tailCases + Self.randomCases(count: 24, seed: 14)
      + [Case(m: 97, n: 131, k: 700, transposeA: true, accumulate: true)]
    for test in cases {
      let single = Operands<Float>(test, using: &generator)
      let double = Operands<Double>(test, using: &generator)
      let reference = (
        single.product(test, kernels: ComputeSettings.kernels(for: sets[0])),
        double.product(test, kernels: ComputeSettings.kernels(for: sets[0]))
      )
      for set in sets.dropFirst() {
        let kernels = ComputeSettings.kernels(for: set)
        #expect(single.product(test, kernels: kernels) == reference.0, "\(set) Float \(test)")
        #expect(double.product(test, kernels: kernels) == reference.1, "\(set) Double \(test)")
      }
    }
  }
}
