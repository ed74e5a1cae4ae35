import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// The parts of data-parallel training that need no MPI: the sampler, the
/// gradient stream, the shifts of a share, the library loader's errors.
@Suite struct DistributedTests {
  /// The shares of every rank, put side by side, are the batches one
  /// process draws with the same seed; a batch smaller than the group
  /// leaves some ranks nothing.
  @Test func sharesOfAllRanksMakeUpTheOneProcessBatches() {
    let order = Dataset.permutation(count: 23, seed: 9)
    for size in [1, 2, 3, 8] {
      let shares = (0..<size).map {
        DistributedSampler(count: 23, batchSize: 5, rank: $0, size: size).shares(seed: 9)
      }
      #expect(shares.allSatisfy { $0.count == 5 })
      for batch in 0..<5 {
        let expected = Array(order[(batch * 5)..<min(batch * 5 + 5, 23)])
        #expect(shares.flatMap { $0[batch].indices } == expected)
        #expect(shares.map { $0[batch].offset } == (0..<size).map { expected.count * $0 / size })
        #expect(shares.allSatisfy { $0[batch].batchCount == expected.count })
      }
    }
    // The last batch has 3 examples: with 8 ranks, five of them get none.
    let last = (0..<8).map {
      DistributedSampler(count: 23, batchSize: 5, rank: $0, size: 8).shares(seed: 9)[4]
    }
    #expect(last.map(\.indices.count) == [0, 0, 1, 0, 0, 1, 0, 1])
  }

  /// The streamed gradients are exactly those of `valueWithGradient(for:)`,
  /// each delivered once, last layer first.
  @Test func gradientStreamDeliversEachGradientOnceLastLayerFirst() throws {
    let model = try withRandomSeed(4) {
      try Sequential<Double> {
        try Dense<Double>(inputSize: 6, outputSize: 5)
        ReLU<Double>()
        try Dense<Double>(inputSize: 5, outputSize: 4)
        Tanh<Double>()
        try Dense<Double>(inputSize: 4, outputSize: 3)
      }
    }
    let parameters = model.parameters
    let input = Tensor<Double>.randomNormal([7, 6], seed: 5)
    let labels = [0, 1, 2, 0, 1, 2, 1]
    let (expectedLoss, expected) = valueWithGradient(for: parameters) {
      softmaxCrossEntropy(logits: model(input), labels: labels)
    }
    var arrivals: [Int] = []
    var streamed = [Tensor<Double>?](repeating: nil, count: parameters.count)
    let loss = valueWithGradientStream(for: parameters) {
      softmaxCrossEntropy(logits: model(input), labels: labels)
    } ready: { index, gradient in
      arrivals.append(index)
      streamed[index] = gradient
    }
    #expect(loss == expectedLoss)
    // Within a layer the bias is recorded after the weight, so it comes first.
    #expect(arrivals == [5, 4, 3, 2, 1, 0])
    #expect(streamed.map { $0! } == expected)
  }

  /// A parameter used by the first and the last layer (tied weights)
  /// arrives once, after both uses: the sum of their gradients.
  @Test func aTiedParameterArrivesOnceWithBothUses() throws {
    let layer = try withRandomSeed(6) { try Dense<Double>(inputSize: 3, outputSize: 3) }
    let model = Sequential<Double>([layer, Tanh(), layer])
    let parameters = model.parameters
    let input = Tensor<Double>.randomNormal([2, 3], seed: 7)
    let (_, expected) = valueWithGradient(for: parameters) { square(model(input)).sum() }
    var arrivals: [(Int, Tensor<Double>)] = []
    _ = valueWithGradientStream(for: parameters) {
      square(model(input)).sum()
    } ready: {
      arrivals.append(($0, $1))
    }
    #expect(arrivals.map(\.0) == [1, 0])
    #expect(arrivals.map(\.1) == [expected[1], expected[0]])
    // The weight's gradient has both uses: it differs from the last use's alone.
    let (_, lastUseOnly) = valueWithGradient(for: parameters) {
      let hidden = tanh(layer(input)).withoutDerivative
      return square(layer(hidden)).sum()
    }
    #expect(arrivals[1].1 != lastUseOnly[0])
  }

  /// Streaming inside another gradient computation would hand the outer
  /// one a silent zero: it traps instead.
  @Test func aNestedGradientStreamTraps() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      let weight = Parameter(Tensor<Double>([1, 2]))
      _ = gradient(at: Tensor<Double>([3, 4])) { x in
        valueWithGradientStream(for: [weight]) {
          (x * weight.value).sum()
        } ready: { _, _ in
        }
      }
    }
    #expect(
      TrapTests.standardError(result).contains(
        "valueWithGradientStream: it runs on a tape of its own and cannot be nested"))
  }

  /// A parameter the loss does not use gets zeros, after the others.
  @Test func unusedParameterGetsZeros() throws {
    let used = try withRandomSeed(1) { try Dense<Double>(inputSize: 3, outputSize: 2) }
    let unused = Parameter(Tensor<Double>([1, 2]))
    var arrivals: [(Int, [Double])] = []
    _ = valueWithGradientStream(for: used.parameters + [unused]) {
      used(Tensor.ones([1, 3])).sum()
    } ready: {
      arrivals.append(($0, $1.scalars))
    }
    #expect(arrivals.map(\.0) == [1, 0, 2])
    #expect(arrivals[0].1 == [1, 1])
    #expect(arrivals[2].1 == [0, 0])
  }

  /// Shifting and flipping a share of a batch moves its images exactly as
  /// shifting and flipping the whole batch moves them.
  @Test func shiftsOfAShareAreThoseOfTheWholeBatch() throws {
    let digits = try MNIST.loadBundled(split: .test).prefix(8)
    let run = try TrainingRun(TrainingConfiguration(), train: digits, test: digits)
    let images = Tensor<Float>(shape: [6, 1, 5, 7], scalars: (0..<210).map { Float($0) })
    var whole = SeededGenerator(seed: 11)
    let all = run.augmented(images, shiftingUpTo: 2, flipping: true, using: &whole)
    var part = SeededGenerator(seed: 11)
    let share = run.augmented(
      images.sliced(alongAxis: 0, range: 2..<5), shiftingUpTo: 2, flipping: true, using: &part,
      at: 2, of: 6)
    #expect(share == all.sliced(alongAxis: 0, range: 2..<5))
    #expect(share != images.sliced(alongAxis: 0, range: 2..<5))
    // Both drew the same number of shifts and flips.
    #expect(whole.next() == part.next())
  }

  /// Without the library, one error says what to install; a library that
  /// is not OpenMPI is named as such.
  @Test func missingOrForeignLibraryIsOneClearError() throws {
    do {
      _ = try MPILibrary(names: ["/nonexistent/libmpi.so.40"])
      Issue.record("loading a missing library succeeded")
    } catch {
      #expect(
        error.description.hasPrefix("cannot load the MPI library (tried /nonexistent/libmpi.so.40)")
      )
      #expect(error.description.contains("apt-get install openmpi-bin"))
    }
    #if os(Linux)
      do {
        _ = try MPILibrary(names: ["libz.so.1"])
        Issue.record("loading zlib as MPI succeeded")
      } catch {
        #expect(
          error
            == DistributedError(
              "the MPI library has no symbol 'MPI_Initialized'; Cortex needs OpenMPI "
                + "(on Debian or Ubuntu: apt-get install openmpi-bin)"))
      }
    #endif
  }

  /// `CORTEX_MPI_LIBRARY` naming a missing file, or a file that is not a
  /// library, is an error naming the file and the loader's reason, never
  /// a quiet fall back to the system's libmpi.
  @Test func aLibraryNamedInTheEnvironmentIsThatLibraryOrAnError() throws {
    let folder = try DataTestSupport.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    #expect(
      throws: DistributedError(
        "CORTEX_MPI_LIBRARY names /nonexistent/libmpi.so, which cannot be loaded: "
          + "/nonexistent/libmpi.so: cannot open shared object file: No such file or directory")
    ) { try MPILibrary(environment: ["CORTEX_MPI_LIBRARY": "/nonexistent/libmpi.so"]) }
    let text = folder.appendingPathComponent("libmpi.so")
    try Data("not a library\n".utf8).write(to: text)
    do {
      _ = try MPILibrary(environment: ["CORTEX_MPI_LIBRARY": text.path])
      Issue.record("a text file loaded as the MPI library")
    } catch {
      #expect(
        error.description.hasPrefix(
          "CORTEX_MPI_LIBRARY names \(text.path), which cannot be loaded: \(text.path): "),
        "\(error)")
    }
    #expect(
      throws: DistributedError(
        "CORTEX_MPI_LIBRARY is empty; set it to the path of libmpi or unset it")
    ) { try MPILibrary(environment: ["CORTEX_MPI_LIBRARY": ""]) }
    #if os(Linux)
      #expect(
        throws: DistributedError(
          "CORTEX_MPI_LIBRARY names libz.so.1, which has no symbol 'MPI_Initialized'; Cortex "
            + "needs OpenMPI (on Debian or Ubuntu: apt-get install openmpi-bin)")
      ) { try MPILibrary(environment: ["CORTEX_MPI_LIBRARY": "libz.so.1"]) }
    #endif
  }
}
