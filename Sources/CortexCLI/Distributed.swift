import Cortex
import Foundation

/// The processes of a distributed `cortex` run, once started.
enum DistributedRun {
  /// The group of this run, `nil` in a one-process run.
  nonisolated(unsafe) static var group: ProcessGroup?

  /// Whether this process prints progress and writes files: rank 0, or
  /// the only process.
  static var isPrimary: Bool { (group?.rank ?? 0) == 0 }

  /// Joins the MPI job when `--distributed` is given or `mpirun` started
  /// this process, and returns its group; `nil` otherwise.
  ///
  /// Unless `--threads` says otherwise, the processes on one machine share
  /// its cores.
  static func start(_ options: Arguments) throws -> ProcessGroup? {
    guard options.flag("distributed") || ProcessGroup.isLaunchedByMPI else { return nil }
    let group = try ProcessGroup.world()
    self.group = group
    if options.string("threads") == nil {
      ComputeSettings.threadCount = max(
        1, ProcessInfo.processInfo.activeProcessorCount / ProcessGroup.localSize)
    }
    return group
  }

  /// Ends the run after `error`: in a distributed run with more than one
  /// process, every process of the job (`mpirun` stops the others).
  static func fail(_ error: any Error) -> Never {
    if let group {
      printError("rank \(group.rank) of \(group.size): \(error)")
      if group.size > 1 { group.abort(code: 2) }
      group.finalize()
    } else {
      printError("\(error)")
    }
    exit(2)
  }
}
