#include "cpu_features.h"

#if defined(__x86_64__)
#include <cpuid.h>
#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif

static int bit(unsigned value, int index) { return (value >> index) & 1; }

/// The register state the operating system saves (XCR0).
static unsigned long long enabled_state(void) {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((unsigned long long)edx << 32) | eax;
}

/// Whether the operating system saves the AVX-512 state. macOS enables it
/// on a thread's first AVX-512 instruction, so XCR0 does not say; sysctl does.
static int saves_avx512_state(unsigned long long xcr0) {
#if defined(__APPLE__)
  int value = 0;
  size_t size = sizeof value;
  (void)xcr0;
  return sysctlbyname("hw.optional.avx512f", &value, &size, 0, 0) == 0 && value == 1;
#else
  return (xcr0 & 0xe6) == 0xe6;
#endif
}

int cortex_cpu_features(void) {
  unsigned a, b, c1, d, b7, c7, cx;
  if (!__get_cpuid(1, &a, &b, &c1, &d)) return 0;
  if (!__get_cpuid_count(7, 0, &a, &b7, &c7, &d)) return 0;
  if (!__get_cpuid(0x80000001, &a, &b, &cx, &d)) return 0;
  // x86-64-v2: SSE3, SSSE3, SSE4.1, SSE4.2, POPCNT, CX16, LAHF.
  int v2 = bit(c1, 0) && bit(c1, 9) && bit(c1, 19) && bit(c1, 20) && bit(c1, 23)
    && bit(c1, 13) && bit(cx, 0);
  // x86-64-v3: AVX, AVX2, FMA, BMI1, BMI2, F16C, LZCNT, MOVBE, and the
  // OS saving the YMM registers (OSXSAVE, then XCR0).
  int v3 = v2 && bit(c1, 28) && bit(b7, 5) && bit(c1, 12) && bit(b7, 3) && bit(b7, 8)
    && bit(c1, 29) && bit(cx, 5) && bit(c1, 22) && bit(c1, 27);
  if (!v3) return 0;
  unsigned long long xcr0 = enabled_state();
  if ((xcr0 & 0x6) != 0x6) return 0;
  int features = CORTEX_CPU_X86_64_V3;
  // x86-64-v4: AVX-512 F, BW, CD, DQ, VL, and the OS saving the ZMM state.
  if (bit(b7, 16) && bit(b7, 30) && bit(b7, 28) && bit(b7, 17) && bit(b7, 31)
      && saves_avx512_state(xcr0)) {
    features |= CORTEX_CPU_X86_64_V4;
  }
  return features;
}

#else
int cortex_cpu_features(void) { return 0; }
#endif
