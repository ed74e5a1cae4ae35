import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// The worked example of the backpropagation notes:
/// f(x, W) = ‖W·x‖² with W = [[0.1, 0.5], [−0.3, 0.8]], x = [0.2, 0.4].
@Suite struct SeedExampleTests {
  let W = Tensor<Double>(shape: [2, 2], scalars: [0.1, 0.5, -0.3, 0.8])
  let x = Tensor<Double>([0.2, 0.4])

  @Test func forwardValues() {
    let q = matmul(W, x)
    #expect(q.shape == [2])
    #expect(
      q.isAlmostEqual(to: Tensor([0.22, 0.26]), absoluteTolerance: 1e-12, relativeTolerance: 0))
    #expect(Swift.abs((q * q).sum().scalar - 0.116) < 1e-12)
  }

  @Test func gradientsMatchTheNotes() {
    let (f, (dW, dx)) = valueWithGradient(at: W, x) { W, x in
      let q = matmul(W, x)
      return (q * q).sum()
    }
    #expect(Swift.abs(f.scalar - 0.116) < 1e-12)
    #expect(dW.shape == W.shape)
    #expect(dx.shape == x.shape)
    #expect(
      dW.isAlmostEqual(
        to: Tensor(shape: [2, 2], scalars: [0.088, 0.176, 0.104, 0.208]), absoluteTolerance: 1e-12,
        relativeTolerance: 0))
    #expect(
      dx.isAlmostEqual(to: Tensor([-0.112, 0.636]), absoluteTolerance: 1e-12, relativeTolerance: 0))
  }

  @Test func gradientOfQIsTwoQ() {
    let q = matmul(W, x)
    let dq = gradient(at: q) { q in (q * q).sum() }
    #expect(
      dq.isAlmostEqual(to: Tensor([0.44, 0.52]), absoluteTolerance: 1e-12, relativeTolerance: 0))
  }
}
