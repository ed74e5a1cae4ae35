import CortexCore
import CortexData
import CortexNN
import Foundation

/// Data-parallel training over a ``ProcessGroup``: every process holds the
/// whole model, computes the gradients of its share of each batch, and all
/// processes apply the same all-reduced gradients, so their models stay
/// identical.
///
/// - Parameters are broadcast from rank 0 by ``broadcastParameters(of:)``.
/// - Gradients are all-reduced in buckets of about ``bucketCapacity``
///   scalars, in the order the backward pass produces them (last layer
///   first). With ``overlapsBackward`` each bucket's non-blocking
///   all-reduce starts as soon as its last gradient is ready, while the
///   backward pass goes on through the earlier layers (as PyTorch's
///   `DistributedDataParallel` does).
/// - Batch norm's batch statistics are per process: each normalizes its
///   own share of the batch (PyTorch's default, without `SyncBatchNorm`).
///
/// Gradients arrive as the backward pass finishes them (see
/// ``valueWithGradientStream(for:of:ready:)``): layer by layer, last first.
public final class DataParallel {
  public let group: ProcessGroup
  /// The most scalars a bucket holds, unless one parameter alone has more.
  public let bucketCapacity: Int
  /// Whether buckets are reduced while the backward pass goes on (`true`)
  /// or all after it.
  public var overlapsBackward: Bool
  /// The model's trainable parameters, whose gradients the buckets carry,
  /// in order. When what is trainable changes, the next step lays the
  /// buckets out again (every process must freeze the same parameters).
  public private(set) var parameters: [Parameter<Float>] = []

  private let model: any Layer<Float>
  /// All the model's parameters, trainable or not: the trainer's list.
  private let modelParameters: [Parameter<Float>]
  private var buckets: [GradientBucket] = []
  /// Where each parameter's gradient lives: its bucket and offset there.
  private var slots: [(bucket: Int, offset: Int)] = []
  /// The next bucket to start: buckets start in order on every process.
  private var nextBucket = 0
  private var weight: Float = 1

  /// Prepares the buckets for `model`'s trainable parameters.
  ///
  /// - Parameters:
  ///   - model: the model every process trains; its trainable parameters
  ///     are the ones reduced.
  ///   - group: the processes.
  ///   - bucketCapacity: scalars per bucket (default 1,048,576: 4 MiB of
  ///     Float). Each bucket costs one all-reduce, whose latency grows with
  ///     the number of processes; smaller buckets start earlier and hide
  ///     more of the reduction behind the backward pass.
  ///   - overlapsBackward: whether buckets are reduced while the backward
  ///     pass goes on (the default) or all after it.
  public init(
    model: any Layer<Float>, group: ProcessGroup, bucketCapacity: Int = 1_048_576,
    overlapsBackward: Bool = true
  ) {
    precondition(bucketCapacity > 0, "DataParallel: bucket capacity must be positive")
    self.group = group
    self.bucketCapacity = bucketCapacity
    self.overlapsBackward = overlapsBackward
    self.model = model
    modelParameters = model.namedParameters.map(\.parameter)
    layOutBuckets(for: model.parameters)
  }

  /// Assigns `parameters` to buckets of about ``bucketCapacity`` scalars,
  /// the last parameters first (the backward pass finishes them first).
  private func layOutBuckets(for parameters: [Parameter<Float>]) {
    self.parameters = parameters
    slots = [(bucket: Int, offset: Int)](repeating: (0, 0), count: parameters.count)
    var members: [[Int]] = [[]]
    var filled = 0
    for index in parameters.indices.reversed() {
      let count = parameters[index].shape.reduce(1, *)
      if filled > 0, filled + count > bucketCapacity {
        members.append([])
        filled = 0
      }
      slots[index] = (members.count - 1, filled)
      members[members.count - 1].append(index)
      filled += count
    }
    buckets = members.map { indices in
      GradientBucket(
        members: indices, count: indices.map { parameters[$0].shape.reduce(1, *) }.reduce(0, +))
    }
  }

  /// The number of buckets the gradients travel in.
  public var bucketCount: Int { buckets.count }

  /// Copies rank 0's parameters and state (batch norm's running
  /// statistics included) to every process.
  public func broadcastParameters(of model: any Layer<Float>) {
    for (_, parameter) in model.namedParameters {
      var value = parameter.value
      group.broadcast(&value, from: 0)
      parameter.value = value
    }
  }

  /// One data-parallel step of `trainer` with softmax cross-entropy: this
  /// process's share of a batch of `batchCount` examples forward and
  /// backward, the gradients summed over the processes (each weighted by
  /// its share, so that the result is the gradient of the whole batch's
  /// mean loss) and the optimizer's update.
  ///
  /// - Parameters:
  ///   - trainer: the model and optimizer; its parameters must be the
  ///     model's the buckets were made for.
  ///   - inputs: `[n, ...]`, this process's examples (`n` may be 0).
  ///   - labels: their `n` classes.
  ///   - batchCount: the examples of the batch over all processes.
  /// - Returns: the batch's mean loss and how many of its examples the
  ///   processes classified correctly before the step.
  @discardableResult
  public func step(
    _ trainer: Trainer<Float>, inputs: Tensor<Float>, labels: [Int], batchCount: Int
  ) -> (loss: Double, correct: Int) {
    precondition(
      trainer.parameters.map(ObjectIdentifier.init) == modelParameters.map(ObjectIdentifier.init),
      "DataParallel.step: the trainer's model is not the one the buckets were made for")
    precondition(batchCount > 0, "DataParallel.step: the batch must not be empty")
    let trainable = modelParameters.filter(\.isTrainable)
    if trainable.map(ObjectIdentifier.init) != parameters.map(ObjectIdentifier.init) {
      layOutBuckets(for: trainable)
    }
    weight = Float(labels.count) / Float(batchCount)
    nextBucket = 0
    for bucket in buckets { bucket.filled = 0 }
    var (loss, correct) = (0.0, 0)
    if !labels.isEmpty {
      var logits = inputs
      let value = withLearningPhase(.training) {
        valueWithGradientStream(for: parameters) {
          let output = model(inputs)
          logits = output.withoutDerivative
          return softmaxCrossEntropy(logits: output, labels: labels)
        } ready: { [unowned self] index, gradient in
          self.receive(gradient, of: index)
        }
      }
      loss = Double(value.scalar) * Double(labels.count)
      correct = zip(logits.argmax(alongAxis: 1), labels).filter { $0 == $1 }.count
    } else {
      for (index, parameter) in parameters.enumerated() {
        receive(Tensor.zeros(parameter.shape), of: index)
      }
    }
    startBuckets(upTo: buckets.count)
    let gradients = parameters.indices.map { index in
      let (bucket, offset) = slots[index]
      buckets[bucket].pending?.wait()
      let source = buckets[bucket].scalars + offset
      return Tensor<Float>(shape: parameters[index].shape) { source[$0] }
    }
    trainer.update(trainableGradients: gradients)
    // Summed in rank order, so that every process gets the same figures.
    let totals = group.allGather(Tensor<Double>([loss, Double(correct)])).scalars
    let lossSum = stride(from: 0, to: totals.count, by: 2).reduce(0) { $0 + totals[$1] }
    let correctSum = stride(from: 1, to: totals.count, by: 2).reduce(0) { $0 + totals[$1] }
    return (lossSum / Double(batchCount), Int(correctSum))
  }

  /// Stores one parameter's gradient, weighted by this process's share of
  /// the batch, and starts the buckets that are full.
  private func receive(_ gradient: Tensor<Float>, of index: Int) {
    let (bucketIndex, offset) = slots[index]
    let bucket = buckets[bucketIndex]
    let target = bucket.scalars + offset
    let weight = self.weight
    gradient.withUnsafeBufferPointer { source in
      if weight == 1 {
        target.update(from: source.baseAddress!, count: source.count)
      } else {
        for i in source.indices { target[i] = source[i] * weight }
      }
    }
    bucket.filled += 1
    guard overlapsBackward else { return }
    var end = nextBucket
    while end < buckets.count, buckets[end].isFull { end += 1 }
    startBuckets(upTo: end)
    // MPI moves a non-blocking reduction along only inside MPI calls.
    for started in buckets[..<nextBucket] { started.pending?.poll() }
  }

  /// Starts the all-reduce of every bucket before `end` not yet started.
  private func startBuckets(upTo end: Int) {
    while nextBucket < end {
      let bucket = buckets[nextBucket]
      bucket.pending = group.startSum(bucket.scalars, count: bucket.count)
      nextBucket += 1
    }
  }
}

/// The gradients of a few parameters, side by side in one buffer that is
/// all-reduced at once.
final class GradientBucket {
  let members: [Int]
  let count: Int
  let scalars: UnsafeMutablePointer<Float>
  /// Gradients stored so far in this step.
  var filled = 0
  var pending: PendingReduction?

  init(members: [Int], count: Int) {
    self.members = members
    self.count = count
    scalars = .allocate(capacity: Swift.max(count, 1))
    scalars.initialize(repeating: 0, count: Swift.max(count, 1))
  }

  deinit {
    pending?.wait()
    scalars.deallocate()
  }

  var isFull: Bool { filled == members.count }
}

/// Each process's share of every epoch's batches.
///
/// The epoch's shuffled order is the one one process would use with the
/// same seed, cut into the same batches of ``batchSize``; of each batch of
/// `b` examples, rank `r` of `size` takes the consecutive examples
/// `b·r/size ..< b·(r+1)/size`. Together the processes see every batch
/// exactly as one process would.
public struct DistributedSampler: Sendable {
  /// The examples in the dataset.
  public let count: Int
  /// The examples of each batch over all processes (the global batch).
  public let batchSize: Int
  public let rank: Int
  public let size: Int

  public init(count: Int, batchSize: Int, rank: Int, size: Int) {
    precondition(batchSize > 0, "DistributedSampler: batch size must be positive")
    precondition(
      size > 0 && (0..<size).contains(rank),
      "DistributedSampler: rank \(rank) is not in 0..<\(size)")
    self.count = count
    self.batchSize = batchSize
    self.rank = rank
    self.size = size
  }

  /// This process's share of one batch.
  public struct Share: Sendable {
    /// The dataset indices of this process's examples, in order.
    public let indices: [Int]
    /// Where they start in the batch.
    public let offset: Int
    /// The examples of the whole batch.
    public let batchCount: Int
  }

  /// The shares of the batches of the epoch shuffled with `seed`, in order.
  public func shares(seed: UInt64) -> [Share] {
    let order = Dataset.permutation(count: count, seed: seed)
    return stride(from: 0, to: count, by: batchSize).map { start in
      let batchCount = Swift.min(batchSize, count - start)
      let lower = batchCount * rank / size
      let upper = batchCount * (rank + 1) / size
      return Share(
        indices: Array(order[(start + lower)..<(start + upper)]), offset: lower,
        batchCount: batchCount)
    }
  }
}

extension DataLoader {
  /// A loader of this process's share of each batch a ``DistributedSampler``
  /// draws from `seed`: the sampler decides which examples, the loader
  /// gathers them (the next batch in the background).
  ///
  /// - Precondition: the tensors' leading size is the sampler's count.
  public convenience init(
    tensors: [Tensor<Float>], indexTensors: [IndexTensor] = [], sampler: DistributedSampler,
    seed: UInt64, prefetch: Bool = true,
    transform: (@Sendable (_ index: Int, _ example: [Tensor<Float>]) -> [Tensor<Float>])? = nil
  ) {
    let sizes = tensors.map { $0.shape.first } + indexTensors.map { $0.shape.first }
    precondition(
      sizes.allSatisfy { $0 == sampler.count },
      "DataLoader: the sampler draws from \(sampler.count) examples, the tensors hold \(sizes)")
    self.init(
      tensors: tensors, indexTensors: indexTensors,
      batches: sampler.shares(seed: seed).map(\.indices), prefetch: prefetch,
      transform: transform)
  }
}
