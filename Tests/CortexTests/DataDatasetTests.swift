import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

@Suite struct DataDatasetTests {
  /// Ten examples `[10, 1, 1, 2]`; example `i` holds pixels `i` and `i + 0.5`
  /// and has label `i`, so a row and its label can be matched.
  let dataset = Dataset(
    images: Tensor(
      shape: [10, 1, 1, 2], scalars: (0..<10).flatMap { [Float($0), Float($0) + 0.5] }),
    labels: Array(0..<10))

  func rowsMatchLabels(_ dataset: Dataset) -> Bool {
    let scalars = dataset.images.scalars
    return dataset.labels.enumerated().allSatisfy { row, label in
      scalars[2 * row] == Float(label) && scalars[2 * row + 1] == Float(label) + 0.5
    }
  }

  @Test func shuffledIsASeededPermutation() {
    let once = dataset.shuffled(seed: 42)
    #expect(once == dataset.shuffled(seed: 42))
    #expect(once.labels != dataset.labels)
    #expect(once.labels.sorted() == dataset.labels)
    #expect(once.labels != dataset.shuffled(seed: 43).labels)
    #expect(rowsMatchLabels(once))
    #expect(once.images.shape == dataset.images.shape)
  }

  @Test func permutationIsStableAcrossRuns() {
    // Fisher–Yates over SeededGenerator(seed: 7): fixed for all platforms.
    #expect(Dataset.permutation(count: 10, seed: 7) == Dataset.permutation(count: 10, seed: 7))
    #expect(Dataset.permutation(count: 0, seed: 7) == [])
    #expect(Dataset.permutation(count: 1, seed: 7) == [0])
  }

  @Test func batchesKeepOrDropThePartialBatch() {
    let kept = Array(dataset.batches(size: 4))
    #expect(dataset.batches(size: 4).count == 3)
    #expect(kept.map(\.labels) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
    #expect(kept.map(\.images.shape) == [[4, 1, 1, 2], [4, 1, 1, 2], [2, 1, 1, 2]])
    #expect(kept.allSatisfy(rowsMatchLabels))
    let dropped = Array(dataset.batches(size: 4, dropLast: true))
    #expect(dropped.map(\.labels) == [[0, 1, 2, 3], [4, 5, 6, 7]])
    #expect(dataset.batches(size: 5, dropLast: true).count == 2)
    #expect(Array(dataset.batches(size: 20, dropLast: true)).isEmpty)
  }

  @Test func seededBatchesVisitEveryExampleOnce() {
    let epoch1 = Array(dataset.batches(size: 3, seed: 1))
    let epoch2 = Array(dataset.batches(size: 3, seed: 2))
    #expect(epoch1.map(\.count) == [3, 3, 3, 1])
    #expect(epoch1.flatMap(\.labels).sorted() == Array(0..<10))
    #expect(epoch1.flatMap(\.labels) == dataset.shuffled(seed: 1).labels)
    #expect(epoch1.flatMap(\.labels) != epoch2.flatMap(\.labels))
    #expect(epoch1 == Array(dataset.batches(size: 3, seed: 1)))
    #expect(epoch1.allSatisfy(rowsMatchLabels))
  }

  @Test func prefixAndGathering() {
    #expect(dataset.prefix(3).labels == [0, 1, 2])
    #expect(dataset.prefix(3).images.scalars == [0, 0.5, 1, 1.5, 2, 2.5])
    #expect(dataset.prefix(50) == dataset)
    #expect(dataset.prefix(0).images.shape == [0, 1, 1, 2])
    #expect(dataset.gathering([9, 0]).images.scalars == [9, 9.5, 0, 0.5])
  }

  @Test func channelStatisticsAndNormalization() {
    // Two examples, two channels of two pixels:
    // channel 0 holds 1, 3, 5, 7 (mean 4, std √5); channel 1 holds 2
    // everywhere, a constant channel whose deviation is taken as 1.
    let data = Dataset(
      images: Tensor(shape: [2, 2, 1, 2], scalars: [1, 3, 2, 2, 5, 7, 2, 2]), labels: [0, 1])
    let statistics = data.channelStatistics()
    #expect(statistics.mean == [4, 2])
    #expect(statistics.standardDeviation == [Float(5).squareRoot(), 1])
    let normalized = data.normalized()
    let root5 = Float(5).squareRoot()
    #expect(
      normalized.images.isAlmostEqual(
        to: Tensor(
          shape: [2, 2, 1, 2], scalars: [-3 / root5, -1 / root5, 0, 0, 1 / root5, 3 / root5, 0, 0])
      ))
    let normalizedStatistics = normalized.channelStatistics()
    #expect(Swift.abs(normalizedStatistics.mean[0]) < 1e-6)
    #expect(Swift.abs(normalizedStatistics.standardDeviation[0] - 1) < 1e-6)
    #expect(normalized.labels == [0, 1])

    let given = data.normalized(using: ChannelStatistics(mean: [1, 2], standardDeviation: [2, 4]))
    #expect(given.images.scalars == [0, 1, 0, 0, 2, 3, 0, 0])
  }
}
