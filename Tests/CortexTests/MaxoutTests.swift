import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Maxout: consecutive groups, gradient checks, ties, reference loops and
/// validation.
@Suite struct MaxoutTests {
  @Test func unitsTakeConsecutiveFeatures() {
    let z = Tensor<Double>(shape: [2, 6], scalars: [0, 5, 1, 3, 2, 4, 9, 8, 7, -1, -3, -2])
    let y = maxout(z, pieces: 3)
    #expect(y == Tensor(shape: [2, 2], scalars: [5, 4, 9, -1]))
    let dz = gradient(at: z) { maxout($0, pieces: 3).sum() }
    #expect(dz == Tensor(shape: [2, 6], scalars: [0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0]))
  }

  @Test func channelsAreGroupedAtEveryPosition() {
    // [1, 4, 1, 2] with k = 2: unit 0 takes channels 0, 1; unit 1 takes 2, 3.
    let z = Tensor<Double>(shape: [1, 4, 1, 2], scalars: [1, 8, 2, 7, 6, 3, 5, 4])
    let y = maxout(z, pieces: 2)
    #expect(y == Tensor(shape: [1, 2, 1, 2], scalars: [2, 8, 6, 4]))
  }

  @Test(arguments: [([3, 6], 3), ([2, 6, 3, 2], 2), ([2, 4, 2, 3], 4), ([2, 5], 1)])
  func gradientMatchesCentralDifferences(shape: [Int], pieces: Int) {
    let z = distinctValues(shape, seed: 1)
    let report = checkGradients(at: z) { maxout($0, pieces: pieces) }
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
  }

  @Test func firstPieceWinsATie() {
    let z = Tensor<Double>(shape: [1, 6], scalars: [1, 1, 0, 2, 2, 2])
    let (y, dz) = valueWithGradient(at: z) { maxout($0, pieces: 3).sum() }
    #expect(y.scalar == 3)
    #expect(dz == Tensor(shape: [1, 6], scalars: [1, 0, 0, 1, 0, 0]))
  }

  @Test func randomShapesMatchDirectLoops() {
    var random = SeededGenerator(seed: 2013)
    for index in 0..<50 {
      let (batch, units, pieces) = (
        Int.random(in: 1...3, using: &random), Int.random(in: 1...4, using: &random),
        Int.random(in: 1...4, using: &random)
      )
      let spatial = Bool.random(using: &random)
      let inner =
        spatial
        ? [Int.random(in: 1...3, using: &random), Int.random(in: 1...3, using: &random)] : []
      let innerCount = inner.reduce(1, *)
      let z = Tensor<Double>.randomNormal([batch, units * pieces] + inner, seed: UInt64(index))
        .map { $0.rounded() }
      let upstream = Tensor<Double>.randomNormal([batch, units] + inner, seed: UInt64(100 + index))
      let (zs, gs) = (z.scalars, upstream.scalars)
      var expected = [Double](repeating: 0, count: upstream.scalarCount)
      var expectedGradient = [Double](repeating: 0, count: z.scalarCount)
      for n in 0..<batch {
        for u in 0..<units {
          for s in 0..<innerCount {
            let pieceIndices = (0..<pieces).map {
              ((n * units * pieces) + u * pieces + $0) * innerCount + s
            }
            var best = pieceIndices[0]
            for i in pieceIndices where zs[i] > zs[best] { best = i }
            let o = (n * units + u) * innerCount + s
            expected[o] = zs[best]
            expectedGradient[best] += gs[o]
          }
        }
      }
      let (y, pullback) = valueWithPullback(at: [z]) { maxout($0[0], pieces: pieces) }
      #expect(y.shape == [batch, units] + inner)
      #expect(y.scalars == expected)
      #expect(pullback(upstream)[0].scalars == expectedGradient)
    }
  }

  @Test func featureCountMustBeAMultipleOfThePieces() throws {
    #expect(throws: ShapeError("10 features cannot be split into units of 3 pieces")) {
      try maxoutOutputShape(input: [2, 10], pieces: 3)
    }
    #expect(throws: ShapeError("the number of pieces must be positive, found 0")) {
      try maxoutOutputShape(input: [2, 10], pieces: 0)
    }
    #expect(try maxoutOutputShape(input: [8, 12, 5, 5], pieces: 3) == [8, 4, 5, 5])
  }
}
