import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// An object whose lifetime tells whether a pullback, and with it the tape,
/// was released.
final class Marker: Sendable {}

/// `2x`, recorded as a custom operation whose pullback keeps `marker` alive.
func doubled(_ x: Tensor<Double>, keeping marker: Marker) -> Tensor<Double> {
  record("doubled", inputs: [x], output: x.withoutDerivative * 2) { upstream, _ in
    withExtendedLifetime(marker) { [upstream * 2] }
  }
}

@Suite struct TapeTests {
  let x = Tensor<Double>([0.5, -1, 2])

  @Test func gradientEntryPointsForOneTwoThreeAndManyInputs() {
    let y = Tensor<Double>([1, 2, 3])
    let z = Tensor<Double>(2)

    let (v1, g1) = valueWithGradient(at: x) { ($0 * $0).sum() }
    #expect(v1.scalar == 5.25)
    #expect(g1.scalars == [1, -2, 4])
    #expect(gradient(at: x) { ($0 * $0).sum() } == g1)

    let (v2, (gx2, gy2)) = valueWithGradient(at: x, y) { ($0 * $1).sum() }
    #expect(v2.scalar == 4.5)
    #expect(gx2 == y)
    #expect(gy2 == x)
    let (hx2, hy2) = gradient(at: x, y) { ($0 * $1).sum() }
    #expect(hx2 == y && hy2 == x)

    let (v3, (gx3, gy3, gz3)) = valueWithGradient(at: x, y, z) { ($0 * $1 * $2).sum() }
    #expect(v3.scalar == 9)
    #expect(gx3.scalars == [2, 4, 6])
    #expect(gy3.scalars == [1, -2, 4])
    #expect(gz3.shape == [])
    #expect(gz3.scalar == 4.5)
    let (hx3, hy3, hz3) = gradient(at: x, y, z) { ($0 * $1 * $2).sum() }
    #expect(hx3 == gx3 && hy3 == gy3 && hz3 == gz3)

    let inputs = [x, y, z, Tensor<Double>([10, 20, 30])]
    let (v4, g4) = valueWithGradient(at: inputs) { t in ((t[0] + t[1]) * t[2] - t[3]).sum() }
    #expect(v4.scalar == -45)
    #expect(g4.map(\.scalars) == [[2, 2, 2], [2, 2, 2], [7.5], [-1, -1, -1]])
    #expect(gradient(at: inputs) { t in ((t[0] + t[1]) * t[2] - t[3]).sum() } == g4)
  }

  @Test func valueWithPullbackAcceptsAnyUpstreamGradient() {
    let (value, pullback) = valueWithPullback(at: [x]) { $0[0] * $0[0] }
    #expect(value.scalars == [0.25, 1, 4])
    let g = pullback(Tensor([1, 10, 100]))
    #expect(g.count == 1)
    #expect(g[0].scalars == [1, -20, 400])  // 2x · upstream
  }

  @Test func valueCarriesNoRecording() {
    let (value, _) = valueWithGradient(at: x) { ($0 * $0).sum() }
    #expect(value.node == nil)
    let (recorded, _) = recordTape(at: [x]) { $0[0] * 3 }
    #expect(recorded.node == nil)
  }

  @Test func longChainDifferentiatesIteratively() {
    let steps = 100_000
    let c = 1.000_000_1
    let (value, g) = valueWithGradient(at: Tensor<Double>(2)) { x in
      var y = x
      for _ in 0..<steps { y = y * c }
      return y
    }
    var expected = 1.0
    for _ in 0..<steps { expected *= c }
    expectClose(g.scalar, expected, tolerance: 1e-12)
    expectClose(value.scalar, 2 * expected, tolerance: 1e-12)
    expectClose(g.scalar, 1.010_050_17, tolerance: 1e-8)  // e^0.01
  }

  @Test func withoutDerivativeStopsGradients() {
    let g = gradient(at: x) { x in (x * x.withoutDerivative).sum() }
    #expect(g == x)  // not 2x
    let none = gradient(at: x) { x in exp(x.withoutDerivative).sum() }
    #expect(none == Tensor.zeros([3]))
  }

  @Test func withoutRecordingRecordsNothing() {
    let (value, tape) = recordTape(at: [x]) { inputs in
      withoutRecording { exp(inputs[0] * 2).sum() }
    }
    #expect(tape.count == 1)  // the input only
    expectClose(value.scalar, exp(x * 2).sum().scalar)

    let (_, mixed) = recordTape(at: [x]) { inputs in
      let a = inputs[0] * 2
      let b = withoutRecording { a * 3 }
      #expect(!b.isBeingDifferentiated)
      return (a + b).sum()
    }
    #expect(mixed.count == 4)  // input, multiply, add, sum
    let g = gradient(at: x) { x in
      let a = x * 2
      return (a + withoutRecording { a * 3 }).sum()
    }
    #expect(g.scalars == [2, 2, 2])
  }

  @Test func onlyValuesOnTheActiveTapeAreBeingDifferentiated() {
    #expect(!x.isBeingDifferentiated)
    _ = gradient(at: x) { t in
      #expect(t.isBeingDifferentiated)
      #expect((t * 2).isBeingDifferentiated)
      #expect(!x.isBeingDifferentiated)
      #expect(!t.withoutDerivative.isBeingDifferentiated)
      return t.sum()
    }
  }

  @Test func aWrittenElementStopsItsGradientAndTheOthersFlow() {
    let g = gradient(at: x) { x in
      var y = x * 3
      y[0] = 5
      return y.sum()
    }
    #expect(g == Tensor([0, 3, 3]))
  }

  @Test func recordingCountsOneEntryPerOperation() {
    let (_, tape) = recordTape(at: [x, x]) { t in (t[0] * t[1] + t[0]).sum() }
    #expect(tape.count == 5)
  }

  @Test func tapeDescriptionListsEntriesInOrder() {
    let (value, tape) = recordTape(at: [x, Tensor<Double>([1, 2, 3])]) { t in
      (t[0] * t[1] + t[0] * 2).sum()
    }
    #expect(value.scalar == 4.5 + 3)
    #expect(
      tape.description == """
        %0 = input [3]
        %1 = input [3]
        %2 = multiply(%0, %1) [3]
        %3 = multiply(%0, const[]) [3]
        %4 = add(%2, %3) [3]
        %5 = sum(%4) []
        """)
  }

  @Test func graphvizDrawsTheComputationalGraph() {
    let W = Tensor<Double>(shape: [2, 2], scalars: [0.1, 0.5, -0.3, 0.8])
    let (_, tape) = recordTape(at: [W, Tensor([0.2, 0.4])]) { t in
      let q = matmul(t[0], t[1])
      return (q * q).sum()
    }
    #expect(
      tape.description == """
        %0 = input [2, 2]
        %1 = input [2]
        %2 = reshape(%1) [2, 1]
        %3 = matmul(%0, %2) [2, 1]
        %4 = reshape(%3) [2]
        %5 = multiply(%4, %4) [2]
        %6 = sum(%5) []
        """)
    let dot = tape.graphviz
    #expect(dot.hasPrefix("digraph tape {\n"))
    #expect(dot.hasSuffix("\n}"))
    let lines = dot.split(separator: "\n").map { String($0.drop { $0 == " " }) }
    #expect(lines.contains(#"n0 [label="input\n[2, 2]", shape=ellipse];"#))
    #expect(lines.contains(#"n3 [label="matmul\n[2, 1]", shape=box];"#))
    #expect(lines.contains(#"n6 [label="sum\n[]", shape=box];"#))
    let edges = lines.filter { $0.contains("->") }
    #expect(
      edges == [
        "n1 -> n2;", "n0 -> n3;", "n2 -> n3;", "n3 -> n4;", "n4 -> n5;", "n4 -> n5;", "n5 -> n6;",
      ])
    #expect(lines.filter { $0.contains("[label=") }.count == 7)
  }

  @Test func graphvizEscapesOperationNames() {
    let (_, tape) = recordTape(at: [x]) { t in
      record(#"say "hi" \ bye"#, inputs: [t[0]], output: t[0].withoutDerivative) { g, _ in [g] }
    }
    #expect(tape.graphviz.contains(#"n1 [label="say \"hi\" \\ bye\n[3]", shape=box];"#))
    #expect(tape.description == #"%0 = input [3]"# + "\n" + #"%1 = say "hi" \ bye(%0) [3]"#)
  }
}

@Suite struct CustomOperationTests {
  /// softplus(x) = ln(1 + eˣ), with its derivative σ(x), in a few lines of
  /// the public API.
  /// The same as the "How the tape works" article: the pullback uses the
  /// recorded `x`, so softplus has a second derivative too.
  static func softplus(_ x: Tensor<Double>) -> Tensor<Double> {
    record("softplus", inputs: [x], output: log(1 + exp(x.withoutDerivative))) { upstream, _ in
      [upstream * sigmoid(x)]
    }
  }

  @Test func softplusValuesAndGradient() {
    let x = Tensor<Double>([-1, 0, 2])
    let (y, g) = valueWithGradient(at: x) { Self.softplus($0).sum() }
    expectClose(y.scalar, log(1 + exp(x)).sum().scalar, tolerance: 1e-15)
    expectClose(g, sigmoid(x), tolerance: 1e-15)
    #expect(g[1] == 0.5)
  }

  @Test func softplusPassesTheGradientCheck() {
    for shape in [[5], [2, 3, 2]] {
      let report = checkGradients(at: random(shape, seed: 1)) { Self.softplus($0 * 3) }
      expectPasses(report)
      #expect(report.maxRelativeError <= 1e-7)
    }
  }

  /// The article's example: both orders pass at its point.
  @Test func softplusPassesTheSecondOrderCheck() {
    let point = Tensor<Double>.randomUniform([5], lower: -3, upper: 3, seed: 1)
    #expect(checkGradients(at: point) { Self.softplus($0) }.passed)
    let second = checkGradients(at: point, order: 2) { Self.softplus($0) }
    #expect(second.passed)
    // σ′ = σ(1 − σ): the second derivative, elementwise.
    let hessianDiagonal = jacobian(at: point) { gradient(at: $0) { Self.softplus($0).sum() } }
    let s = sigmoid(point)
    for i in 0..<5 {
      #expect(Swift.abs(hessianDiagonal[i, i] - s[i] * (1 - s[i])) <= 1e-15)
    }
  }

  @Test func customOperationsRecordUnderTheirName() {
    let (_, tape) = recordTape(at: [Tensor<Double>([1, 2])]) { Self.softplus($0[0]).sum() }
    #expect(tape.description == "%0 = input [2]\n%1 = softplus(%0) [2]\n%2 = sum(%1) []")
  }

  @Test func unrecordedInputsOfACustomOperationGetNoGradient() {
    let weights = Tensor<Double>([2, 3])
    let g = gradient(at: Tensor<Double>([1, 1])) { x in
      record("weighted", inputs: [weights, x], output: (weights * x.withoutDerivative)) {
        upstream, needs in
        #expect(needs == [false, true])
        return [nil, upstream * weights]
      }.sum()
    }
    #expect(g.scalars == [2, 3])
  }
}

@Suite struct TapeMemoryTests {
  @Test func tenThousandGradientsReleaseTheirTapes() {
    var markers: [Weak<Marker>] = []
    markers.reserveCapacity(10_000)
    let x = Tensor<Double>([1, 2, 3])
    for i in 0..<10_000 {
      let used = Marker()
      let unused = Marker()
      markers.append(Weak(used))
      markers.append(Weak(unused))
      let g = gradient(at: x) { x in
        // The unused branch's pullback never runs, so only releasing the
        // whole tape releases it.
        _ = doubled(x, keeping: unused)
        return (doubled(x, keeping: used) * Double(i)).sum()
      }
      if i == 9_999 { #expect(g.scalars == [19_998, 19_998, 19_998]) }
    }
    #expect(markers.allSatisfy { $0.object == nil })
  }

  @Test func pullbackKeepsTheTapeUntilReleased() {
    let marker = Weak<Marker>(nil)
    var pullback: ((Tensor<Double>) -> [Tensor<Double>])?
    do {
      let strong = Marker()
      marker.object = strong
      pullback =
        valueWithPullback(at: [Tensor<Double>([1, 2])]) { t in
          doubled(t[0], keeping: strong)
        }.pullback
    }
    #expect(marker.object != nil)
    #expect(pullback?(Tensor([1, 1]))[0].scalars == [2, 2])
    pullback = nil
    #expect(marker.object == nil)
  }

  @Test func recordedTapeIsReleasedWithItsLastReference() {
    let marker = Weak<Marker>(nil)
    weak var weakTape: Tape<Double>?
    do {
      let strong = Marker()
      marker.object = strong
      let (_, tape) = recordTape(at: [Tensor<Double>([1])]) { doubled($0[0], keeping: strong) }
      weakTape = tape
      #expect(tape.count == 2)
    }
    #expect(weakTape == nil)
    #expect(marker.object == nil)
  }
}

/// A weak reference that can be stored in an array.
final class Weak<Object: AnyObject> {
  weak var object: Object?
  init(_ object: Object?) { self.object = object }
}
