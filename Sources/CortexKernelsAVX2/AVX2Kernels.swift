import CortexKernels

/// The kernels compiled for AVX2 and FMA (x86-64-v3).
public enum AVX2Kernels: KernelSet {
  public typealias FloatVector = SIMD8<Float>
  public typealias DoubleVector = SIMD4<Double>
  public static var instructionSet: InstructionSet { .avx2 }
}
