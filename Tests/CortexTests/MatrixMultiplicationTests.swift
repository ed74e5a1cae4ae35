import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

@Suite struct MatrixMultiplicationTests {
  /// Matrix `i` of a batch, as a 2-D tensor.
  func matrix(_ batch: Tensor<Double>, _ i: Int) -> Tensor<Double> {
    batch.sliced(alongAxis: 0, range: i..<(i + 1)).reshaped(to: Array(batch.shape.dropFirst()))
  }

  @Test func vectorDotVector() {
    let a = Tensor<Double>([1, 2, 3, 4])
    let b = Tensor<Double>([5, -6, 7, 0.5])
    let dot = matmul(a, b)
    #expect(dot.shape == [])
    #expect(dot.scalar == 5 - 12 + 21 + 2)
  }

  @Test func matrixTimesVector() {
    let a = random([3, 4], seed: 1)
    let x = random([4], seed: 2)
    let y = matmul(a, x)
    #expect(y.shape == [3])
    expectClose(y, referenceMatmul(a, x.reshaped(to: [4, 1])).reshaped(to: [3]))
    let at = referenceTranspose(a)
    expectClose(matmul(at, x, transposeA: true), y)
  }

  @Test func vectorTimesMatrix() {
    let x = random([3], seed: 3)
    let b = random([3, 5], seed: 4)
    let y = matmul(x, b)
    #expect(y.shape == [5])
    expectClose(y, referenceMatmul(x.reshaped(to: [1, 3]), b).reshaped(to: [5]))
    expectClose(matmul(x, referenceTranspose(b), transposeB: true), y)
  }

  @Test func matrixTimesMatrixWithEveryTransposeFlag() {
    let a = random([3, 4], seed: 5)
    let b = random([4, 5], seed: 6)
    let expected = referenceMatmul(a, b)
    let (at, bt) = (referenceTranspose(a), referenceTranspose(b))
    #expect(matmul(a, b).shape == [3, 5])
    expectClose(matmul(a, b), expected)
    expectClose(matmul(at, b, transposeA: true), expected)
    expectClose(matmul(a, bt, transposeB: true), expected)
    expectClose(matmul(at, bt, transposeA: true, transposeB: true), expected)
  }

  @Test func smallMatricesByHand() {
    let a = Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    let b = Tensor<Double>(shape: [3, 2], scalars: [7, 8, 9, 10, 11, 12])
    #expect(matmul(a, b) == Tensor(shape: [2, 2], scalars: [58, 64, 139, 154]))
    #expect(
      matmul(a, a, transposeA: true)
        == Tensor(shape: [3, 3], scalars: [17, 22, 27, 22, 29, 36, 27, 36, 45]))
    #expect(matmul(a, a, transposeB: true) == Tensor(shape: [2, 2], scalars: [14, 32, 32, 77]))
  }

  @Test func batchedMatrices() {
    let a = random([2, 3, 4], seed: 7)
    let b = random([2, 4, 5], seed: 8)
    let c = matmul(a, b)
    #expect(c.shape == [2, 3, 5])
    for i in 0..<2 {
      expectClose(matrix(c, i), referenceMatmul(matrix(a, i), matrix(b, i)))
    }
    let at = a.permuted([0, 2, 1])
    let bt = b.permuted([0, 2, 1])
    expectClose(matmul(at, b, transposeA: true), c)
    expectClose(matmul(a, bt, transposeB: true), c)
    expectClose(matmul(at, bt, transposeA: true, transposeB: true), c)
  }

  @Test func batchTimesMatrix() {
    let a = random([2, 3, 4], seed: 9)
    let b = random([4, 5], seed: 10)
    let c = matmul(a, b)
    #expect(c.shape == [2, 3, 5])
    for i in 0..<2 {
      expectClose(matrix(c, i), referenceMatmul(matrix(a, i), b))
    }
    expectClose(matmul(a, referenceTranspose(b), transposeB: true), c)
  }

  @Test func floatMatchesDouble() {
    let a = random([5, 7], seed: 11)
    let b = random([7, 3], seed: 12)
    let product: Tensor<Float> = matmul(a.converted(), b.converted())
    expectClose(product, referenceMatmul(a, b).converted(), tolerance: 1e-5)
  }
}
