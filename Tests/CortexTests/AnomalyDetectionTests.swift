import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Anomaly mode: off by default; inside `withAnomalyDetection` the first
/// operation whose output or pullback gradient is not finite is thrown.
@Suite struct AnomalyDetectionTests {
  struct Marker: Error {}

  @Test func offByDefault() {
    #expect(AnomalyMonitor.active == nil)
    let y = log(Tensor<Double>([1, 0]))
    #expect(y.scalars == [0, -.infinity])
    let g = gradient(at: Tensor<Double>([0, 4])) { sqrt($0).sum() }
    #expect(g.scalars == [.infinity, 0.25])
  }

  @Test func forwardInfinityNamesTheOperation() {
    #expect {
      try withAnomalyDetection { log(Tensor<Double>([1, 0, 2])) * 2 }
    } throws: { error in
      let anomaly = error as? AnomalyError
      return anomaly?.description
        == "log produced -inf in forward (output of shape [3], element [1])"
        && anomaly?.phase == .forward
    }
  }

  @Test func forwardNaNInAGradientComputation() {
    #expect {
      try withAnomalyDetection {
        gradient(at: Tensor<Float>(shape: [2, 2], scalars: [1, 2, -3, 4])) { x in
          (sqrt(x) + x).sum()
        }
      }
    } throws: { error in
      (error as? AnomalyError)?.description
        == "sqrt produced NaN in forward (output of shape [2, 2], element [1, 0])"
    }
  }

  @Test func pullbackInfinityNamesTheOperationAndInput() {
    #expect {
      try withAnomalyDetection { gradient(at: Tensor<Double>([0, 4])) { sqrt($0).sum() } }
    } throws: { error in
      let anomaly = error as? AnomalyError
      return anomaly?.description
        == "sqrt's pullback produced inf for input 0 (gradient of shape [2], element [0])"
        && anomaly?.phase == .backward(input: 0)
    }
  }

  @Test func pullbackNaN() {
    // sqrt(0)·0: the forward pass is finite; the pullback of sqrt gets a
    // zero gradient and divides it by 2·sqrt(0) = 0.
    #expect {
      try withAnomalyDetection {
        gradient(at: Tensor<Double>([0, 1]), Tensor<Double>([0, 1])) { x, y in
          (sqrt(x) * y).sum()
        }
      }
    } throws: { error in
      (error as? AnomalyError)?.description
        == "sqrt's pullback produced NaN for input 0 (gradient of shape [2], element [0])"
    }
  }

  @Test func secondInputOfABinaryPullback() {
    // d(x / y)/dy = −x / y² overflows at y = 1e-200 while x / y = 1e200
    // is finite.
    #expect {
      try withAnomalyDetection {
        gradient(at: Tensor<Double>([1, 2]), Tensor<Double>([1e-200, 1])) { x, y in
          (x / y).sum()
        }
      }
    } throws: { error in
      (error as? AnomalyError)?.phase == .backward(input: 1)
        && (error as? AnomalyError)?.operation == "divide"
    }
  }

  @Test func finiteComputationsReturnTheirValue() throws {
    let x = Tensor<Double>([0.5, 2])
    let (value, g) = try withAnomalyDetection {
      valueWithGradient(at: x) { (log($0) * $0).sum() }
    }
    #expect(Swift.abs(value.scalar - 1.5 * Foundation.log(2.0)) < 1e-12)
    #expect(g == gradient(at: x) { (log($0) * $0).sum() })
  }

  @Test func errorsOfTheBodyAreRethrown() {
    #expect(throws: Marker.self) {
      try withAnomalyDetection { () throws -> Int in throw Marker() }
    }
  }

  @Test func theScopeEnds() throws {
    _ = try? withAnomalyDetection { log(Tensor<Double>([0])) }
    #expect(AnomalyMonitor.active == nil)
    let inner = try withAnomalyDetection { exp(Tensor<Double>([1])) }
    #expect(inner.scalars == [Foundation.exp(1.0)])
  }

  @Test func otherThreadsAreNotWatched() throws {
    try withAnomalyDetection {
      let done = DispatchSemaphore(value: 0)
      let thread = Thread {
        _ = log(Tensor<Double>([0]))
        done.signal()
      }
      thread.start()
      done.wait()
    }
  }
}
