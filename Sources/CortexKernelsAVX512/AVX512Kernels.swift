import CortexKernels

/// The kernels compiled for AVX-512 (x86-64-v4).
public enum AVX512Kernels: KernelSet {
  public typealias FloatVector = SIMD16<Float>
  public typealias DoubleVector = SIMD8<Double>
  public static var instructionSet: InstructionSet { .avx512 }
}
