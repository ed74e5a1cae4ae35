import CortexCore
import Dispatch

/// Batches of examples from tensors that share their leading size: row `i`
/// of every tensor is example `i`.
///
/// ```swift
/// let loader = DataLoader(
///   tensors: [images], indexTensors: [labels], batchSize: 64,
///   shuffleSeed: UInt64(epoch), dropLast: true)
/// for batch in loader {
///   trainer.step(inputs: batch.tensors[0], labels: batch.indexTensors[0].scalars)
/// }
/// ```
///
/// The order is the examples' own, a permutation drawn from `shuffleSeed`
/// (the same seed gives the same order on every run and platform), or any
/// list of batches of example indices (a `DistributedSampler`'s shares,
/// for instance). A per-example transform (an augmentation, say) runs on
/// each example's rows before they are stacked. While the caller works on
/// one batch, the next is gathered on a background thread; gathering is
/// deterministic, so prefetching never changes a batch, and every pass
/// over the loader yields the same batches.
public final class DataLoader: Sequence, Sendable {
  /// Float tensors, each with the examples on its first axis.
  public let tensors: [Tensor<Float>]
  /// Integer tensors (labels, token ids), each with the examples on its
  /// first axis.
  public let indexTensors: [IndexTensor]
  /// The example indices of each batch, in order.
  public let batchIndices: [[Int]]
  /// Whether the next batch is gathered on a background thread while the
  /// caller works on the current one.
  public let prefetches: Bool
  let transform: (@Sendable (_ index: Int, _ example: [Tensor<Float>]) -> [Tensor<Float>])?

  /// One batch: the rows of every tensor at ``indices``, stacked.
  public struct Batch: Sendable {
    /// The examples' indices in the data.
    public let indices: [Int]
    /// The rows of each of the loader's float tensors, transformed.
    public let tensors: [Tensor<Float>]
    /// The rows of each of the loader's integer tensors.
    public let indexTensors: [IndexTensor]
    /// The number of examples.
    public var count: Int { indices.count }
  }

  /// A loader that cuts the examples into batches of `batchSize`.
  ///
  /// - Parameters:
  ///   - tensors: float tensors sharing their leading size `N`.
  ///   - indexTensors: integer tensors with the same leading size.
  ///   - batchSize: examples per batch.
  ///   - shuffleSeed: shuffles the examples first when given; `nil` keeps
  ///     their order.
  ///   - dropLast: drops a last batch of fewer than `batchSize` examples;
  ///     by default it is kept.
  ///   - prefetch: gathers the next batch on a background thread.
  ///   - transform: applied to each example's rows (the float tensors'
  ///     rows, without the leading axis) with the example's index; it must
  ///     keep their shapes.
  /// - Precondition: the tensors share their leading size and
  ///   `batchSize` is positive.
  public convenience init(
    tensors: [Tensor<Float>], indexTensors: [IndexTensor] = [], batchSize: Int,
    shuffleSeed: UInt64? = nil, dropLast: Bool = false, prefetch: Bool = true,
    transform: (@Sendable (_ index: Int, _ example: [Tensor<Float>]) -> [Tensor<Float>])? = nil
  ) {
    precondition(batchSize > 0, "DataLoader: batch size must be positive, found \(batchSize)")
    let count = Self.exampleCount(tensors, indexTensors)
    let order =
      shuffleSeed.map { Dataset.permutation(count: count, seed: $0) } ?? Array(0..<count)
    let batchCount = dropLast ? count / batchSize : (count + batchSize - 1) / batchSize
    self.init(
      tensors: tensors, indexTensors: indexTensors,
      batches: (0..<batchCount).map {
        Array(order[$0 * batchSize..<Swift.min(($0 + 1) * batchSize, count)])
      }, prefetch: prefetch, transform: transform)
  }

  /// A loader of the given batches of example indices, in order.
  ///
  /// - Precondition: the tensors share their leading size and every index
  ///   is in range.
  public init(
    tensors: [Tensor<Float>], indexTensors: [IndexTensor] = [], batches: [[Int]],
    prefetch: Bool = true,
    transform: (@Sendable (_ index: Int, _ example: [Tensor<Float>]) -> [Tensor<Float>])? = nil
  ) {
    let count = Self.exampleCount(tensors, indexTensors)
    for index in batches.joined() {
      precondition(
        index >= 0 && index < count, "DataLoader: index \(index) is out of range 0..<\(count)")
    }
    self.tensors = tensors
    self.indexTensors = indexTensors
    batchIndices = batches
    prefetches = prefetch
    self.transform = transform
  }

  private static func exampleCount(_ tensors: [Tensor<Float>], _ indexTensors: [IndexTensor])
    -> Int
  {
    let sizes = tensors.map { $0.shape.first ?? -1 } + indexTensors.map { $0.shape.first ?? -1 }
    precondition(
      !sizes.isEmpty && sizes.allSatisfy { $0 >= 0 && $0 == sizes[0] },
      "DataLoader: expected tensors sharing a leading size, found shapes "
        + "\(tensors.map(\.shape) + indexTensors.map(\.shape))")
    return sizes[0]
  }

  /// The number of batches.
  public var count: Int { batchIndices.count }

  /// At least the number of batches, for `Array(loader)`.
  public var underestimatedCount: Int { batchIndices.count }

  /// The batch at `position` (counted from 0), gathered now.
  public func batch(_ position: Int) -> Batch {
    let indices = batchIndices[position]
    let floats: [Tensor<Float>]
    if let transform {
      // Each example's rows, transformed, then stacked.
      let examples = indices.map { index in
        transform(
          index, tensors.map { Self.gather($0, [index]).reshaped(to: Array($0.shape.dropFirst())) })
      }
      floats = tensors.indices.map { which in
        let rows = examples.map { $0[which] }
        precondition(
          rows.allSatisfy { $0.shape == rows.first?.shape },
          "DataLoader: the transform changed the shapes of tensor \(which)")
        return Tensor(concatenating: rows.map { $0.reshaped(to: [1] + $0.shape) }, alongAxis: 0)
      }
    } else {
      floats = tensors.map { Self.gather($0, indices) }
    }
    let integers = indexTensors.map { tensor -> IndexTensor in
      let rowLength = tensor.shape.dropFirst().reduce(1, *)
      var scalars: [Int] = []
      scalars.reserveCapacity(indices.count * rowLength)
      for index in indices {
        scalars += tensor.scalars[index * rowLength..<(index + 1) * rowLength]
      }
      return IndexTensor(shape: [indices.count] + tensor.shape.dropFirst(), scalars: scalars)
    }
    return Batch(indices: indices, tensors: floats, indexTensors: integers)
  }

  /// The rows of `tensor` at `indices`, stacked.
  static func gather(_ tensor: Tensor<Float>, _ indices: [Int]) -> Tensor<Float> {
    let rowShape = Array(tensor.shape.dropFirst())
    let rowLength = rowShape.reduce(1, *)
    var result = Tensor<Float>.uninitialized([indices.count] + rowShape)
    result.withUnsafeMutableBufferPointer { target in
      tensor.withUnsafeBufferPointer { source in
        guard let to = target.baseAddress, let from = source.baseAddress else { return }
        for (row, index) in indices.enumerated() {
          (to + row * rowLength).initialize(from: from + index * rowLength, count: rowLength)
        }
      }
    }
    return result
  }

  /// An iterator over the batches, in order.
  public func makeIterator() -> Iterator { Iterator(self) }

  /// Produces one batch after another, the next one gathered in the
  /// background while the caller works on the current one.
  public final class Iterator: IteratorProtocol {
    private let loader: DataLoader
    private var position = 0
    private var pending: PendingBatch?

    init(_ loader: DataLoader) {
      self.loader = loader
    }

    /// The next batch, or `nil` after the last.
    public func next() -> Batch? {
      guard position < loader.count else { return nil }
      let current = pending ?? PendingBatch(loader, position, background: false)
      position += 1
      pending =
        loader.prefetches && position < loader.count
        ? PendingBatch(loader, position, background: true) : nil
      return current.wait()
    }
  }
}

/// A batch of a ``DataLoader`` being gathered, on a background thread or
/// at once.
final class PendingBatch: @unchecked Sendable {
  private var batch: DataLoader.Batch?
  private let done = DispatchSemaphore(value: 0)

  init(_ loader: DataLoader, _ position: Int, background: Bool) {
    guard background else {
      batch = loader.batch(position)
      done.signal()
      return
    }
    DispatchQueue.global().async {
      self.batch = loader.batch(position)
      self.done.signal()
    }
  }

  /// The batch, once gathered: the semaphore orders the background write
  /// before this read.
  func wait() -> DataLoader.Batch {
    done.wait()
    return batch!
  }
}
