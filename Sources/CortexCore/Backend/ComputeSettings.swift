import CortexKernels
import CortexKernelsAVX2
import CortexKernelsAVX512
import CortexKernelsBaseline
import Foundation
import Synchronization

/// A family of vector instructions the kernels are compiled for:
/// `.avx512`, `.avx2`, `.baseline` (x86-64) or `.neon` (arm64).
public typealias InstructionSet = CortexKernels.InstructionSet

/// Settings that control how the compute kernels run.
public enum ComputeSettings {
  /// The number of threads a parallel kernel uses, the calling thread
  /// included. Defaults to the number of active processors; `1` runs every
  /// kernel on the calling thread alone.
  ///
  /// - Precondition: the new value is at least 1.
  public static var threadCount: Int {
    get { WorkerPool.threadCount }
    set { WorkerPool.threadCount = newValue }
  }

  /// The instruction set the kernels use: the widest the CPU supports,
  /// unless the environment variable `CORTEX_ISA` (`avx512`, `avx2`,
  /// `baseline` or `neon`) or ``setInstructionSet(_:)`` chose a narrower
  /// one. A `CORTEX_ISA` the CPU cannot run stops the process with a
  /// one-line message on its first kernel.
  public static var instructionSet: InstructionSet {
    let chosen = chosenSet.load(ordering: .relaxed)
    return chosen < 0 ? startingSet : InstructionSet.allCases[chosen]
  }

  /// Makes every later kernel use `set`.
  ///
  /// - Throws: ``InstructionSetError`` when the CPU cannot run `set`.
  public static func setInstructionSet(_ set: InstructionSet) throws {
    guard set.isSupported else { throw InstructionSetError.unsupported(set) }
    chosenSet.store(InstructionSet.allCases.firstIndex(of: set)!, ordering: .relaxed)
  }

  /// The set `CORTEX_ISA` asks for, or the widest the CPU supports when it
  /// is unset or empty.
  ///
  /// - Throws: ``InstructionSetError`` for a name that is not a set, or a
  ///   set the CPU cannot run.
  public static func instructionSetFromEnvironment() throws -> InstructionSet {
    guard let name = ProcessInfo.processInfo.environment["CORTEX_ISA"], !name.isEmpty else {
      return InstructionSet.widest
    }
    guard let set = InstructionSet(rawValue: name.lowercased()) else {
      throw InstructionSetError.unknown(name)
    }
    guard set.isSupported else { throw InstructionSetError.unsupported(set) }
    return set
  }

  /// Runs `iterations` steps of twelve independent chains of multiply-adds
  /// on registers alone, with the current set's widest registers, and
  /// returns the flops done: timed, it gives the single-core limit every
  /// kernel of the set is measured against.
  public static func runFMAPeakLoop(iterations: Int) -> Int {
    let kernels = self.kernels
    let checksum = kernels.fmaPeakLoop(iterations: iterations)
    // The checksum is finite; the test only keeps the loop alive.
    precondition(checksum.isFinite, "fma_peak: the loop's sum overflowed")
    return iterations * kernels.fmaPeakFlopsPerStep
  }

  /// The index in `InstructionSet.allCases` of the set chosen through
  /// ``setInstructionSet(_:)``, or -1 before any.
  private static let chosenSet = Atomic<Int>(-1)

  private static let startingSet: InstructionSet = {
    do {
      return try instructionSetFromEnvironment()
    } catch {
      FileHandle.standardError.write(Data("error: \(error)\n".utf8))
      exit(2)
    }
  }()

  /// The kernels of ``instructionSet``.
  static var kernels: any KernelSet.Type { kernels(for: instructionSet) }

  /// The kernels compiled for `set`.
  static func kernels(for set: InstructionSet) -> any KernelSet.Type {
    switch set {
    case .avx512: AVX512Kernels.self
    case .avx2: AVX2Kernels.self
    case .baseline, .neon: BaselineKernels.self
    }
  }
}

/// An instruction set that cannot be used on this machine.
public enum InstructionSetError: Error, CustomStringConvertible {
  /// `CORTEX_ISA` names no set.
  case unknown(String)
  /// The CPU lacks the set.
  case unsupported(InstructionSet)

  public var description: String {
    let supported = InstructionSet.supported.map(\.rawValue).joined(separator: ", ")
    switch self {
    case .unknown(let name):
      return "CORTEX_ISA=\(name) is not an instruction set; expected one of "
        + "\(InstructionSet.allCases.map(\.rawValue).joined(separator: ", "))"
    case .unsupported(let set):
      return "this CPU cannot run the \(set.rawValue) kernels (\(set)); it supports: \(supported)"
    }
  }
}
