import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// The gate rules of backpropagation, checked on hand-computed numbers with
/// an upstream gradient that is not all ones.
@Suite struct GateTests {
  let x = Tensor<Double>([3, -1, 2])
  let y = Tensor<Double>([2, 5, 2])
  let upstream = Tensor<Double>([1, 10, 100])

  /// The gradients of `f` at `inputs` for the given upstream gradient.
  func pullback(
    _ inputs: [Tensor<Double>], _ upstream: Tensor<Double>,
    _ f: ([Tensor<Double>]) -> Tensor<Double>
  ) -> [Tensor<Double>] {
    valueWithPullback(at: inputs, of: f).pullback(upstream)
  }

  @Test func addDistributes() {
    let g = pullback([x, y], upstream) { $0[0] + $0[1] }
    #expect(g[0] == upstream)
    #expect(g[1] == upstream)
    let d = pullback([x, y], upstream) { $0[0] - $0[1] }
    #expect(d[0] == upstream)
    #expect(d[1] == -upstream)
  }

  @Test func mulSwitches() {
    let g = pullback([x, y], upstream) { $0[0] * $0[1] }
    #expect(g[0].scalars == [2, 50, 200])  // y · upstream
    #expect(g[1].scalars == [3, -10, 200])  // x · upstream
  }

  @Test func divideFollowsTheQuotientRule() {
    let g = pullback([x, y], upstream) { $0[0] / $0[1] }
    #expect(g[0].scalars == [0.5, 2, 50])  // upstream / y
    expectClose(g[1], Tensor([-0.75, 0.4, -50]))  // −upstream · x / y²
  }

  @Test func maxRoutesToTheLargerInput() {
    let g = pullback([x, y], upstream) { max($0[0], $0[1]) }
    // x wins at 0, y at 1; the tie at 2 goes to the first argument.
    #expect(g[0].scalars == [1, 0, 100])
    #expect(g[1].scalars == [0, 10, 0])
  }

  @Test func minRoutesToTheSmallerInputAndTiesToTheFirst() {
    let g = pullback([x, y], upstream) { min($0[0], $0[1]) }
    #expect(g[0].scalars == [0, 10, 100])
    #expect(g[1].scalars == [1, 0, 0])
  }

  @Test func maxAgainstAScalarTiesToTheTensor() {
    let t = Tensor<Double>([-1, 0, 2])
    #expect(gradient(at: t) { max($0, 0).sum() }.scalars == [0, 1, 1])
    #expect(gradient(at: t) { max(0, $0).sum() }.scalars == [0, 0, 1])
    #expect(gradient(at: t) { min($0, 0).sum() }.scalars == [1, 1, 0])
    // ReLU is the max gate against the constant 0: relu′(0) = 1.
    #expect(gradient(at: t) { relu($0).sum() }.scalars == [0, 1, 1])
  }

  /// `relu(x)` and `max(x, 0)` are one gate: the same values and the same
  /// gradients everywhere, 0 and −0 included, for any upstream gradient, to
  /// first and second order.
  @Test func reluIsMaxAgainstZero() {
    let x = Tensor<Double>([-3, -1e-300, -0.0, 0, 1e-300, 2.5])
    let upstream = Tensor<Double>([0.5, -2, 3, 7, -1, 4])
    let viaRelu = valueWithPullback(at: [x], keepingTape: true) { relu($0[0]) }
    let viaMax = valueWithPullback(at: [x]) { max($0[0], 0) }
    #expect(viaRelu.value.scalars.map(\.bitPattern) == viaMax.value.scalars.map(\.bitPattern))
    #expect(viaRelu.pullback(upstream) == viaMax.pullback(upstream))
    #expect(viaRelu.pullback(upstream) == [Tensor([0, 0, 3, 7, -1, 4])])
    let second = { (f: @escaping (Tensor<Double>) -> Tensor<Double>) in
      gradient(at: x) { x in (gradient(at: x) { f($0 * $0 * $0).sum() } * upstream).sum() }
    }
    #expect(second { relu($0) } == second { max($0, 0) })
  }

  @Test func maxOfTwoBroadcastTensorsRoutesAndSums() {
    let a = Tensor<Double>(shape: [2, 1], scalars: [1, 3])
    let b = Tensor<Double>([0, 2, 3])
    let (ga, gb) = gradient(at: a, b) { max($0, $1).sum() }
    // Row 0: 1 beats 0 only; row 1: 3 beats 0 and 2 and wins the tie with 3.
    #expect(ga.scalars == [1, 3])
    #expect(gb.scalars == [0, 1, 1])
  }

  @Test func reductionTiesGoToTheFirstElement() {
    let t = Tensor<Double>([3, 7, 7, 1, 1])
    #expect(gradient(at: t) { $0.max() }.scalars == [0, 1, 0, 0, 0])
    #expect(gradient(at: t) { $0.min() }.scalars == [0, 0, 0, 1, 0])
    let m = Tensor<Double>(shape: [2, 3], scalars: [5, 5, 1, 2, 2, 2])
    #expect(gradient(at: m) { $0.max(alongAxes: 1).sum() }.scalars == [1, 0, 0, 1, 0, 0])
    #expect(gradient(at: m) { $0.min(alongAxes: 1).sum() }.scalars == [0, 0, 1, 1, 0, 0])
    #expect(gradient(at: m) { $0.max(alongAxes: 0).sum() }.scalars == [1, 1, 0, 0, 0, 1])
    #expect(gradient(at: m) { $0.min(alongAxes: 0).sum() }.scalars == [0, 0, 1, 1, 1, 0])
    // All six tie: the first in row-major order wins.
    let flat = Tensor<Double>.ones([2, 3])
    #expect(gradient(at: flat) { $0.max() }.scalars == [1, 0, 0, 0, 0, 0])
  }

  @Test func reductionsDistributeTheUpstreamGradient() {
    let m = Tensor<Double>.zeros([2, 3])
    let rows = Tensor<Double>([1, 10])
    let g = valueWithPullback(at: [m]) { $0[0].sum(alongAxes: 1) }.pullback(rows)
    #expect(g[0].scalars == [1, 1, 1, 10, 10, 10])
    let mean = valueWithPullback(at: [m]) { $0[0].mean(alongAxes: 1) }.pullback(rows * 3)
    #expect(mean[0].scalars == [1, 1, 1, 10, 10, 10])
  }

  @Test func fanOutAccumulates() {
    let t = Tensor<Double>([-2, 0, 0.5, 3])
    let g = gradient(at: t) { x in (x * x + x).sum() }
    #expect(g.scalars == [-3, 1, 2, 7])  // 2x + 1
    let thrice = gradient(at: t) { x in (x + x + x).sum() }
    #expect(thrice.scalars == [3, 3, 3, 3])
  }

  @Test func biasGradientIsTheColumnSums() {
    let batch = random([8, 4], seed: 1)
    let bias = Tensor<Double>([0.1, 0.2, 0.3, 0.4])
    let upstream = random([8, 4], seed: 2)
    let g = valueWithPullback(at: [batch, bias]) { $0[0] + $0[1] }.pullback(upstream)
    #expect(g[0] == upstream)
    #expect(g[1].shape == [4])
    expectClose(g[1], upstream.sum(alongAxes: 0), tolerance: 1e-14)
    for j in 0..<4 {
      let column = (0..<8).map { upstream[$0, j] }.reduce(0, +)
      expectClose(g[1][j], column, tolerance: 1e-14)
    }
    let (_, db) = gradient(at: batch, bias) { ($0 + $1).sum() }
    #expect(db.scalars == [8, 8, 8, 8])
  }

  @Test func broadcastProductGradients() {
    let column = Tensor<Double>(shape: [3, 1], scalars: [1, 2, 3])
    let row = Tensor<Double>(shape: [1, 4], scalars: [1, 10, 100, 1000])
    let (gc, gr) = gradient(at: column, row) { ($0 * $1).sum() }
    #expect(gc.shape == [3, 1])
    #expect(gc.scalars == [1111, 1111, 1111])
    #expect(gr.shape == [1, 4])
    #expect(gr.scalars == [6, 6, 6, 6])
  }

  /// "The gradient of a variable always has the variable's shape."
  @Test(arguments: OperationCase.all)
  func gradientHasTheInputShape(_ operation: OperationCase) {
    let (value, pullback) = valueWithPullback(at: operation.inputs, of: operation.function)
    let gradients = pullback(Tensor.ones(value.shape))
    #expect(gradients.count == operation.inputs.count)
    for (g, input) in zip(gradients, operation.inputs) {
      #expect(g.shape == input.shape)
    }
  }

  @Test func unusedInputGetsZeroGradient() {
    let (gx, gy) = gradient(at: x, Tensor<Double>.ones([2, 2])) { x, _ in (x * x).sum() }
    #expect(gx.scalars == [6, -2, 4])
    #expect(gy == Tensor.zeros([2, 2]))
    let constant = gradient(at: x) { _ in Tensor(3) }
    #expect(constant == Tensor.zeros([3]))
    let (value, g) = valueWithGradient(at: [x, y]) { inputs in inputs[1].sum() }
    #expect(value.scalar == 9)
    #expect(g[0] == Tensor.zeros([3]))
    #expect(g[1] == Tensor.ones([3]))
  }

  @Test func identityPassesTheSeedThrough() {
    let g = valueWithPullback(at: [x]) { $0[0] }.pullback(upstream)
    #expect(g[0] == upstream)
  }
}

/// The claims of the "How the tape works" article, one test each.
@Suite struct TapeArticleTests {
  @Test func workedExample() {
    let W = Tensor<Double>(shape: [2, 2], scalars: [0.1, 0.5, -0.3, 0.8])
    let x = Tensor<Double>([0.2, 0.4])
    let (value, (gW, gx)) = valueWithGradient(at: W, x) { W, x in
      let q = matmul(W, x)
      return (q * q).sum()
    }
    #expect(Swift.abs(value.scalar - 0.116) <= 1e-15)
    #expect(
      gW.isAlmostEqual(
        to: Tensor(shape: [2, 2], scalars: [0.088, 0.176, 0.104, 0.208]), absoluteTolerance: 1e-15))
    #expect(gx.isAlmostEqual(to: Tensor([-0.112, 0.636]), absoluteTolerance: 1e-15))
  }

  @Test func fanOutAddsUp() {
    #expect(
      gradient(at: Tensor<Double>([-2, 0, 3])) { x in (x * x + x).sum() } == Tensor([-3, 1, 7]))
  }

  @Test func tiesGoToTheFirstCandidate() {
    #expect(gradient(at: Tensor<Double>([3, 7, 7, 1])) { $0.max() } == Tensor([0, 1, 0, 0]))
    #expect(gradient(at: Tensor<Double>([-1, 0, 2])) { relu($0).sum() } == Tensor([0, 1, 1]))
    let a = Tensor<Double>([1, 2])
    let (ga, gb) = gradient(at: a, a) { max($0, $1).sum() }
    #expect(ga == Tensor([1, 1]) && gb == Tensor([0, 0]))
    let (ma, mb) = gradient(at: a, a) { min($0, $1).sum() }
    #expect(ma == Tensor([1, 1]) && mb == Tensor([0, 0]))
    // A pooling window with a tie routes to its first element in row-major order.
    let window = Tensor<Double>(shape: [1, 1, 2, 2], scalars: [1, 5, 5, 5])
    #expect(
      gradient(at: window) { maxPool2d($0, size: 2, stride: 2).sum() }.scalars == [0, 1, 0, 0])
    #expect(
      gradient(at: Tensor<Double>(shape: [1, 2], scalars: [4, 4])) { maxout($0, pieces: 2).sum() }
        .scalars == [1, 0])
    // leakyRelu is max(x, αx) (min for α > 1): at 0 the first, x, wins.
    let x = Tensor<Double>([-1, 0, 2])
    #expect(gradient(at: x) { leakyRelu($0, negativeSlope: 0.1).sum() } == Tensor([0.1, 1, 1]))
    #expect(gradient(at: x) { leakyRelu($0, negativeSlope: 2).sum() } == Tensor([2, 1, 1]))
    // The hinge is relu(slack): a slack of exactly 0 passes its gradient,
    // under every reduction.
    let scores = Tensor<Double>(shape: [1, 2], scalars: [1, 0])
    for reduction in LossReduction.allCases {
      #expect(
        gradient(at: scores) {
          multiclassHingeLoss(scores: $0, labels: [0], margin: 1, reduction: reduction).sum()
        } == Tensor(shape: [1, 2], scalars: [-1, 1]))
    }
    // abs is not a max gate: abs′(0) = sign(0) = 0.
    #expect(gradient(at: x) { abs($0).sum() } == Tensor([-1, 0, 1]))
  }

  @Test func plainBackwardRecordsNothing() {
    let (value, tape) = recordTape(at: [Tensor<Double>([1, 2])]) { t in (t[0] * t[0]).sum() }
    #expect(value.scalar == 5)
    #expect(tape.count == 3)
    let (_, pullback) = valueWithPullback(at: [Tensor<Double>([1, 2])]) { t in (t[0] * t[0]).sum() }
    let g = pullback(Tensor(1))
    #expect(g == [Tensor([2, 4])])
    #expect(!g[0].isBeingDifferentiated && g[0].node == nil)
  }

  @Test func aNestedGradientAppendsToTheEnclosingTape() {
    let (_, tape) = recordTape(at: [Tensor<Double>([1, 2])]) { t in
      gradient(at: t[0]) { ($0 * $0).sum() }.sum()
    }
    // input; inner input, multiply, sum; the recorded pullbacks; the outer sum.
    #expect(tape.count > 5)
    #expect(
      tape.description.hasPrefix("%0 = input [2]\n%1 = input(%0) [2]\n%2 = multiply(%1, %1) [2]"))
  }
}
