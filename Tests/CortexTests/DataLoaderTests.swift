import Foundation
import Testing

@testable import CortexCLI
@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// The data loader: batches of several tensors in step, seeded shuffling,
/// drop-last, a per-example transform, a sampler's shares, and the same
/// batches with and without prefetching.
@Suite struct DataLoaderTests {
  /// Ten examples: features `[10, 3]` whose row `i` holds `i`, `i + 0.25`,
  /// `i + 0.5`, and integer targets `[10, 2]` holding `i` and `-i`.
  let features = Tensor<Float>(
    shape: [10, 3], scalars: (0..<10).flatMap { [Float($0), Float($0) + 0.25, Float($0) + 0.5] })
  let targets = IndexTensor(shape: [10, 2], scalars: (0..<10).flatMap { [$0, -$0] })

  /// Whether every row of a batch is the example its index names.
  func rowsMatch(_ batch: DataLoader.Batch) -> Bool {
    let (rows, integers) = (batch.tensors[0].scalars, batch.indexTensors[0].scalars)
    return batch.indices.enumerated().allSatisfy { row, index in
      rows[3 * row..<3 * row + 3].elementsEqual([0, 0.25, 0.5].map { Float(index) + $0 })
        && integers[2 * row] == index && integers[2 * row + 1] == -index
    }
  }

  @Test func batchesKeepTheirTensorsInStep() {
    let loader = DataLoader(tensors: [features], indexTensors: [targets], batchSize: 4)
    let batches = Array(loader)
    #expect(loader.count == 3)
    #expect(batches.map(\.indices) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
    #expect(batches.map { $0.tensors[0].shape } == [[4, 3], [4, 3], [2, 3]])
    #expect(batches.map { $0.indexTensors[0].shape } == [[4, 2], [4, 2], [2, 2]])
    #expect(batches.allSatisfy(rowsMatch))
    let dropped = DataLoader(tensors: [features], batchSize: 4, dropLast: true)
    #expect(Array(dropped).map(\.indices) == [[0, 1, 2, 3], [4, 5, 6, 7]])
  }

  @Test func shufflingIsSeededAndPrefetchingChangesNothing() {
    let shuffled = DataLoader(
      tensors: [features], indexTensors: [targets], batchSize: 3, shuffleSeed: 7)
    let order = Array(shuffled).flatMap(\.indices)
    #expect(order == Dataset.permutation(count: 10, seed: 7))
    #expect(Array(shuffled).flatMap(\.indices) == order)
    let direct = DataLoader(
      tensors: [features], indexTensors: [targets], batchSize: 3, shuffleSeed: 7, prefetch: false)
    for (a, b) in zip(shuffled, direct) {
      #expect(a.indices == b.indices)
      #expect(a.tensors[0] == b.tensors[0])
      #expect(a.indexTensors[0] == b.indexTensors[0])
    }
    #expect(Array(shuffled).allSatisfy(rowsMatch))
  }

  /// The transform sees each example's rows and index; its result is
  /// stacked.
  @Test func aPerExampleTransformRunsOnEachExample() {
    let loader = DataLoader(tensors: [features], batchSize: 4, shuffleSeed: 1) { index, rows in
      [rows[0] * 0 + Float(index)]
    }
    for batch in loader {
      #expect(batch.tensors[0].shape == [batch.count, 3])
      #expect(
        batch.tensors[0].scalars == batch.indices.flatMap { Array(repeating: Float($0), count: 3) })
    }
  }

  /// Two processes' loaders over a sampler's shares see every example of
  /// each batch once between them.
  @Test func aDistributedSamplersSharesCompose() {
    let loaders = (0..<2).map {
      DataLoader(
        tensors: [features], indexTensors: [targets],
        sampler: DistributedSampler(count: 10, batchSize: 4, rank: $0, size: 2), seed: 3)
    }
    let (first, second) = (Array(loaders[0]), Array(loaders[1]))
    #expect(first.count == 3 && second.count == 3)
    let batches = DataLoader(tensors: [features], batchSize: 4, shuffleSeed: 3).batchIndices
    #expect(zip(first, second).map { $0.indices + $1.indices } == batches)
    #expect((first + second).allSatisfy(rowsMatch))
  }

  /// The training run batches through the loader, and a short run of the
  /// default recipe writes the same checkpoint bits run after run: the
  /// CRC-32 of its tensors' bytes, in the order of their names. (The
  /// figure was set when the loader came, which kept the earlier
  /// batching's, and set again when the single-precision softmax
  /// cross-entropy moved to the vector `exp`. The kernels with fused
  /// multiply-add give the same bits on every CPU; the baseline kernels
  /// round differently, so the figure holds for them only.)
  @Test func theTrainingRunKeepsItsCheckpointBits() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "cortex-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    #expect(
      try TrainCommand().run([
        "--limit", "192", "--batch-size", "32", "--epochs", "1", "--seed", "5", "--threads", "2",
        "--out", folder.path,
      ]) == 0)
    let tensors = try Checkpoint.load(from: folder.appendingPathComponent("checkpoint.safetensors"))
    var crc: UInt32 = 0
    for name in tensors.keys.sorted() {
      let bytes = tensors[name]!.scalars.map { $0.bitPattern.littleEndian }.withUnsafeBytes {
        Array($0)
      }
      crc = Zlib.crc32(bytes, continuing: crc)
    }
    #expect(tensors.count == 21)
    if ComputeSettings.instructionSet != .baseline {
      #expect(crc == 0xFCF3_F4C4)
    }
  }
}
