import Foundation
import Synchronization

/// A set of worker threads, started once and kept for the life of the
/// process, that run the iterations of parallel loops.
///
/// A loop is handed out one iteration at a time: the calling thread and the
/// workers take the next index from a shared counter until none is left, so
/// a thread that gets less of the processor simply does fewer iterations.
/// Workers join a loop through a limited number of open slots; once the
/// calling thread has run out of iterations it closes the slots, so it never
/// waits for a worker that had not started, only for those still running.
/// Idle workers spin briefly, then sleep on a condition variable.
public final class WorkerPool: @unchecked Sendable {
  /// The pool the kernels share.
  public static let shared = WorkerPool()

  private static let storedThreadCount = Atomic<Int>(
    max(1, ProcessInfo.processInfo.activeProcessorCount))

  /// The number of threads a parallel loop uses, the calling thread
  /// included. Defaults to the number of active processors; `1` runs every
  /// loop on the calling thread alone.
  ///
  /// - Precondition: the new value is at least 1.
  public static var threadCount: Int {
    get { storedThreadCount.load(ordering: .relaxed) }
    set {
      precondition(newValue >= 1, "ComputeSettings.threadCount must be at least 1, got \(newValue)")
      storedThreadCount.store(newValue, ordering: .relaxed)
    }
  }

  /// How long a waiting thread polls before it sleeps: long enough to
  /// catch the next loop of a kernel that runs several back to back.
  private static let spinNanoseconds: UInt64 = 300_000

  /// Wakes sleeping workers; guards `workerCount`.
  private let wakeCondition = NSCondition()
  /// Wakes the calling thread when the last worker leaves a loop.
  private let doneCondition = NSCondition()
  private var workerCount = 0

  // The current loop, written by the calling thread before it opens the
  // slots and read by the workers after they take one.
  private var body: ((Int) -> Void)?
  private var iterationCount = 0

  /// Counts the loops published so far; workers wait for it to change.
  private let generation = Atomic<Int>(0)
  /// The next iteration to hand out.
  private let nextIteration = Atomic<Int>(0)
  /// The open slots (high 32 bits) and the workers inside the loop (low
  /// 32 bits), changed together so that a worker can't join a closed loop.
  private let slotsAndRunning = Atomic<Int>(0)
  /// Set while a loop runs; a second caller meanwhile runs its loop
  /// serially.
  private let busy = Atomic<Bool>(false)

  private static let slot = 1 << 32

  /// A pool of its own; the kernels use ``shared``.
  public init() {}

  /// Runs `body(i)` for every `i` in `0..<count` and returns once all have
  /// finished. Iterations run concurrently on up to
  /// ``threadCount`` threads, the calling thread included,
  /// so `body` must be safe to call from several threads at once for
  /// different indices.
  ///
  /// A call made while the pool is busy, in particular from inside `body`,
  /// runs its iterations serially on the calling thread instead of waiting.
  public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    let threads = min(Self.threadCount, count)
    guard threads > 1,
      busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    else {
      for index in 0..<count { body(index) }
      return
    }
    withoutActuallyEscaping(body) { body in
      self.body = body
      iterationCount = count
      nextIteration.store(0, ordering: .relaxed)
      slotsAndRunning.store((threads - 1) * Self.slot, ordering: .releasing)
      wakeWorkers(threads - 1)
      runIterations(body, count: count)
      let state = slotsAndRunning.bitwiseAnd(Self.slot - 1, ordering: .acquiringAndReleasing)
      if state.newValue != 0 { waitForWorkers() }
      self.body = nil
    }
    busy.store(false, ordering: .releasing)
  }

  private func wakeWorkers(_ needed: Int) {
    wakeCondition.lock()
    while workerCount < needed {
      startWorker(number: workerCount + 1, seenGeneration: generation.load(ordering: .relaxed))
      workerCount += 1
    }
    generation.add(1, ordering: .releasing)
    wakeCondition.broadcast()
    wakeCondition.unlock()
  }

  private func startWorker(number: Int, seenGeneration: Int) {
    let thread = Thread { [self] in
      var seen = seenGeneration
      while true {
        seen = waitForLoop(after: seen)
        if takeSlot() {
          runShare()
          leaveLoop()
        }
      }
    }
    thread.name = "Cortex worker \(number)"
    thread.start()
  }

  /// Waits until a loop newer than `seen` is published; returns its
  /// generation.
  private func waitForLoop(after seen: Int) -> Int {
    _ = spin { generation.load(ordering: .acquiring) != seen }
    wakeCondition.lock()
    while generation.load(ordering: .relaxed) == seen {
      wakeCondition.wait()
    }
    wakeCondition.unlock()
    return generation.load(ordering: .acquiring)
  }

  /// Joins the current loop if one of its slots is still open.
  private func takeSlot() -> Bool {
    var state = slotsAndRunning.load(ordering: .relaxed)
    while state >= Self.slot {
      let (exchanged, original) = slotsAndRunning.compareExchange(
        expected: state, desired: state - Self.slot + 1, ordering: .acquiringAndReleasing)
      if exchanged { return true }
      state = original
    }
    return false
  }

  /// Runs iterations of the current loop. The loop's closure is released
  /// when this returns, before the worker leaves the loop.
  private func runShare() {
    if let body { runIterations(body, count: iterationCount) }
  }

  private func leaveLoop() {
    if slotsAndRunning.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
      doneCondition.lock()
      doneCondition.signal()
      doneCondition.unlock()
    }
  }

  private func runIterations(_ body: (Int) -> Void, count: Int) {
    while true {
      let index = nextIteration.wrappingAdd(1, ordering: .relaxed).oldValue
      if index >= count { return }
      body(index)
    }
  }

  /// Waits until the workers that joined the loop have left it.
  private func waitForWorkers() {
    if spin({ slotsAndRunning.load(ordering: .acquiring) == 0 }) { return }
    doneCondition.lock()
    while slotsAndRunning.load(ordering: .acquiring) != 0 {
      doneCondition.wait()
    }
    doneCondition.unlock()
  }

  /// Polls `done` for up to ``spinNanoseconds``; returns whether it became
  /// true.
  @inline(__always)
  private func spin(_ done: () -> Bool) -> Bool {
    let start = DispatchTime.now().uptimeNanoseconds
    var polls = 0
    while !done() {
      polls += 1
      if polls % 64 == 0 && DispatchTime.now().uptimeNanoseconds - start > Self.spinNanoseconds {
        return false
      }
    }
    return true
  }
}

/// Runs `body` on contiguous chunks of `0..<count`, one chunk per thread
/// of the shared pool; on the whole range at once when `count · costPerItem`
/// (roughly, multiply–adds) is too small to pay for the threads. `body`
/// receives the chunk's index (below `chunks`) and its range.
@inlinable
public func forEachChunk(
  of count: Int, costPerItem: Int, chunks: Int = WorkerPool.threadCount,
  _ body: (_ chunk: Int, _ range: Range<Int>) -> Void
) {
  let workers = count * costPerItem < 1 << 16 ? 1 : max(1, min(chunks, count))
  if workers == 1 {
    body(0, 0..<count)
    return
  }
  // The chunks touch disjoint parts of the buffers `body` works on.
  WorkerPool.shared.parallelFor(workers) { chunk in
    body(chunk, (chunk * count / workers)..<((chunk + 1) * count / workers))
  }
}
