import CortexCore
import CortexData
import CortexNN

extension TrainingRun {
  /// Makes this process one of a data-parallel run over `group`: every
  /// process calls it, with the same configuration and data, before the
  /// first epoch.
  ///
  /// Rank 0's parameters and optimizer-independent state are broadcast to
  /// all; from then on each process trains on its share of every batch
  /// (``DistributedSampler``), with the same shifts one process would
  /// draw, and the gradients are all-reduced in buckets while the backward
  /// pass goes on (``DataParallel``). The batch size stays the global one.
  /// After each epoch rank 0's parameters and running statistics are
  /// broadcast again, so every process evaluates and would save the same
  /// model; only one process (rank 0) should save it.
  public func distribute(over group: ProcessGroup, bucketCapacity: Int = 1_048_576) {
    let parallel = DataParallel(model: model, group: group, bucketCapacity: bucketCapacity)
    parallel.broadcastParameters(of: model)
    dataParallel = parallel
  }

  /// The processes this run is distributed over, or `nil` for one process.
  public var processGroup: ProcessGroup? { dataParallel?.group }
}
