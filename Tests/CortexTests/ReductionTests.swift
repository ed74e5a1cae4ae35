import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Reduces `axes` of `x` one element at a time, keeping them as size 1: the
/// reference for the reduction kernels.
func referenceReduce(
  _ x: Tensor<Double>, axes: [Int], initial: Double, _ combine: (Double, Double) -> Double
) -> Tensor<Double> {
  let shape = x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
  var result = [Double](repeating: initial, count: shape.reduce(1, *))
  for flat in 0..<x.scalarCount {
    var rest = flat
    var outputOffset = 0
    var place = 1
    for axis in stride(from: x.rank - 1, through: 0, by: -1) {
      let index = rest % x.shape[axis]
      rest /= x.shape[axis]
      if !axes.contains(axis) { outputOffset += index * place }
      place *= shape[axis]
    }
    result[outputOffset] = combine(result[outputOffset], x.scalars[flat])
  }
  return Tensor(shape: shape, scalars: result)
}

@Suite struct ReductionTests {
  let m = Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
  let cube = random([3, 4, 5], seed: 21)

  @Test func sumOfAll() {
    let s = m.sum()
    #expect(s.shape == [])
    #expect(s.scalar == 21)
    #expect(Tensor<Double>(4).sum().scalar == 4)
  }

  @Test func sumAlongAxes() {
    #expect(m.sum(alongAxes: 0) == Tensor([5, 7, 9]))
    #expect(m.sum(alongAxes: 1) == Tensor([6, 15]))
    #expect(m.sum(alongAxes: -1) == Tensor([6, 15]))
    #expect(m.sum(alongAxes: -2) == Tensor([5, 7, 9]))
    #expect(m.sum(alongAxes: 0, 1) == Tensor(21))
    #expect(m.sum(alongAxes: [1], keepDims: true) == Tensor(shape: [2, 1], scalars: [6, 15]))
    #expect(m.sum(alongAxes: [0], keepDims: true) == Tensor(shape: [1, 3], scalars: [5, 7, 9]))
    #expect(m.sum(alongAxes: [0, -1], keepDims: true) == Tensor(shape: [1, 1], scalars: [21]))
    #expect(Tensor<Double>.zeros([0, 2]).sum(alongAxes: 0) == Tensor([0, 0]))
  }

  /// Sums large enough to be shared out among threads (by outer index or
  /// by blocks of columns) add each output's inputs in the same order on
  /// one thread and on two, and match the reference.
  @Test func largeSumsAreTheSameBitsOnOneThreadAndTwo() {
    let cases: [([Int], Int)] = [
      ([3000, 40], 0), ([300, 400], 1), ([2, 500, 70], 1), ([7, 9000], 1),
    ]
    for (index, (shape, axis)) in cases.enumerated() {
      let x = Tensor<Float>.randomNormal(shape, seed: UInt64(30 + index))
      let one = withThreadCount(1) { x.sum(alongAxes: axis) }
      #expect(withThreadCount(2) { x.sum(alongAxes: axis) } == one, "\(shape) along \(axis)")
      let wide = x.converted(to: Double.self)
      let reference = referenceReduce(wide, axes: [axis], initial: 0, +).scalars
      #expect(
        zip(one.scalars, reference).allSatisfy { Swift.abs(Double($0) - $1) < 1e-3 },
        "\(shape) along \(axis)")
    }
  }

  @Test func sumOfACubeMatchesTheReference() {
    for axes in [[0], [1], [2], [0, 2], [1, 2], [0, 1, 2]] {
      let kept = cube.sum(alongAxes: axes, keepDims: true)
      expectClose(kept, referenceReduce(cube, axes: axes, initial: 0, +), tolerance: 1e-14)
      let dropped = cube.sum(alongAxes: axes)
      #expect(
        dropped.shape == cube.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
      )
      #expect(dropped.scalars == kept.scalars)
    }
    #expect(cube.sum(alongAxes: -1, -3) == cube.sum(alongAxes: 0, 2))
  }

  @Test func means() {
    #expect(m.mean().scalar == 3.5)
    #expect(m.mean(alongAxes: 0) == Tensor([2.5, 3.5, 4.5]))
    #expect(m.mean(alongAxes: -1) == Tensor([2, 5]))
    #expect(m.mean(alongAxes: [1], keepDims: true) == Tensor(shape: [2, 1], scalars: [2, 5]))
    expectClose(
      cube.mean(alongAxes: [0, 2], keepDims: true),
      referenceReduce(cube, axes: [0, 2], initial: 0, +) / 15, tolerance: 1e-14)
  }

  @Test func maximaAndMinima() {
    let t = Tensor<Double>(shape: [2, 3], scalars: [3, -1, 7, 0, 8, -2])
    #expect(t.max().scalar == 8)
    #expect(t.min().scalar == -2)
    #expect(t.max().shape == [])
    #expect(t.max(alongAxes: 0) == Tensor([3, 8, 7]))
    #expect(t.max(alongAxes: 1) == Tensor([7, 8]))
    #expect(t.min(alongAxes: -1) == Tensor([-1, -2]))
    #expect(t.min(alongAxes: [0], keepDims: true) == Tensor(shape: [1, 3], scalars: [0, -1, -2]))
    #expect(t.max(alongAxes: [1], keepDims: true) == Tensor(shape: [2, 1], scalars: [7, 8]))
    for axes in [[0], [1], [2], [0, 2], [0, 1, 2]] {
      #expect(
        cube.max(alongAxes: axes, keepDims: true)
          == referenceReduce(cube, axes: axes, initial: -.infinity, Swift.max))
      #expect(
        cube.min(alongAxes: axes, keepDims: true)
          == referenceReduce(cube, axes: axes, initial: .infinity, Swift.min))
    }
    #expect(cube.max(alongAxes: -2) == cube.max(alongAxes: 1))
  }

  @Test func argmax() {
    let t = Tensor<Double>(shape: [2, 3], scalars: [3, -1, 7, 0, 8, -2])
    #expect(t.argmax() == 4)
    #expect(t.argmax(alongAxis: 0) == [0, 1, 0])
    #expect(t.argmax(alongAxis: 1) == [2, 1])
    #expect(t.argmax(alongAxis: -1) == [2, 1])
    // Ties go to the first index.
    #expect(Tensor<Double>([5, 9, 9, 1]).argmax() == 1)
    #expect(Tensor<Double>(shape: [2, 2], scalars: [4, 4, 1, 1]).argmax(alongAxis: 1) == [0, 0])
    let grid = random([3, 4, 2], seed: 5)
    let along1 = grid.argmax(alongAxis: 1)
    #expect(along1.count == 6)
    for i in 0..<3 {
      for k in 0..<2 {
        let column = (0..<4).map { grid[i, $0, k] }
        #expect(along1[i * 2 + k] == column.firstIndex(of: column.max()!))
      }
    }
  }
}

@Suite struct ReductionFuzzTests {
  @Test func randomAxesMatchTheReference() {
    var generator = SeededGenerator(seed: 99)
    for trial in 0..<60 {
      let rank = 1 + Int(generator.next() % 4)
      let shape = (0..<rank).map { _ in 1 + Int(generator.next() % 4) }
      let axes = (0..<rank).filter { _ in generator.next() % 2 == 0 }
      let x = random(shape, seed: UInt64(trial))
      let sum = x.sum(alongAxes: axes, keepDims: true)
      expectClose(sum, referenceReduce(x, axes: axes, initial: 0, +), tolerance: 1e-13)
      #expect(
        x.max(alongAxes: axes, keepDims: true)
          == referenceReduce(x, axes: axes, initial: -.infinity, Swift.max))
      #expect(
        x.min(alongAxes: axes, keepDims: true)
          == referenceReduce(x, axes: axes, initial: .infinity, Swift.min))
      // The max gate: one 1 per reduced group, at the group's maximum.
      let g = gradient(at: x) { $0.max(alongAxes: axes).sum() }
      #expect(g.sum().scalar == Double(sum.scalarCount))
      let winners = (x .== x.max(alongAxes: axes, keepDims: true)) * g
      #expect(winners == g)
    }
  }
}
