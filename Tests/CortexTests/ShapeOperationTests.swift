import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

@Suite struct ShapeOperationTests {
  let m = Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])

  @Test func transposeOfAMatrix() {
    let t = m.transposed()
    #expect(t.shape == [3, 2])
    #expect(t.scalars == [1, 4, 2, 5, 3, 6])
    #expect(t == referenceTranspose(m))
    #expect(t.transposed() == m)
  }

  @Test func permuteMovesAxes() {
    let x = Tensor<Double>.arange(to: 24).reshaped(to: [2, 3, 4])
    let p = x.permuted([2, 0, 1])
    #expect(p.shape == [4, 2, 3])
    for i in 0..<2 {
      for j in 0..<3 {
        for k in 0..<4 { #expect(p[k, i, j] == x[i, j, k]) }
      }
    }
    #expect(p.permuted([1, 2, 0]) == x)
    #expect(x.transposed().shape == [4, 3, 2])
    #expect(x.transposed()[3, 1, 0] == x[0, 1, 3])
    #expect(x.permuted([0, 1, 2]) == x)
  }

  /// A permute large enough to be shared out among threads (as the heads
  /// of a batch are split apart) moves every element where one thread
  /// does, and where the definition says.
  @Test func aLargePermuteIsTheSameOnOneThreadAndTwo() {
    let shape = [32, 48, 4, 12]
    let x = Tensor<Double>.arange(to: Double(shape.reduce(1, *))).reshaped(to: shape)
    for permutation in [[0, 2, 1, 3], [2, 0, 3, 1], [1, 0, 2, 3]] {
      let one = withThreadCount(1) { x.permuted(permutation) }
      #expect(withThreadCount(2) { x.permuted(permutation) } == one, "\(permutation)")
      let permutedShape = permutation.map { shape[$0] }
      var index = [0, 0, 0, 0]
      for flat in stride(from: 0, to: one.scalarCount, by: 97) {
        var rest = flat
        for axis in stride(from: 3, through: 0, by: -1) {
          index[permutation[axis]] = rest % permutedShape[axis]
          rest /= permutedShape[axis]
        }
        let source = ((index[0] * shape[1] + index[1]) * shape[2] + index[2]) * shape[3] + index[3]
        #expect(one.scalars[flat] == Double(source), "\(permutation) at \(flat)")
      }
    }
  }

  @Test func reshapeInfersMinusOne() {
    let x = Tensor<Double>.arange(to: 12)
    #expect(x.reshaped(to: [3, -1]).shape == [3, 4])
    #expect(x.reshaped(to: [-1, 6]).shape == [2, 6])
    #expect(x.reshaped(to: [2, -1, 3]).shape == [2, 2, 3])
    #expect(x.reshaped(to: [3, 4]).scalars == x.scalars)
    #expect(Tensor<Double>(5).reshaped(to: [-1]).shape == [1])
    #expect(Tensor<Double>([5]).reshaped(to: []).shape == [])
  }

  @Test func flattenFromAnAxis() {
    let x = Tensor<Double>.zeros([2, 3, 4, 5])
    #expect(x.flattened().shape == [2, 60])
    #expect(x.flattened(fromAxis: 0).shape == [120])
    #expect(x.flattened(fromAxis: 2).shape == [2, 3, 20])
    #expect(x.flattened(fromAxis: -1).shape == [2, 3, 4, 5])
    // A 32×32×3 volume flattens to 3072 for a fully connected layer.
    #expect(Tensor<Float>.zeros([1, 3, 32, 32]).flattened().shape == [1, 3072])
  }

  @Test func squeezeAndUnsqueeze() {
    let x = Tensor<Double>(shape: [1, 3, 1, 2], scalars: [1, 2, 3, 4, 5, 6])
    #expect(x.squeezed().shape == [3, 2])
    #expect(x.squeezed(axes: [0]).shape == [3, 1, 2])
    #expect(x.squeezed(axes: [-2]).shape == [1, 3, 2])
    #expect(x.squeezed().scalars == x.scalars)
    let v = Tensor<Double>([1, 2, 3])
    #expect(v.unsqueezed(at: 0).shape == [1, 3])
    #expect(v.unsqueezed(at: 1).shape == [3, 1])
    #expect(v.unsqueezed(at: -1).shape == [3, 1])
    #expect(m.unsqueezed(at: -2).shape == [2, 1, 3])
  }

  @Test func slicing() {
    let x = Tensor<Double>.arange(to: 24).reshaped(to: [2, 3, 4])
    let rows = x.sliced(alongAxis: 1, range: 1..<3)
    #expect(rows.shape == [2, 2, 4])
    #expect(rows[0, 0, 0] == x[0, 1, 0])
    #expect(rows[1, 1, 3] == x[1, 2, 3])
    let columns = x.sliced(alongAxis: -1, range: 1..<2)
    #expect(columns.shape == [2, 3, 1])
    #expect(columns.scalars == [1, 5, 9, 13, 17, 21])
    #expect(x.sliced(alongAxis: 0, range: 1..<2).scalars == Array(12..<24).map(Double.init))
    #expect(x.sliced(alongAxis: 2, range: 2..<2).shape == [2, 3, 0])
  }

  @Test func concatenation() {
    let a = Tensor<Double>(shape: [2, 2], scalars: [1, 2, 3, 4])
    let b = Tensor<Double>(shape: [1, 2], scalars: [5, 6])
    let c = Tensor<Double>(shape: [2, 1], scalars: [7, 8])
    #expect(Tensor(concatenating: [a, b]) == Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6]))
    #expect(
      Tensor(concatenating: [a, c], alongAxis: 1)
        == Tensor(shape: [2, 3], scalars: [1, 2, 7, 3, 4, 8]))
    #expect(
      Tensor(concatenating: [c, a, c], alongAxis: -1)
        == Tensor(shape: [2, 4], scalars: [7, 1, 2, 7, 8, 3, 4, 8]))
    #expect(Tensor(concatenating: [Tensor<Double>([1]), Tensor([2, 3])]).scalars == [1, 2, 3])
  }

  @Test func stacking() {
    let a = Tensor<Double>([1, 2, 3])
    let b = Tensor<Double>([4, 5, 6])
    #expect(Tensor(stacking: [a, b]) == Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]))
    #expect(
      Tensor(stacking: [a, b], alongAxis: 1) == Tensor(shape: [3, 2], scalars: [1, 4, 2, 5, 3, 6]))
    #expect(Tensor(stacking: [a, b], alongAxis: -1) == Tensor(stacking: [a, b], alongAxis: 1))
    let stacked = Tensor(stacking: [m, m * 10, m * 100], alongAxis: 1)
    #expect(stacked.shape == [2, 3, 3])
    // stacked[i, k, j] is element [i, j] of the k-th tensor.
    #expect(stacked[1, 2, 0] == 400)
    #expect(stacked[0, 1, 2] == 30)
    #expect(Tensor(stacking: [Tensor<Double>(1), Tensor(2)]) == Tensor([1, 2]))
  }

  @Test func zeroPadding() {
    let p = m.padded(with: [(before: 1, after: 0), (before: 2, after: 1)])
    #expect(p.shape == [3, 6])
    #expect(
      p.scalars == [
        0, 0, 0, 0, 0, 0,
        0, 0, 1, 2, 3, 0,
        0, 0, 4, 5, 6, 0,
      ])
    #expect(m.padded(with: [(0, 0), (0, 0)]) == m)
    // Padding P = (F − 1)/2 = 2 keeps a 5×5 filter's output at 32×32.
    #expect(
      Tensor<Float>.ones([3, 32, 32]).padded(with: [(0, 0), (2, 2), (2, 2)]).shape == [3, 36, 36])
  }

  @Test func explicitBroadcast() {
    let b = Tensor<Double>(shape: [3, 1], scalars: [1, 2, 3]).broadcasted(to: [2, 3, 4])
    #expect(b.shape == [2, 3, 4])
    #expect(b[1, 2, 3] == 3)
    #expect(b[0, 1, 0] == 2)
    #expect(b.sum().scalar == 2 * 4 * 6)
    #expect(Tensor<Double>(7).broadcasted(to: [2]).scalars == [7, 7])
  }

  @Test func unbroadcastSumsBroadcastAxes() {
    let g = Tensor<Double>.arange(to: 24).reshaped(to: [2, 3, 4])
    #expect(g.unbroadcast(to: [4]) == g.sum(alongAxes: 0, 1))
    #expect(g.unbroadcast(to: [3, 1]) == g.sum(alongAxes: [0, 2]).reshaped(to: [3, 1]))
    #expect(g.unbroadcast(to: [2, 1, 4]) == g.sum(alongAxes: [1], keepDims: true))
    #expect(g.unbroadcast(to: []).scalar == 276)
    #expect(g.unbroadcast(to: [2, 3, 4]) == g)
  }
}

@Suite struct ShapeOperationFuzzTests {
  /// The multi-index of a row-major flat index.
  static func index(_ flat: Int, _ shape: [Int]) -> [Int] {
    var rest = flat
    var index = [Int](repeating: 0, count: shape.count)
    for axis in stride(from: shape.count - 1, through: 0, by: -1) {
      index[axis] = rest % shape[axis]
      rest /= shape[axis]
    }
    return index
  }

  static func offset(_ index: [Int], _ shape: [Int]) -> Int {
    zip(index, shape).reduce(0) { $0 * $1.1 + $1.0 }
  }

  /// Ranks up to 6, so that some permutations keep more than four axes
  /// after axes of size 1 are dropped and neighbours merged.
  @Test func randomPermutationsMatchTheReference() {
    var generator = SeededGenerator(seed: 77)
    for trial in 0..<80 {
      let rank = 1 + Int(generator.next() % 6)
      let shape = (0..<rank).map { _ in 1 + Int(generator.next() % 4) }
      let permutation = Array(0..<rank).shuffled(using: &generator)
      let x = random(shape, seed: UInt64(trial))
      let p = x.permuted(permutation)
      #expect(p.shape == permutation.map { shape[$0] })
      for flat in 0..<p.scalarCount {
        let outIndex = Self.index(flat, p.shape)
        var sourceIndex = [Int](repeating: 0, count: rank)
        for (i, axis) in permutation.enumerated() { sourceIndex[axis] = outIndex[i] }
        #expect(p.scalars[flat] == x.scalars[Self.offset(sourceIndex, shape)])
      }
      let g = gradient(at: x) { ($0.permuted(permutation) * p).sum() }
      #expect(g == x)
    }
  }

  @Test func randomSlicesAndPaddingsMatchTheReference() {
    var generator = SeededGenerator(seed: 78)
    for trial in 0..<60 {
      let rank = 1 + Int(generator.next() % 4)
      let shape = (0..<rank).map { _ in 1 + Int(generator.next() % 4) }
      let axis = Int(generator.next() % UInt64(rank))
      let lower = Int(generator.next() % UInt64(shape[axis]))
      let upper = lower + Int(generator.next() % UInt64(shape[axis] - lower + 1))
      let x = random(shape, seed: UInt64(trial))
      let s = x.sliced(alongAxis: axis, range: lower..<upper)
      for flat in 0..<s.scalarCount {
        var index = Self.index(flat, s.shape)
        index[axis] += lower
        #expect(s.scalars[flat] == x.scalars[Self.offset(index, shape)])
      }
      let padding = (0..<rank).map { _ in (Int(generator.next() % 3), Int(generator.next() % 3)) }
      let padded = x.padded(with: padding)
      #expect(padded.shape == zip(shape, padding).map { $0 + $1.0 + $1.1 })
      #expect(padded.sum().scalar == x.sum().scalar)
      for flat in 0..<x.scalarCount {
        let index = zip(Self.index(flat, shape), padding).map { $0 + $1.0 }
        #expect(padded.scalars[Self.offset(index, padded.shape)] == x.scalars[flat])
      }
      let back = (0..<rank).reduce(padded) { t, axis in
        t.sliced(alongAxis: axis, range: padding[axis].0..<(padding[axis].0 + shape[axis]))
      }
      #expect(back == x)
    }
  }
}
