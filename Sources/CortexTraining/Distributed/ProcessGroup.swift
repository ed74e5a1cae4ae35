import CortexCore
import CortexData
import CortexNN
import Foundation

/// The processes of one MPI job (`MPI_COMM_WORLD`) and the collective
/// operations between them.
///
/// Every process must call the same collectives in the same order with
/// tensors of the same shapes; each call returns when this process's part
/// is done. Call them from one thread at a time.
///
/// ```swift
/// let group = try ProcessGroup.world()
/// var gradient = Tensor<Float>([Float(group.rank), 1])
/// group.allReduce(&gradient, .mean)  // [(size − 1) / 2, 1] on every rank
/// ```
public final class ProcessGroup: @unchecked Sendable {
  /// This process's index, `0..<size`.
  public let rank: Int
  /// The number of processes.
  public let size: Int
  let mpi: MPILibrary

  /// How ``allReduce(_:_:)`` combines the processes' tensors.
  public enum Reduction: Sendable {
    /// The elementwise sum.
    case sum
    /// The elementwise sum divided by ``ProcessGroup/size``.
    case mean
  }

  /// Whether this process was started by OpenMPI's `mpirun` (it sets
  /// `OMPI_COMM_WORLD_SIZE`).
  public static var isLaunchedByMPI: Bool {
    ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil
  }

  /// The processes started on this machine by `mpirun`, 1 when not under it.
  public static var localSize: Int {
    ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) } ?? 1
  }

  private nonisolated(unsafe) static var worldGroup: ProcessGroup?
  private static let worldLock = NSLock()

  /// The group of all processes of the job, initializing MPI on first call;
  /// MPI is shut down when the process exits, unless ``finalize()`` did it
  /// before.
  ///
  /// - Throws: ``DistributedError`` when the MPI library cannot be loaded.
  public static func world() throws(DistributedError) -> ProcessGroup {
    worldLock.lock()
    defer { worldLock.unlock() }
    if let worldGroup { return worldGroup }
    let mpi = try MPILibrary.shared.get()
    var flag: Int32 = 0
    try mpi.check(mpi.initialized(&flag), "MPI_Initialized")
    if flag == 0 {
      try mpi.check(mpi.initialize(nil, nil), "MPI_Init")
      // `mpirun` counts a process that exits without MPI_Finalize as failed.
      atexit { ProcessGroup.worldGroup?.finalize() }
    }
    var rank: Int32 = 0
    var size: Int32 = 0
    try mpi.check(mpi.commRank(mpi.world, &rank), "MPI_Comm_rank")
    try mpi.check(mpi.commSize(mpi.world, &size), "MPI_Comm_size")
    let group = ProcessGroup(rank: Int(rank), size: Int(size), mpi: mpi)
    worldGroup = group
    return group
  }

  private init(rank: Int, size: Int, mpi: MPILibrary) {
    self.rank = rank
    self.size = size
    self.mpi = mpi
  }

  /// Replaces `tensor` on every process by the sum (or mean) of all the
  /// processes' tensors. With two processes every rank gets the same bits.
  ///
  /// The processes first compare their tensors' sizes: when they differ,
  /// every process prints the sizes by rank and the job ends, before any
  /// memory is touched.
  public func allReduce<Scalar: TensorScalar>(
    _ tensor: inout Tensor<Scalar>, _ reduction: Reduction = .sum
  ) {
    requireSameCount(tensor.scalarCount, "allReduce")
    tensor.withUnsafeMutableBufferPointer { buffer in
      for chunk in chunks(buffer.count) {
        succeed(
          mpi.allreduce(
            MPILibrary.inPlace, buffer.baseAddress! + chunk.lowerBound, Int32(chunk.count),
            datatype(Scalar.self), mpi.sum, mpi.world), "MPI_Allreduce")
      }
      if reduction == .mean, size > 1 {
        let scale = 1 / Scalar(size)
        for i in buffer.indices { buffer[i] *= scale }
      }
    }
  }

  /// Replaces `tensor` on every process by rank `root`'s; the shapes must
  /// agree. The sizes are compared first, as for ``allReduce(_:_:)``.
  public func broadcast<Scalar: TensorScalar>(_ tensor: inout Tensor<Scalar>, from root: Int) {
    precondition(
      (0..<size).contains(root), "broadcast: root \(root) is not a rank of 0..<\(size)")
    requireSameCount(tensor.scalarCount, "broadcast")
    tensor.withUnsafeMutableBufferPointer { buffer in
      for chunk in chunks(buffer.count) {
        succeed(
          mpi.broadcast(
            buffer.baseAddress! + chunk.lowerBound, Int32(chunk.count), datatype(Scalar.self),
            Int32(root), mpi.world), "MPI_Bcast")
      }
    }
  }

  /// Returns when every process has called it.
  public func barrier() {
    succeed(mpi.barrier(mpi.world), "MPI_Barrier")
  }

  /// Every process's `tensor`, stacked in rank order: `[size] + shape`.
  /// Every process passes a tensor of the same shape.
  public func allGather<Scalar: TensorScalar>(_ tensor: Tensor<Scalar>) -> Tensor<Scalar> {
    let count = tensor.scalarCount
    precondition(count <= Int(Int32.max), "allGather: \(count) scalars is more than MPI can count")
    requireSameCount(count, "allGather")
    var result = Tensor<Scalar>.zeros([size] + tensor.shape)
    tensor.withUnsafeBufferPointer { source in
      result.withUnsafeMutableBufferPointer { target in
        succeed(
          mpi.allgather(
            source.baseAddress, Int32(count), datatype(Scalar.self), target.baseAddress,
            Int32(count), datatype(Scalar.self), mpi.world), "MPI_Allgather")
      }
    }
    return result
  }

  /// The number of scalars every process passes to a collective, by rank.
  func counts(_ count: Int) -> [Int] {
    var mine = Int64(count)
    var all = [Int64](repeating: 0, count: size)
    all.withUnsafeMutableBufferPointer { target in
      succeed(
        mpi.allgather(
          &mine, 1, mpi.int64, target.baseAddress, 1, mpi.int64, mpi.world), "MPI_Allgather")
    }
    return all.map { Int($0) }
  }

  /// Ends the job, on every process, when the processes pass collective
  /// `call` different numbers of scalars: the message gives them by rank.
  private func requireSameCount(_ count: Int, _ call: String) {
    let all = counts(count)
    guard all.contains(where: { $0 != all[0] }) else { return }
    let sizes = all.enumerated().map { "rank \($0.offset): \($0.element)" }
    FileHandle.standardError.write(
      Data(
        ("error: rank \(rank) of \(size): \(call) needs the same number of scalars on every "
          + "process, found \(sizes.joined(separator: ", "))\n").utf8))
    abort(code: 1)
  }

  /// Checks that every process has the same `settings` (name and value,
  /// in the same order on every process): the processes exchange them and
  /// every one compares them all.
  ///
  /// - Throws: ``DistributedError`` on every process when a setting
  ///   differs, naming each such setting and the ranks' values, for
  ///   example "the processes disagree on seed (rank 0: 1, rank 1: 2)".
  public func requireAgreement(on settings: [(name: String, value: String)])
    throws(DistributedError)
  {
    let text = settings.map { "\($0.name)=\($0.value)" }.joined(separator: "\n")
    let bytes = Array(text.utf8)
    let lengths = counts(bytes.count)
    let width = lengths.max() ?? 0
    var padded = bytes.map { Int64($0) } + [Int64](repeating: 0, count: width - bytes.count)
    var all = [Int64](repeating: 0, count: width * size)
    if width > 0 {
      all.withUnsafeMutableBufferPointer { target in
        padded.withUnsafeMutableBufferPointer { source in
          succeed(
            mpi.allgather(
              source.baseAddress, Int32(width), mpi.int64, target.baseAddress, Int32(width),
              mpi.int64, mpi.world), "MPI_Allgather")
        }
      }
    }
    let ranks: [[String: String]] = (0..<size).map { rank in
      let slice = all[rank * width..<rank * width + lengths[rank]].map { UInt8(clamping: $0) }
      var values: [String: String] = [:]
      for line in String(decoding: slice, as: UTF8.self).split(separator: "\n") {
        let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        values[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
      }
      return values
    }
    var names = settings.map(\.name)
    for values in ranks { names += values.keys.sorted().filter { !names.contains($0) } }
    let differing = names.compactMap { name -> String? in
      let values = ranks.map { $0[name] ?? "(none)" }
      guard values.contains(where: { $0 != values[0] }) else { return nil }
      let byRank = values.enumerated().map { "rank \($0.offset): \($0.element)" }
      return "\(name) (\(byRank.joined(separator: ", ")))"
    }
    guard differing.isEmpty else {
      throw DistributedError(
        "the processes disagree on \(differing.joined(separator: "; ")); every process of a "
          + "job must start the same run")
    }
  }

  /// Ends every process of the job with `code`: `mpirun` stops the others.
  public func abort(code: Int32) -> Never {
    _ = mpi.abort(mpi.world, code)
    exit(code)
  }

  /// Shuts MPI down; no collective may follow. Every process calls it
  /// before it exits normally.
  public func finalize() {
    var done: Int32 = 0
    _ = mpi.finalized(&done)
    if done == 0 { _ = mpi.finalize() }
  }

  /// Starts summing `count` Floats at `buffer` across the processes without
  /// waiting (`MPI_Iallreduce`); the buffer must stay put until
  /// ``PendingReduction/wait()`` returns.
  func startSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) -> PendingReduction {
    precondition(count <= Int(Int32.max), "allReduce: bucket of \(count) scalars is too large")
    let request = UnsafeMutablePointer<MPILibrary.Request>.allocate(capacity: 1)
    request.initialize(to: nil)
    succeed(
      mpi.iallreduce(
        MPILibrary.inPlace, buffer, Int32(count), mpi.float, mpi.sum, mpi.world, request),
      "MPI_Iallreduce")
    return PendingReduction(mpi: mpi, request: request)
  }

  private func datatype<Scalar>(_ type: Scalar.Type) -> MPILibrary.Handle {
    if type == Float.self { return mpi.float }
    precondition(type == Double.self, "MPI collectives take Float or Double, not \(type)")
    return mpi.double
  }

  /// MPI counts elements in `Int32`: ranges of at most `Int32.max`.
  private func chunks(_ count: Int) -> [Range<Int>] {
    stride(from: 0, to: count, by: Int(Int32.max)).map {
      $0..<Swift.min(count, $0 + Int(Int32.max))
    }
  }

  /// OpenMPI's default error handler ends the job on a failed call; a
  /// failure that still returns is a broken job, which cannot go on.
  private func succeed(_ code: Int32, _ call: String) {
    guard code == 0 else {
      FileHandle.standardError.write(
        Data("error: rank \(rank): \(call) failed with MPI error code \(code)\n".utf8))
      abort(code: 1)
    }
  }
}

/// An all-reduce that has been started and not yet waited for.
final class PendingReduction {
  private let mpi: MPILibrary
  private let request: UnsafeMutablePointer<MPILibrary.Request>
  private(set) var isComplete = false

  init(mpi: MPILibrary, request: UnsafeMutablePointer<MPILibrary.Request>) {
    self.mpi = mpi
    self.request = request
  }

  deinit {
    precondition(isComplete, "a started all-reduce was never waited for")
    request.deallocate()
  }

  /// Lets MPI make progress on the reduction; `true` once it is complete.
  @discardableResult
  func poll() -> Bool {
    guard !isComplete else { return true }
    var flag: Int32 = 0
    _ = mpi.test(request, &flag, nil)
    isComplete = flag != 0
    return isComplete
  }

  /// Returns when the reduction is complete.
  func wait() {
    guard !isComplete else { return }
    _ = mpi.wait(request, nil)
    isComplete = true
  }
}
