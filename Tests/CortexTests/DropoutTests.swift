import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

@Suite struct DropoutTests {
  @Test func identityAtInference() {
    let x = Tensor<Double>.randomNormal([3, 4, 5], seed: 1)
    var generator = SeededGenerator(seed: 2)
    let (y, gradient) = valueWithGradient(at: x) {
      dropout($0, probability: 0.5, training: false, generator: &generator).sum()
    }
    var untouched = SeededGenerator(seed: 2)
    #expect(generator.next() == untouched.next())
    #expect(y.scalar == x.sum().scalar)
    #expect(gradient == Tensor.ones(x.shape))
    #expect(dropout(x, probability: 0.5, training: false, generator: &generator) == x)
  }

  @Test(arguments: [0.1, 0.3, 0.5, 0.8])
  func keptFractionIsOneMinusP(probability: Double) {
    var generator = SeededGenerator(seed: 3)
    let y = dropout(
      Tensor<Double>.ones([200, 500]), probability: probability, training: true,
      generator: &generator)
    let scale = 1 / (1 - probability)
    let kept = y.scalars.filter { $0 != 0 }
    #expect(kept.allSatisfy { $0 == scale })
    let fraction = Double(kept.count) / Double(y.scalarCount)
    #expect(Swift.abs(fraction - (1 - probability)) < 0.01)
    // Inverted dropout keeps the expected value: the mean stays about 1.
    #expect(Swift.abs(y.mean().scalar - 1) < 0.03)
  }

  @Test func sameSeedDrawsTheSameMask() {
    let x = Tensor<Double>.randomNormal([4, 6, 5], seed: 4)
    var first = SeededGenerator(seed: 42)
    var second = SeededGenerator(seed: 42)
    var other = SeededGenerator(seed: 43)
    let a = dropout(x, probability: 0.5, training: true, generator: &first)
    let b = dropout(x, probability: 0.5, training: true, generator: &second)
    let c = dropout(x, probability: 0.5, training: true, generator: &other)
    #expect(a == b)
    #expect(a != c)
    // The generator moves on: the next mask differs from the first.
    let d = dropout(x, probability: 0.5, training: true, generator: &first)
    #expect(a != d)
  }

  @Test func gradientIsTheScaledMask() {
    let x = Tensor<Double>.randomNormal([5, 7], seed: 5)
    var forward = SeededGenerator(seed: 6)
    let computed = gradient(at: x) {
      dropout($0, probability: 0.4, training: true, generator: &forward).sum()
    }
    var sameSeed = SeededGenerator(seed: 6)
    let scaledMask = dropout(
      Tensor<Double>.ones([5, 7]), probability: 0.4, training: true, generator: &sameSeed)
    #expect(computed == scaledMask)
    #expect(computed.scalars.allSatisfy { $0 == 0 || $0 == 1 / 0.6 })
    #expect(computed.scalars.contains(0))
  }

  @Test(arguments: [[6], [3, 4], [2, 3, 2, 3]])
  func gradientCheck(shape: [Int]) {
    let x = Tensor<Double>.randomNormal(shape, seed: UInt64(shape.count))
    let report = checkGradients(at: x) { x in
      var generator = SeededGenerator(seed: 7)
      return dropout(x, probability: 0.3, training: true, generator: &generator)
    }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }

  @Test func extremeProbabilities() {
    let x = Tensor<Double>.randomNormal([4, 4], seed: 8)
    var generator = SeededGenerator(seed: 9)
    #expect(dropout(x, probability: 0, training: true, generator: &generator) == x)
    let (dropped, gradient) = valueWithGradient(at: x) {
      dropout($0, probability: 1, training: true, generator: &generator).sum()
    }
    #expect(dropped.scalar == 0)
    #expect(gradient == Tensor.zeros([4, 4]))
  }
}
