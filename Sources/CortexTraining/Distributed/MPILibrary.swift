import CortexCore
import CortexData
import CortexNN
import Foundation

/// The MPI library, loaded at run time with `dlopen`: nothing about MPI is
/// needed to build Cortex or to run it in one process.
///
/// It targets OpenMPI's ABI (Debian's `openmpi-bin`): its handles
/// (`MPI_COMM_WORLD`, `MPI_FLOAT`, `MPI_SUM`) are the addresses of global
/// symbols (`ompi_mpi_comm_world`, …), `MPI_IN_PLACE` is `(void *) 1` and
/// `MPI_STATUS_IGNORE` is null.
final class MPILibrary: @unchecked Sendable {
  typealias Handle = UnsafeMutableRawPointer
  typealias Request = UnsafeMutableRawPointer?

  let initialized: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
  let initialize: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32
  let finalized: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
  let finalize: @convention(c) () -> Int32
  let commRank: @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
  let commSize: @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
  let allreduce:
    @convention(c) (
      UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle, Handle
    ) -> Int32
  let iallreduce:
    @convention(c) (
      UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle, Handle,
      UnsafeMutablePointer<Request>
    ) -> Int32
  let wait: @convention(c) (UnsafeMutablePointer<Request>, UnsafeMutableRawPointer?) -> Int32
  let test:
    @convention(c) (
      UnsafeMutablePointer<Request>, UnsafeMutablePointer<Int32>, UnsafeMutableRawPointer?
    ) -> Int32
  let broadcast: @convention(c) (UnsafeMutableRawPointer?, Int32, Handle, Int32, Handle) -> Int32
  let barrier: @convention(c) (Handle) -> Int32
  let allgather:
    @convention(c) (
      UnsafeRawPointer?, Int32, Handle, UnsafeMutableRawPointer?, Int32, Handle, Handle
    ) -> Int32
  let abort: @convention(c) (Handle, Int32) -> Int32

  /// `MPI_COMM_WORLD`, `MPI_FLOAT`, `MPI_DOUBLE`, `MPI_INT64_T` and `MPI_SUM`.
  let world: Handle
  let float: Handle
  let double: Handle
  let int64: Handle
  let sum: Handle

  /// OpenMPI's `MPI_IN_PLACE`.
  static var inPlace: UnsafeRawPointer? { UnsafeRawPointer(bitPattern: 1) }

  /// The library names tried in order after `CORTEX_MPI_LIBRARY`.
  static var defaultNames: [String] {
    #if os(macOS)
      ["libmpi.40.dylib", "libmpi.dylib"]
    #else
      ["libmpi.so.40", "libmpi.so"]
    #endif
  }

  /// The process's MPI library, loaded on first use: the path in
  /// `CORTEX_MPI_LIBRARY` when set, and only that one, or the first of
  /// ``defaultNames`` that loads.
  static let shared = Result { () throws(DistributedError) in
    try MPILibrary(environment: ProcessInfo.processInfo.environment)
  }

  /// The library `CORTEX_MPI_LIBRARY` names in `environment`, or the
  /// first of ``defaultNames`` when it is not set.
  ///
  /// - Throws: ``DistributedError`` naming the file and the loader's
  ///   reason when the library `CORTEX_MPI_LIBRARY` names cannot be
  ///   loaded: a setting that names a library is never replaced by another.
  convenience init(environment: [String: String]) throws(DistributedError) {
    guard let path = environment["CORTEX_MPI_LIBRARY"] else {
      try self.init(names: Self.defaultNames)
      return
    }
    guard !path.isEmpty else {
      throw DistributedError(
        "CORTEX_MPI_LIBRARY is empty; set it to the path of libmpi or unset it")
    }
    try self.init(names: [path], setting: "CORTEX_MPI_LIBRARY")
  }

  /// Loads the first of `names` (paths, or names the dynamic loader
  /// searches for) that loads; `setting` names the environment variable
  /// the one name came from, for the messages.
  init(names: [String], setting: String? = nil) throws(DistributedError) {
    var reasons: [String] = []
    var opened: UnsafeMutableRawPointer?
    for name in names {
      // Global symbols: OpenMPI's own plugins resolve libmpi's symbols.
      if let handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL) {
        opened = handle
        break
      }
      reasons.append(dlerror().map { String(cString: $0) } ?? name)
    }
    if opened == nil, let setting {
      throw DistributedError(
        "\(setting) names \(names[0]), which cannot be loaded: "
          + reasons.joined(separator: "; "))
    }
    guard let library = opened else {
      throw DistributedError(
        "cannot load the MPI library (tried \(names.joined(separator: ", "))): "
          + reasons.joined(separator: "; ")
          + "; install OpenMPI (on Debian or Ubuntu: apt-get install openmpi-bin) "
          + "or set CORTEX_MPI_LIBRARY to the path of libmpi")
    }
    func symbol(_ name: String) throws(DistributedError) -> UnsafeMutableRawPointer {
      guard let address = dlsym(library, name) else {
        throw DistributedError(
          (setting.map { "\($0) names \(names[0]), which" } ?? "the MPI library")
            + " has no symbol '\(name)'; Cortex needs OpenMPI "
            + "(on Debian or Ubuntu: apt-get install openmpi-bin)")
      }
      return address
    }
    func function<F>(_ name: String, as type: F.Type) throws(DistributedError) -> F {
      unsafeBitCast(try symbol(name), to: type)
    }
    initialized = try function("MPI_Initialized", as: type(of: initialized))
    initialize = try function("MPI_Init", as: type(of: initialize))
    finalized = try function("MPI_Finalized", as: type(of: finalized))
    finalize = try function("MPI_Finalize", as: type(of: finalize))
    commRank = try function("MPI_Comm_rank", as: type(of: commRank))
    commSize = try function("MPI_Comm_size", as: type(of: commSize))
    allreduce = try function("MPI_Allreduce", as: type(of: allreduce))
    iallreduce = try function("MPI_Iallreduce", as: type(of: iallreduce))
    wait = try function("MPI_Wait", as: type(of: wait))
    test = try function("MPI_Test", as: type(of: test))
    broadcast = try function("MPI_Bcast", as: type(of: broadcast))
    barrier = try function("MPI_Barrier", as: type(of: barrier))
    allgather = try function("MPI_Allgather", as: type(of: allgather))
    abort = try function("MPI_Abort", as: type(of: abort))
    world = try symbol("ompi_mpi_comm_world")
    float = try symbol("ompi_mpi_float")
    double = try symbol("ompi_mpi_double")
    int64 = try symbol("ompi_mpi_int64_t")
    sum = try symbol("ompi_mpi_op_sum")
  }

  /// Throws when an MPI call did not return `MPI_SUCCESS` (OpenMPI's
  /// default error handler aborts before that happens).
  func check(_ code: Int32, _ call: String) throws(DistributedError) {
    guard code == 0 else { throw DistributedError("\(call) failed with MPI error code \(code)") }
  }
}

/// A distributed run that cannot start or go on: the message says what was
/// expected and what was found.
public struct DistributedError: Error, CustomStringConvertible, Equatable, Sendable {
  public let description: String
  public init(_ description: String) { self.description = description }
}
