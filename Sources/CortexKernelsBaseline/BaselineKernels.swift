import CortexKernels

/// The kernels compiled for the baseline x86-64 target (SSE2), or arm64 (NEON): 128-bit registers.
/// On x86-64 they multiply and add separately; arm64 fuses them.
public enum BaselineKernels: KernelSet {
  public typealias FloatVector = SIMD4<Float>
  public typealias DoubleVector = SIMD2<Double>
  #if arch(arm64)
    public static var instructionSet: InstructionSet { .neon }
  #else
    public static var instructionSet: InstructionSet { .baseline }
  #endif
}
