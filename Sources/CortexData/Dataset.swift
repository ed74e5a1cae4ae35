import CortexCore

/// Labelled images: the examples of a classification data set, or a batch
/// of them.
///
/// Row `i` of `images` (its first axis) is the example whose class is
/// `labels[i]`. Batches are datasets too, so one type flows from the loader
/// to the training step.
public struct Dataset: Equatable, Sendable {
  /// The examples stacked on the first axis, usually `[N, C, H, W]`.
  public var images: Tensor<Float>
  /// The class of each example.
  public var labels: [Int]

  /// A dataset of `images` whose first axis has one row per label.
  ///
  /// - Precondition: `images` has at least one axis and its first
  ///   dimension equals `labels.count`.
  public init(images: Tensor<Float>, labels: [Int]) {
    precondition(
      images.rank >= 1 && images.shape[0] == labels.count,
      "Dataset: images of shape \(images.shape) do not match \(labels.count) labels")
    self.images = images
    self.labels = labels
  }

  /// The number of examples.
  public var count: Int { labels.count }

  /// The examples at `indices`, in that order.
  public func gathering(_ indices: [Int]) -> Dataset {
    for index in indices {
      precondition(
        index >= 0 && index < count,
        "Dataset.gathering: index \(index) is out of range 0..<\(count)")
    }
    return Dataset(
      images: DataLoader.gather(images, indices), labels: indices.map { labels[$0] })
  }

  /// The first `n` examples, or all of them when there are fewer.
  public func prefix(_ n: Int) -> Dataset {
    precondition(n >= 0, "Dataset.prefix: count must not be negative, found \(n)")
    return gathering(Array(0..<Swift.min(n, count)))
  }

  /// The examples in an order drawn from `seed`: the same seed gives the
  /// same order on every run and platform.
  public func shuffled(seed: UInt64) -> Dataset {
    gathering(Dataset.permutation(count: count, seed: seed))
  }

  /// A random permutation of `0..<count` (Fisher–Yates, seeded).
  package static func permutation(count: Int, seed: UInt64) -> [Int] {
    var generator = SeededGenerator(seed: seed)
    var order = Array(0..<count)
    for i in stride(from: count - 1, to: 0, by: -1) {
      let j = Int(UInt64(i + 1).multipliedFullWidth(by: generator.next()).high)
      order.swapAt(i, j)
    }
    return order
  }

  /// The dataset cut into consecutive batches of `size` examples.
  ///
  /// Iterate once per epoch; pass a different seed each epoch to visit the
  /// examples in a new order (`seed: baseSeed &+ UInt64(epoch)`).
  ///
  /// - Parameters:
  ///   - size: examples per batch.
  ///   - seed: shuffles the examples first when given; `nil` keeps their order.
  ///   - dropLast: drops the last batch when it has fewer than `size`
  ///     examples; by default it is kept.
  public func batches(size: Int, seed: UInt64? = nil, dropLast: Bool = false) -> Batches {
    precondition(size > 0, "Dataset.batches: batch size must be positive, found \(size)")
    return Batches(
      loader: DataLoader(
        tensors: [images], indexTensors: [IndexTensor(labels)], batchSize: size, shuffleSeed: seed,
        dropLast: dropLast))
  }

  /// The batches of one pass over a dataset, gathered by a ``DataLoader``;
  /// see ``Dataset/batches(size:seed:dropLast:)``.
  public struct Batches: Sequence, Sendable {
    /// The loader that gathers the batches.
    public let loader: DataLoader

    /// The number of batches.
    public var count: Int { loader.count }

    /// At least the number of batches, for `Array(batches)`.
    public var underestimatedCount: Int { loader.count }

    /// An iterator over the batches, in order.
    public func makeIterator() -> Iterator { Iterator(base: loader.makeIterator()) }

    /// Produces one batch after another.
    public struct Iterator: IteratorProtocol {
      let base: DataLoader.Iterator

      /// The next batch, or `nil` after the last.
      public mutating func next() -> Dataset? {
        base.next().map { Dataset(images: $0.tensors[0], labels: $0.indexTensors[0].scalars) }
      }
    }
  }
}

/// The mean and standard deviation of each channel of a dataset.
public struct ChannelStatistics: Codable, Equatable, Sendable {
  /// The mean of each channel.
  public var mean: [Float]
  /// The standard deviation of each channel (population: divided by the count).
  public var standardDeviation: [Float]

  /// Statistics with the given values, one per channel.
  public init(mean: [Float], standardDeviation: [Float]) {
    precondition(
      mean.count == standardDeviation.count,
      "ChannelStatistics: \(mean.count) means but \(standardDeviation.count) standard deviations")
    self.mean = mean
    self.standardDeviation = standardDeviation
  }
}

extension Dataset {
  /// The mean and standard deviation of each channel of `images`
  /// `[N, C, H, W]`, over all examples and pixels, accumulated in Double.
  /// A constant channel (all images blank) gets a deviation of 1, so that
  /// normalizing it only shifts it.
  public func channelStatistics() -> ChannelStatistics {
    let (channels, planeLength) = channelLayout("channelStatistics")
    var sums = [Double](repeating: 0, count: channels)
    var squares = [Double](repeating: 0, count: channels)
    images.withUnsafeBufferPointer { values in
      var offset = 0
      for _ in 0..<count {
        for channel in 0..<channels {
          var sum = 0.0
          var square = 0.0
          for value in values[offset..<offset + planeLength] {
            sum += Double(value)
            square += Double(value) * Double(value)
          }
          sums[channel] += sum
          squares[channel] += square
          offset += planeLength
        }
      }
    }
    let n = Double(count * planeLength)
    let mean = sums.map { n > 0 ? $0 / n : 0 }
    let deviation = zip(squares, mean).map { square, mean in
      let variance = n > 0 ? Swift.max(0, square / n - mean * mean) : 0
      return variance > 0 ? variance.squareRoot() : 1
    }
    return ChannelStatistics(
      mean: mean.map(Float.init), standardDeviation: deviation.map(Float.init))
  }

  /// The images with each channel shifted and scaled:
  /// `(x − mean[c]) / std[c]`.
  ///
  /// Compute the statistics on the training set and apply the same ones
  /// to the test set. A channel whose standard deviation is 0 is only
  /// shifted.
  ///
  /// - Precondition: `images` is `[N, C, H, W]` with `C` equal to the
  ///   number of channels in `statistics`.
  public func normalized(using statistics: ChannelStatistics) -> Dataset {
    let (channels, planeLength) = channelLayout("normalized")
    precondition(
      statistics.mean.count == channels,
      "Dataset.normalized: \(statistics.mean.count) channel statistics for images of shape "
        + "\(images.shape)")
    var result = self
    result.images.withUnsafeMutableBufferPointer { values in
      var offset = 0
      for _ in 0..<count {
        for channel in 0..<channels {
          let mean = statistics.mean[channel]
          let deviation = statistics.standardDeviation[channel]
          let divisor = deviation == 0 ? 1 : deviation
          for i in offset..<offset + planeLength { values[i] = (values[i] - mean) / divisor }
          offset += planeLength
        }
      }
    }
    return result
  }

  /// The images normalized with their own channel statistics.
  public func normalized() -> Dataset { normalized(using: channelStatistics()) }

  private func channelLayout(_ name: String) -> (channels: Int, planeLength: Int) {
    precondition(
      images.rank == 4, "Dataset.\(name): expected images [N, C, H, W], found shape \(images.shape)"
    )
    return (images.shape[1], images.shape[2] * images.shape[3])
  }
}
