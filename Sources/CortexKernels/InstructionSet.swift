import CCPUFeatures

/// A family of vector instructions the kernels are compiled for. One build
/// carries a kernel set for each; the widest one the CPU supports runs.
public enum InstructionSet: String, CaseIterable, Sendable, CustomStringConvertible {
  /// AVX-512 F/BW/CD/DQ/VL (x86-64-v4): 512-bit registers, fused
  /// multiply-add.
  case avx512
  /// AVX2 and FMA (x86-64-v3): 256-bit registers, fused multiply-add.
  case avx2
  /// The x86-64 baseline (SSE2): 128-bit registers, separate multiply and
  /// add, so its sums round differently from the other sets'.
  case baseline
  /// arm64 Advanced SIMD: 128-bit registers, fused multiply-add.
  case neon

  /// The sets this CPU and its operating system support, widest first.
  public static let supported: [InstructionSet] = {
    #if arch(x86_64)
      let features = cortex_cpu_features()
      var sets: [InstructionSet] = []
      if features & CORTEX_CPU_X86_64_V4 != 0 { sets.append(.avx512) }
      if features & CORTEX_CPU_X86_64_V3 != 0 { sets.append(.avx2) }
      return sets + [.baseline]
    #elseif arch(arm64)
      return [.neon]
    #else
      return [.baseline]
    #endif
  }()

  /// The widest set this CPU supports.
  public static var widest: InstructionSet { supported[0] }

  /// Whether this CPU can run the set's kernels.
  public var isSupported: Bool { Self.supported.contains(self) }

  /// Whether the set's kernels fuse multiplies and adds. The sets that do
  /// give bit-identical results; the baseline rounds each product first.
  @inlinable public var fusesMultiplyAdd: Bool { self != .baseline }

  /// The name people use for the set: `AVX-512`, `AVX2+FMA`, ...
  public var description: String {
    switch self {
    case .avx512: "AVX-512 (x86-64-v4)"
    case .avx2: "AVX2+FMA (x86-64-v3)"
    case .baseline: "baseline x86-64 (SSE2)"
    case .neon: "arm64 NEON"
    }
  }
}
