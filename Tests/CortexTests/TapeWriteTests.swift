import Foundation
import Testing

@testable import CortexCore
@testable import CortexNN

/// Writes inside a differentiation are recorded, or stop with a message:
/// never a silent zero.
@Suite struct TapeWriteTests {
  @Test func anElementWriteKeepsTheOtherElementsOnTheTape() {
    let g = gradient(at: Tensor<Double>([1, 2, 3])) { x in
      var y = x * 2
      y[0] = 0
      return y.sum()
    }
    #expect(g == Tensor([0, 2, 2]))
  }

  @Test func anElementWriteOfARank2TensorStopsOnlyThatElement() {
    let x = random([2, 3], seed: 3)
    let g = gradient(at: x) { x in
      var y = x * x
      y[1, 2] = 5
      return y.sum()
    }
    var expected = 2 * x
    expected[1, 2] = 0
    expectClose(g, expected, tolerance: 0)
  }

  @Test func writesOutsideADifferentiationAreInPlace() {
    var y = Tensor<Double>([1, 2, 3])
    y[1] = 7
    y[alongAxis: 0, 2..<3] = Tensor([9])
    #expect(y == Tensor([1, 7, 9]))
    y.withUnsafeMutableBufferPointer { $0[0] = -1 }
    #expect(y == Tensor([-1, 7, 9]))
  }

  @Test func aSliceWriteIsDifferentiableInTheTargetAndTheWrittenTensor() {
    let x = random([3, 5], seed: 4)
    let v = random([3, 2], seed: 5)
    let (dx, dv) = gradient(at: x, v) { x, v in
      var y = x * 3
      y[alongAxis: 1, 1..<3] = v * v
      return (y * Tensor(shape: [3, 5], generating: { Double($0) })).sum()
    }
    let weights = Tensor<Double>(shape: [3, 5], generating: { Double($0) })
    var expectedX = 3 * weights
    for row in 0..<3 {
      expectedX[row, 1] = 0
      expectedX[row, 2] = 0
    }
    expectClose(dx, expectedX, tolerance: 0)
    expectClose(dv, 2 * v * weights.sliced(alongAxis: 1, range: 1..<3), tolerance: 1e-15)
  }

  @Test(arguments: [
    ("range on axis 1", 1, Array(1..<3)),
    ("stride on axis 0", 0, Array(stride(from: 0, to: 4, by: 2))),
    ("reversed stride on axis 2", 2, Array(stride(from: 4, through: 0, by: -2))),
  ])
  func sliceWritesPassBothGradientChecks(_ name: String, axis: Int, positions: [Int]) {
    let x = random([4, 3, 5], seed: 6)
    var sliceShape = x.shape
    sliceShape[axis] = positions.count
    let v = random(sliceShape, seed: 7)
    let f: ([Tensor<Double>]) -> Tensor<Double> = { t in
      var y = t[0] * t[0]
      y = y.replacing(sin(t[1]), atIndices: positions, alongAxis: axis)
      return y * t[0]
    }
    expectPasses(checkGradients(at: [x, v], of: f))
    expectPasses(checkGradients(at: [x, v], order: 2, of: f))
  }

  @Test func strideSubscriptsReadAndWriteTheSamePositions() {
    let x = Tensor<Double>(shape: [6], generating: { Double($0) })
    var y = x
    y[alongAxis: 0, stride(from: 0, to: 6, by: 2)] = Tensor(repeating: -1, shape: [3])
    #expect(y == Tensor([-1, 1, -1, 3, -1, 5]))
    y[alongAxis: 0, stride(from: 5, through: 1, by: -2)] = Tensor([10, 30, 50])
    #expect(y == Tensor([-1, 50, -1, 30, -1, 10]))
    #expect(y[alongAxis: 0, stride(from: 5, through: 1, by: -2)] == Tensor([10, 30, 50]))
  }

  @Test func aWrittenScalarBroadcastsOverTheSlice() {
    let g = gradient(at: Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])) { x in
      var y = x * 1
      y[alongAxis: 1, 0..<2] = Tensor(0)
      return y.sum()
    }
    #expect(g == Tensor(shape: [2, 3], scalars: [0, 0, 1, 0, 0, 1]))
  }

  @Test func anEarlierReadKeepsTheValueItSaw() {
    // z uses y before the write: its gradient is y's, untouched by it.
    let g = gradient(at: Tensor<Double>([1, 2, 3])) { x in
      var y = x * 2
      let z = (y * y).sum()
      y[2] = 0
      return z + y.sum()
    }
    #expect(g == Tensor([8 + 2, 16 + 2, 24]))
  }

  @Test func aPointerWriteOnARecordedTensorStopsWithTheAlternative() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = gradient(at: Tensor<Double>([1, 2])) { x in
        var y = x * 2
        y.withUnsafeMutableBufferPointer { $0[0] = 0 }
        return y.sum()
      }
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains(
        "withUnsafeMutableBufferPointer: the tensor of shape [2] is being differentiated"))
    #expect(message.contains("withoutDerivative"))
  }

  @Test func settingAParameterWhileRecordingStopsWithTheAlternative() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      let layer = try! Dense<Double>(inputSize: 2, outputSize: 1)
      _ = gradient(at: Tensor<Double>(shape: [1, 2], scalars: [1, 2])) { w in
        layer.weight.value = w
        return layer(Tensor(shape: [1, 2], scalars: [1, 1])).sum()
      }
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(
      message.contains(
        "Parameter.value: a parameter of shape [1, 2] was set while a gradient is being recorded"))
    #expect(message.contains("model(x, parameters: weights)"))
  }

  @Test func aParameterCanBeSetOutsideTheTape() throws {
    let layer = try Dense<Double>(inputSize: 2, outputSize: 1)
    let g = gradient(at: Tensor<Double>([1, 1])) { x in
      withoutRecording { layer.weight.value = Tensor(shape: [1, 2], scalars: [3, 4]) }
      return layer(x.reshaped(to: [1, 2])).sum()
    }
    #expect(g == Tensor([3, 4]))
  }
}
