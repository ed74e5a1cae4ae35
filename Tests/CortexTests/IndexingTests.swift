import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Gathering, scattering, strided slicing, splitting, cumulative sums,
/// arg-extrema and top-k against loops.
@Suite struct IndexingTests {
  let x = Tensor<Double>(shape: [2, 3, 4], scalars: (0..<24).map { Double(($0 * 7) % 11) - 5 })

  @Test func gatherAndScatterAddAreTransposes() {
    let indices = IndexTensor(shape: [2, 2, 4], scalars: (0..<16).map { ($0 * 5) % 3 })
    let picked = gather(x, alongAxis: 1, indices: indices)
    for i in 0..<2 {
      for j in 0..<2 {
        for k in 0..<4 {
          #expect(picked[i, j, k] == x[i, indices.scalars[(i * 2 + j) * 4 + k], k])
        }
      }
    }
    // ⟨gather(x), y⟩ = ⟨x, scatterAdd(y)⟩ for any y.
    let y = Tensor<Double>.randomNormal([2, 2, 4], seed: 4)
    let scattered = scatterAdd(y, alongAxis: 1, indices: indices, into: x.shape)
    #expect(Swift.abs((picked * y).sum().scalar - (x * scattered).sum().scalar) < 1e-12)
    // The gradient of a repeated index adds up.
    let g = gradient(at: x) { gather($0, alongAxis: 1, indices: indices).sum() }
    var counts = [Double](repeating: 0, count: 24)
    for (flat, index) in indices.scalars.enumerated() {
      let (i, k) = (flat / 8, flat % 4)
      counts[(i * 3 + index) * 4 + k] += 1
    }
    #expect(g.scalars == counts)
  }

  @Test func stridedAndReversedSlices() {
    let columns = x.sliced(alongAxis: 2, stride(from: 1, to: 4, by: 2))
    #expect(columns.shape == [2, 3, 2])
    #expect(columns[1, 2, 0] == x[1, 2, 1] && columns[1, 2, 1] == x[1, 2, 3])
    let reversed = x.sliced(alongAxis: 1, stride(from: 2, through: 0, by: -1))
    for i in 0..<2 {
      for j in 0..<3 { for k in 0..<4 { #expect(reversed[i, j, k] == x[i, 2 - j, k]) } }
    }
    let g = gradient(at: x) { $0.sliced(alongAxis: -1, stride(from: 3, through: 0, by: -3)).sum() }
    #expect(g.scalars == (0..<24).map { $0 % 4 == 0 || $0 % 4 == 3 ? 1 : 0 })
    #expect(x.selecting([2, 2], alongAxis: 1).shape == [2, 2, 4])
  }

  @Test func splitChunkAndCumulativeSum() {
    let parts = x.split(sizes: [1, 3], alongAxis: 2)
    #expect(parts.map(\.shape) == [[2, 3, 1], [2, 3, 3]])
    #expect(Tensor(concatenating: parts, alongAxis: 2) == x)
    #expect(x.chunked(into: 2, alongAxis: 1).map(\.shape) == [[2, 2, 4], [2, 1, 4]])
    #expect(x.chunked(into: 4, alongAxis: 1).count == 3)
    let running = x.cumulativeSum(alongAxis: 1)
    let fromEnd = x.cumulativeSum(alongAxis: 1, reverse: true)
    for i in 0..<2 {
      for k in 0..<4 {
        var total = 0.0
        for j in 0..<3 {
          total += x[i, j, k]
          #expect(running[i, j, k] == total)
        }
        #expect(fromEnd[i, 0, k] == total)
      }
    }
  }

  @Test func argExtremaAndTopK() {
    let m = Tensor<Double>(shape: [2, 4], scalars: [3, 1, 3, -2, 0, 5, 4, 5])
    #expect(m.argmax(alongAxis: 1, keepDims: false) == IndexTensor([0, 1]))
    #expect(m.argmin(alongAxis: 1, keepDims: true) == IndexTensor(shape: [2, 1], scalars: [3, 0]))
    #expect(m.argmax(alongAxis: 0, keepDims: false).scalars == [0, 1, 1, 1])
    let (values, indices) = m.topK(3)
    #expect(values.scalars == [3, 3, 1, 5, 5, 4])
    #expect(indices.scalars == [0, 2, 1, 1, 3, 2])
    let smallest = m.topK(1, alongAxis: 0, largest: false)
    #expect(smallest.values.scalars == [0, 1, 3, -2])
    let g = gradient(at: m) { $0.topK(2).values.sum() }
    #expect(g.scalars == [1, 0, 1, 0, 0, 1, 0, 1])
  }
}
