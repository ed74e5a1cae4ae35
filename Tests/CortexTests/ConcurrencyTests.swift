import Dispatch
import Synchronization
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Each thread or task records on its own tape: gradients computed at the
/// same time are the ones computed one after the other.
@Suite struct ConcurrencyTests {
  static let W = random([4, 3], seed: 1)
  static let inputs = (0..<8).map { random([3], seed: 10 + UInt64($0)) }

  /// A different function for each job, with a long enough tape for the
  /// jobs to overlap.
  static func job(_ k: Int) -> (value: Double, gradient: [Tensor<Double>]) {
    let (value, gradient) = valueWithGradient(at: [W, inputs[k]]) { t in
      var h = t[1]
      for _ in 0...k { h = tanh(matmul(t[0], h)).sum() * h * 0.5 + h }
      return k.isMultiple(of: 2) ? (h * h).sum() : h.max()
    }
    return (value.scalar, gradient)
  }

  static let sequential = (0..<8).map(job)

  @Test func threadsComputeIndependentGradients() {
    let failures = Atomic<Int>(0)
    for round in 0..<50 {
      DispatchQueue.concurrentPerform(iterations: 2) { thread in
        let k = (2 * round + thread) % 8
        let (value, gradient) = Self.job(k)
        if value != Self.sequential[k].value || gradient != Self.sequential[k].gradient {
          failures.add(1, ordering: .relaxed)
        }
      }
    }
    #expect(failures.load(ordering: .relaxed) == 0)
  }

  @Test func tasksComputeIndependentGradients() async {
    for _ in 0..<20 {
      let results = await withTaskGroup(of: (Int, Double, [Tensor<Double>]).self) { group in
        for k in 0..<8 {
          group.addTask {
            let (value, gradient) = Self.job(k)
            return (k, value, gradient)
          }
        }
        return await group.reduce(into: []) { $0.append($1) }
      }
      #expect(results.count == 8)
      for (k, value, gradient) in results {
        #expect(value == Self.sequential[k].value)
        #expect(gradient == Self.sequential[k].gradient)
      }
    }
  }

  @Test func sequentialResultsAreDistinct() {
    // The jobs compute different functions, so a mix-up would show.
    let values = Self.sequential.map(\.value)
    #expect(Set(values).count == 8)
    #expect(Self.sequential.allSatisfy { $0.gradient[0].shape == [4, 3] })
    #expect(Self.sequential.allSatisfy { $0.gradient[1].shape == [3] })
  }
}

/// A small convolutional network differentiated on two threads at once
/// gives the gradients it gives on one.
@Suite struct ConvolutionalConcurrencyTests {
  static let parameters = [
    Tensor<Double>.randomUniform([4, 2, 3, 3], lower: -0.5, upper: 0.5, seed: 1),
    Tensor<Double>.randomUniform([4], lower: -0.1, upper: 0.1, seed: 2),
    Tensor<Double>.randomUniform([3, 4 * 3 * 3], lower: -0.3, upper: 0.3, seed: 3),
    Tensor<Double>.randomUniform([3], lower: -0.1, upper: 0.1, seed: 4),
  ]
  static let batches = (0..<4).map { k in
    Tensor<Double>.randomUniform([3, 2, 6, 6], lower: -1, upper: 1, seed: 100 + UInt64(k))
  }
  static let labels = [[0, 1, 2], [2, 2, 0], [1, 0, 1], [0, 0, 2]]

  /// conv 3×3 pad 1 → tanh → max pool 2×2 → flatten → linear → softmax loss.
  static func job(_ k: Int) -> [Tensor<Double>] {
    gradient(at: parameters + [batches[k]]) { t in
      let features = maxPool2d(
        tanh(conv2d(t[4], filters: t[0], bias: t[1], padding: 1)), size: 2, stride: 2)
      let scores = linear(features.flattened(fromAxis: 1), weight: t[2], bias: t[3])
      return softmaxCrossEntropy(logits: scores, labels: labels[k])
    }
  }

  static let sequential = (0..<4).map(job)

  @Test func twoThreadsGiveTheSequentialGradients() {
    let failures = Atomic<Int>(0)
    for round in 0..<25 {
      DispatchQueue.concurrentPerform(iterations: 2) { thread in
        let k = (2 * round + thread) % 4
        if Self.job(k) != Self.sequential[k] { failures.add(1, ordering: .relaxed) }
      }
    }
    #expect(failures.load(ordering: .relaxed) == 0)
    // The jobs differ, so a mix-up between threads would show.
    #expect(Set(Self.sequential.map { $0[0].scalars }).count == 4)
  }
}
