import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// A process killed while it saves a checkpoint leaves the file at that
/// path whole: the one before, or the new one, never a mixture.
@Suite struct CheckpointKillTests {
  typealias Support = DataTestSupport

  /// A checkpoint of about 12 MB, so that writing it takes a while; the
  /// large tensor is a constant fill, which is quick to make even in a
  /// sanitizer build.
  static func large(seed: UInt64) -> [String: Tensor<Float>] {
    [
      "conv.weight": Tensor.randomNormal([64, 3, 5, 5], seed: seed),
      "fc.weight": Tensor(repeating: Float(seed) + 0.5, shape: [2000, 1500]),
      "fc.bias": Tensor.randomNormal([2000], seed: seed + 2),
    ]
  }

  @Test func killedWhileSavingLeavesAWholeCheckpoint() async throws {
    let directory = try Support.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("model.safetensors")
    let previous = Self.large(seed: 1)
    let next = Self.large(seed: 100)
    try Checkpoint.save(previous, to: url)

    // One save (encode, write, flush, rename) takes tens of milliseconds
    // here: the kills land at different points of the loop, and about half
    // of them inside a write (they leave a temporary file).
    for delay in [2, 20, 45, 70] {
      await #expect(processExitsWith: .signal(SIGKILL)) {
        [path = url.path as String, delay = delay as Int] in
        // A thread kills the process a few milliseconds in, while the
        // main thread saves the same new checkpoint over and over.
        let tensors = CheckpointKillTests.large(seed: 100)
        let killer = Thread {
          usleep(UInt32(1000 * delay + Int.random(in: 0..<20_000)))
          kill(getpid(), SIGKILL)
        }
        killer.start()
        while true {
          try Checkpoint.save(tensors, to: URL(fileURLWithPath: path))
        }
      }
      let loaded = try Checkpoint.load(from: url)
      #expect(loaded == previous || loaded == next)
    }
    // A kill during a write leaves its temporary file behind; it does not
    // get in the way of the next save.
    let third = ["w": Tensor<Float>([1, 2, 3])]
    try Checkpoint.save(third, to: url)
    #expect(try Checkpoint.load(from: url) == third)
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path)
      .filter { $0 != "model.safetensors" }
    #expect(leftovers.allSatisfy { $0.hasPrefix(".model.safetensors.") && $0.hasSuffix(".tmp") })
  }
}
