import CortexKernels
import Foundation
import Synchronization
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Serializes the tests that change ``ComputeSettings/threadCount``.
private let threadCountLock = Mutex(())

/// Runs `body` with the thread count set to `count`, then restores it.
func withThreadCount<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
  try threadCountLock.withLock { _ in
    let saved = ComputeSettings.threadCount
    ComputeSettings.threadCount = count
    defer { ComputeSettings.threadCount = saved }
    return try body()
  }
}

@Suite struct WorkerPoolTests {
  /// Runs a parallel loop that counts how often each index is visited and
  /// stores `f(index)`; returns the counts and the values.
  func visit(_ count: Int, _ f: (Int) -> Double) -> (visits: [Int], values: [Double]) {
    var visits = [Int](repeating: 0, count: count)
    var values = [Double](repeating: 0, count: count)
    visits.withUnsafeMutableBufferPointer { visits in
      values.withUnsafeMutableBufferPointer { values in
        WorkerPool.shared.parallelFor(count) { index in
          visits[index] += 1
          values[index] = f(index)
        }
      }
    }
    return (visits, values)
  }

  @Test(arguments: [0, 1, 2, 3, 17, 1000])
  func everyIndexRunsOnce(count: Int) {
    let f = { (index: Int) in Foundation.sin(Double(index)) * Double(index) }
    let result = visit(count, f)
    #expect(result.visits == [Int](repeating: 1, count: count))
    #expect(result.values == (0..<count).map(f))
  }

  @Test func manyShortCallsComplete() {
    let total = Atomic<Int>(0)
    // A pool of its own, which tests running alongside cannot keep busy.
    let pool = WorkerPool()
    withThreadCount(2) {
      for _ in 0..<100_000 {
        pool.parallelFor(4) { index in total.add(index + 1, ordering: .relaxed) }
      }
    }
    #expect(total.load(ordering: .relaxed) == 1_000_000)
  }

  /// The workers take part: the two chunks of one call each wait for the
  /// other, which only two threads can both get past. (However busy the
  /// machine, a worker is scheduled well within the wait; a pool that ran
  /// both chunks on the caller would time out instead of hanging.)
  @Test func theWorkersTakePart() {
    let arrived = Atomic<Int>(0)
    let metTheOther = Atomic<Int>(0)
    let pool = WorkerPool()
    withThreadCount(2) {
      pool.parallelFor(2) { _ in
        arrived.add(1, ordering: .sequentiallyConsistent)
        let deadline = Date().addingTimeInterval(60)
        while arrived.load(ordering: .sequentiallyConsistent) < 2 && Date() < deadline {
          usleep(100)
        }
        if arrived.load(ordering: .sequentiallyConsistent) == 2 {
          metTheOther.add(1, ordering: .relaxed)
        }
      }
    }
    #expect(metTheOther.load(ordering: .relaxed) == 2)
  }

  @Test func nestedCallsRunSerially() {
    let result = visit(64) { outer in
      let inner = visit(8) { Double($0) }
      return Double(outer) + inner.values.reduce(0, +)
    }
    #expect(result.visits == [Int](repeating: 1, count: 64))
    #expect(result.values == (0..<64).map { Double($0) + 28 })
  }

  @Test func oneThreadRunsOnTheCallingThread() {
    let caller = pthread_self()
    withThreadCount(1) {
      let onCaller = Atomic<Int>(0)
      WorkerPool.shared.parallelFor(100) { _ in
        if pthread_equal(pthread_self(), caller) != 0 {
          onCaller.add(1, ordering: .relaxed)
        }
      }
      #expect(onCaller.load(ordering: .relaxed) == 100)
      #expect(visit(100) { Double($0) }.values == (0..<100).map { Double($0) })
    }
  }

  @Test func callsFromSeveralThreadsAtOnce() async {
    await withTaskGroup(of: Bool.self) { group in
      for task in 0..<4 {
        group.addTask {
          (0..<200).allSatisfy { round in
            let result = visit(50) { Double($0 * task + round) }
            return result.values == (0..<50).map { Double($0 * task + round) }
          }
        }
      }
      for await passed in group { #expect(passed) }
    }
  }
}
