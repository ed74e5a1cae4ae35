import CortexKernels
import CortexKernelsBaseline
import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// The kernels of every instruction set the CPU has: the elementwise
/// arithmetic against plain loops, and training that gives the same bits on
/// every set that fuses multiply-adds.
@Suite struct InstructionSetTests {
  /// Pairs of shapes that broadcast: equal, scalar on either side, rows,
  /// columns, and lengths that leave every tail of a 16-lane register.
  static let shapePairs: [([Int], [Int])] =
    (1...33).map { ([$0], [$0]) }
    + [
      ([1], [37]), ([37], [1]), ([5, 19], [19]), ([5, 19], [5, 1]), ([3, 1, 7], [1, 4, 7]),
      ([2, 3, 4, 5], [3, 1, 5]), ([64, 128], [64, 128]),
    ]

  func checkArithmetic<S: TensorScalar>(_: S.Type, on set: InstructionSet) {
    let kernels = ComputeSettings.kernels(for: set)
    var generator = SeededGenerator(seed: 17)
    let operations: [(BinaryOperation, (S, S) -> S)] = [
      (.add, +), (.subtract, -), (.multiply, *), (.divide, /),
    ]
    for (shapeA, shapeB) in Self.shapePairs {
      let result = broadcastShape(shapeA, shapeB)!
      let a = (0..<shapeA.reduce(1, *)).map { _ in S(generator.nextUnit() * 4 - 2) }
      let b = (0..<shapeB.reduce(1, *)).map { _ in S(generator.nextUnit() * 4 + 0.5) }
      for (operation, reference) in operations {
        var out = [S](repeating: .nan, count: result.reduce(1, *))
        binaryKernel(
          operation, a, shapeA: shapeA, b, shapeB: shapeB, &out, result: result, using: kernels)
        var expected = [S](repeating: .nan, count: out.count)
        BaselineKernels.zip(
          a, shapeA: shapeA, b, shapeB: shapeB, &expected, result: result, reference)
        #expect(out == expected, "\(set) \(S.self) \(operation) \(shapeA) \(shapeB)")
      }
    }
  }

  @Test func arithmeticMatchesPlainLoopsOnEverySet() {
    for set in InstructionSet.supported {
      checkArithmetic(Float.self, on: set)
      checkArithmetic(Double.self, on: set)
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
      tanhFloat(x, &y, count: count, using: ComputeSettings.kernels(for: set))
      for i in 0..<count {
        let exact = Foundation.tanh(Double(x[i]))
        #expect(Swift.abs(Double(y[i]) - exact) <= 4e-7, "\(set) tanh(\(x[i])) = \(y[i])")
      }
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

  /// The gradients of a 64-filter 3×3 convolution, whose filter gradient
  /// runs on the packed tile, are the same bits on every fused set.
  @Test(
    .enabled(
      if: InstructionSet.supported.filter(\.fusesMultiplyAdd).count > 1,
      "this CPU has fewer than two instruction sets with fused multiply-add"))
  func manyFilterConvolutionGradientsAreTheSameBitsOnEveryFusedSet() throws {
    let x = Tensor<Float>.randomNormal([4, 8, 9, 10], seed: 21)
    let w = Tensor<Float>.randomNormal([64, 8, 3, 3], seed: 22)
    let upstream = Tensor<Float>.randomNormal([4, 64, 9, 10], seed: 23)
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
    #expect(reference[1].contains { $0 != 0 })
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
