#ifndef CORTEX_CPU_FEATURES_H
#define CORTEX_CPU_FEATURES_H

/// The instruction sets this CPU and its operating system support, as bits:
/// CORTEX_CPU_X86_64_V3 (AVX, AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE and
/// the x86-64-v2 set) and CORTEX_CPU_X86_64_V4 (x86-64-v3 plus AVX-512
/// F, BW, CD, DQ and VL). 0 on other architectures.
int cortex_cpu_features(void);

#define CORTEX_CPU_X86_64_V3 1
#define CORTEX_CPU_X86_64_V4 2

#endif
