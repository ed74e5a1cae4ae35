import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// `f(a, b)` over NumPy's broadcast shape, one output element at a time: the
/// reference for the strided kernel.
func referenceBroadcast(
  _ a: Tensor<Double>, _ b: Tensor<Double>, _ f: (Double, Double) -> Double
) -> Tensor<Double> {
  let rank = max(a.rank, b.rank)
  let shapeA = [Int](repeating: 1, count: rank - a.rank) + a.shape
  let shapeB = [Int](repeating: 1, count: rank - b.rank) + b.shape
  let shape = zip(shapeA, shapeB).map { max($0, $1) }
  let count = shape.reduce(1, *)
  var scalars: [Double] = []
  for flat in 0..<count {
    // The multi-index of `flat`, then the element of each input it reads:
    // index 0 along a dimension of size 1.
    var rest = flat
    var index = [Int](repeating: 0, count: rank)
    for axis in stride(from: rank - 1, through: 0, by: -1) {
      index[axis] = rest % shape[axis]
      rest /= shape[axis]
    }
    func element(_ t: Tensor<Double>, _ padded: [Int]) -> Double {
      var offset = 0
      for axis in 0..<rank {
        offset = offset * padded[axis] + (padded[axis] == 1 ? 0 : index[axis])
      }
      return t.scalars[offset]
    }
    scalars.append(f(element(a, shapeA), element(b, shapeB)))
  }
  return Tensor(shape: shape, scalars: scalars)
}

@Suite struct BroadcastingTests {
  @Test func columnPlusRow() {
    let a = Tensor<Double>(shape: [3, 1], scalars: [1, 2, 3])
    let b = Tensor<Double>(shape: [1, 4], scalars: [10, 20, 30, 40])
    let sum = a + b
    #expect(sum.shape == [3, 4])
    #expect(sum.scalars == [11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43])
    #expect(sum == referenceBroadcast(a, b, +))
    #expect(b + a == sum)
  }

  @Test func trailingVectorBroadcastsOverLeadingAxes() {
    let a = random([2, 3, 4], seed: 1)
    let b = Tensor<Double>([1, 10, 100, 1000])
    let sum = a + b
    #expect(sum.shape == [2, 3, 4])
    #expect(sum == referenceBroadcast(a, b, +))
    #expect(sum[1, 2, 3] == a[1, 2, 3] + 1000)
    #expect(b - a == referenceBroadcast(b, a, -))
  }

  @Test func middleAndLeadingAxesBroadcastTogether() {
    let a = random([2, 1, 4], seed: 2)
    let b = random([3, 1], seed: 3)
    let product = a * b
    #expect(product.shape == [2, 3, 4])
    #expect(product == referenceBroadcast(a, b, *))
    #expect(product[1, 2, 3] == a[1, 0, 3] * b[2, 0])
    #expect(a / b == referenceBroadcast(a, b, /))
    #expect(b - a == referenceBroadcast(b, a, -))
  }

  /// Broadcasts costly enough to be split along the result's first axis
  /// across threads (`pow` counts as 32 multiply-adds an element), each
  /// operand either advancing with the split or read whole, give the
  /// reference's values on one thread and on two.
  @Test func largeBroadcastsSplitAcrossThreadsMatchTheReference() {
    let cases: [([Int], [Int])] = [
      ([48, 9, 7], [9, 1]), ([48, 9, 7], [48, 1, 7]), ([1, 9, 7], [48, 1, 1]), ([48, 9, 7], [7]),
      ([2100, 3], [1, 3]),
    ]
    for (index, (shapeA, shapeB)) in cases.enumerated() {
      let a = random(shapeA, in: 0.5..<2, seed: UInt64(10 + index))
      let b = random(shapeB, seed: UInt64(20 + index))
      let expected = referenceBroadcast(a, b) { Foundation.pow($0, $1) }
      for threads in [1, 2] {
        #expect(withThreadCount(threads) { pow(a, b) } == expected, "\(shapeA), \(shapeB)")
      }
    }
  }

  @Test func scalarsBroadcastEverywhere() {
    let t = Tensor<Double>(shape: [2, 2], scalars: [1, 2, 4, 8])
    #expect((t + 1).scalars == [2, 3, 5, 9])
    #expect((1 + t).scalars == [2, 3, 5, 9])
    #expect((t - 1).scalars == [0, 1, 3, 7])
    #expect((10 - t).scalars == [9, 8, 6, 2])
    #expect((t * 3).scalars == [3, 6, 12, 24])
    #expect((3 * t).scalars == [3, 6, 12, 24])
    #expect((t / 2).scalars == [0.5, 1, 2, 4])
    #expect((8 / t).scalars == [8, 4, 2, 1])
    #expect((t + Tensor(0.5)).scalars == [1.5, 2.5, 4.5, 8.5])
    #expect((Tensor<Double>(2) * Tensor(3)).shape == [])
    #expect((Tensor<Double>([5]) + t).shape == [2, 2])
  }

  @Test func compoundAssignment() {
    var t = Tensor<Double>([1, 2, 3])
    t += Tensor([1, 1, 1])
    t *= 2
    t -= 1
    t /= Tensor([1, 5, 7])
    #expect(t.scalars == [3, 1, 1])
    t += 1
    t -= Tensor([1, 1, 1])
    t *= Tensor(4)
    t /= 2
    #expect(t.scalars == [6, 2, 2])
  }

  @Test func emptyDimensionsBroadcast() {
    let empty = Tensor<Double>.zeros([0, 3]) + Tensor([1, 2, 3])
    #expect(empty.shape == [0, 3])
    #expect(empty.scalarCount == 0)
  }

  @Test func broadcastShapeRules() {
    #expect(broadcastShape([3, 1], [1, 4]) == [3, 4])
    #expect(broadcastShape([2, 3, 4], [4]) == [2, 3, 4])
    #expect(broadcastShape([2, 1, 4], [3, 1]) == [2, 3, 4])
    #expect(broadcastShape([], [5, 2]) == [5, 2])
    #expect(broadcastShape([1], [0]) == [0])
    #expect(broadcastShape([2, 3], [4]) == nil)
    #expect(broadcastShape([2, 3], [3, 3]) == nil)
  }
}

@Suite struct ElementwiseFunctionTests {
  let x = Tensor<Double>(shape: [2, 3], scalars: [0.5, 1, 2, 3, 4.5, 9])
  let signed = Tensor<Double>([-2, -0.5, 0, 0.5, 3])

  @Test func negation() {
    #expect((-signed).scalars == [2, 0.5, 0, -0.5, -3])
  }

  @Test func expLogSqrt() {
    #expect(exp(x).scalars == x.scalars.map { Foundation.exp($0) })
    #expect(log(x).scalars == x.scalars.map { Foundation.log($0) })
    #expect(sqrt(x).scalars == x.scalars.map { $0.squareRoot() })
    expectClose(log(exp(x)), x, tolerance: 1e-14)
    #expect(exp(Tensor<Float>([0])).scalars == [1])
    #expect(sqrt(Tensor<Float>([4, 9])).scalars == [2, 3])
  }

  @Test func squareAndAbs() {
    #expect(square(signed).scalars == [4, 0.25, 0, 0.25, 9])
    #expect(abs(signed).scalars == [2, 0.5, 0, 0.5, 3])
  }

  @Test func powerWithScalarExponent() {
    #expect(pow(x, 2).scalars == x.scalars.map { $0 * $0 })
    expectClose(pow(x, 0.5), sqrt(x), tolerance: 1e-15)
    #expect(pow(Tensor<Double>([2, 3]), -1).scalars == [0.5, 1.0 / 3])
  }

  @Test func powerWithTensorExponentBroadcasts() {
    let base = Tensor<Double>(shape: [2, 1], scalars: [2, 3])
    let exponent = Tensor<Double>([0, 1, 2, 3])
    let p = pow(base, exponent)
    #expect(p.shape == [2, 4])
    #expect(p.scalars == [1, 2, 4, 8, 1, 3, 9, 27])
  }

  @Test func maxAndMinBroadcast() {
    let a = Tensor<Double>(shape: [2, 2], scalars: [1, 5, -3, 2])
    let b = Tensor<Double>([2, 2])
    #expect(max(a, b).scalars == [2, 5, 2, 2])
    #expect(min(a, b).scalars == [1, 2, -3, 2])
    #expect(max(a, 0).scalars == [1, 5, 0, 2])
    #expect(max(0, a).scalars == [1, 5, 0, 2])
    #expect(min(a, 0).scalars == [0, 0, -3, 0])
    #expect(min(0, a).scalars == [0, 0, -3, 0])
    #expect(max(a, b) == referenceBroadcast(a, b, Swift.max))
  }

  @Test func comparisonsProduceMasks() {
    let a = Tensor<Double>([1, 2, 3])
    let column = Tensor<Double>(shape: [3, 1], scalars: [1, 2, 3])
    #expect((a .> 2).scalars == [0, 0, 1])
    #expect((a .< 2).scalars == [1, 0, 0])
    #expect((a .>= 2).scalars == [0, 1, 1])
    #expect((a .<= 2).scalars == [1, 1, 0])
    #expect((a .== 2).scalars == [0, 1, 0])
    #expect((a .!= 2).scalars == [1, 0, 1])
    let greater = a .> column
    #expect(greater.shape == [3, 3])
    #expect(greater.scalars == [0, 1, 1, 0, 0, 1, 0, 0, 0])
    #expect((a .< column).scalars == [0, 0, 0, 1, 0, 0, 1, 1, 0])
    #expect((a .== column).scalars == [1, 0, 0, 0, 1, 0, 0, 0, 1])
    #expect((a .!= column).scalars == [0, 1, 1, 1, 0, 1, 1, 1, 0])
    #expect((a .>= column).scalars == [1, 1, 1, 0, 1, 1, 0, 0, 1])
    #expect((a .<= column).scalars == [1, 0, 0, 1, 1, 0, 1, 1, 1])
  }

  @Test func activations() {
    let t = Tensor<Double>([-800, -1, 0, 1, 800])
    let th = tanh(t)
    #expect(th.scalars.allSatisfy { $0 >= -1 && $0 <= 1 })
    expectClose(th[1], Foundation.tanh(-1.0))
    let s = sigmoid(t)
    let e = Foundation.exp(1.0)
    let expected: [Double] = [0, 1 / (1 + e), 0.5, 1 / (1 + 1 / e), 1]
    expectClose(s, Tensor(expected), tolerance: 1e-15)
    #expect(relu(t).scalars == [0, 0, 0, 1, 800])
  }
}

@Suite struct BroadcastingFuzzTests {
  /// A random shape of rank 0 to 4 with dimensions 1 to 3.
  static func randomShape(_ generator: inout SeededGenerator) -> [Int] {
    (0..<Int(generator.next() % 5)).map { _ in 1 + Int(generator.next() % 3) }
  }

  /// `b`'s shape made compatible with `a`'s: a random suffix of `a`'s shape
  /// with some dimensions replaced by 1, possibly with extra leading axes.
  static func compatibleShape(_ a: [Int], _ generator: inout SeededGenerator) -> [Int] {
    let suffix = a.suffix(Int(generator.next() % UInt64(a.count + 1)))
    let ones = suffix.map { generator.next() % 3 == 0 ? 1 : $0 }
    let leading = a.count == suffix.count ? (0..<Int(generator.next() % 2)).map { _ in 2 } : []
    return leading + ones
  }

  @Test func randomShapePairsMatchTheReference() {
    var generator = SeededGenerator(seed: 2024)
    for trial in 0..<200 {
      let shapeA = Self.randomShape(&generator)
      let shapeB = Self.compatibleShape(shapeA, &generator)
      let (a, b) = (random(shapeA, seed: UInt64(trial)), random(shapeB, seed: UInt64(trial) + 1000))
      let (first, second) = trial.isMultiple(of: 2) ? (a, b) : (b, a)
      #expect(first + second == referenceBroadcast(first, second, +), "\(shapeA) \(shapeB)")
      #expect(first * second == referenceBroadcast(first, second, *), "\(shapeA) \(shapeB)")
      #expect(max(first, second) == referenceBroadcast(first, second, Swift.max))
      let broadcastShape = referenceBroadcast(first, second, +).shape
      #expect(
        first.broadcasted(to: broadcastShape) == referenceBroadcast(first, second) { x, _ in x })
      let (ga, gb) = gradient(at: first, second) { ($0 * $1).sum() }
      #expect(ga.shape == first.shape)
      #expect(gb.shape == second.shape)
      let expected = referenceBroadcast(first, second) { _, y in y }
      expectClose(ga, expected.unbroadcast(to: first.shape), tolerance: 1e-12)
    }
  }
}
