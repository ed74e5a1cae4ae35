// swift-tools-version: 6.2
import PackageDescription

// One build runs on every CPU. The kernel source (CortexKernels) is
// generic; a small target per instruction set instantiates it, compiled
// for that set's CPU, and the library picks the widest set the CPU
// supports when it starts (CORTEX_ISA=avx512|avx2|baseline forces a
// narrower one). Only those three small targets carry a target CPU.
// An incremental build does not always recompile them when only the body
// of a generic kernel changes: touch their sources (or build clean) before
// measuring or testing such a change.
//
// The kernel targets are optimized in debug builds too: kernels are always
// optimized (unoptimized, generic SIMD code is not specialized and runs
// 10–50 times slower). The library's other targets keep the flag as well:
// without it the debug test suite ran 2.9 times longer (50 s against 17 s),
// mostly in the seeded random generator and the MNIST decoder, which are
// still plain loops of those targets.
let optimizedInDebug = SwiftSetting.unsafeFlags(["-O"], .when(configuration: .debug))

/// A target CPU for one instruction set's kernels, on x86-64 hosts only
/// (the baseline kernels serve arm64, whose default target has NEON).
func targetCPU(_ cpu: String) -> [SwiftSetting] {
  #if arch(x86_64)
    return [.unsafeFlags(["-target-cpu", cpu])]
  #else
    return []
  #endif
}

let instructionSets = [
  ("AVX512", "skylake-avx512"),
  ("AVX2", "haswell"),
  ("Baseline", "x86-64"),
]

let playgrounds = [
  "CharGPT",
  "ComputationalGraph",
  "ConvArithmetic",
  "Hessian",
  "MaxoutApproximation",
  "ModelZoo",
]

let package = Package(
  name: "Cortex",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "Cortex", targets: ["Cortex"]),
    .executable(name: "cortex", targets: ["CortexCLI"]),
  ],
  targets: [
    .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
    .target(name: "CCPUFeatures"),
    .target(
      name: "CortexKernels",
      dependencies: ["CCPUFeatures"],
      swiftSettings: [optimizedInDebug]
    ),
  ]
    + instructionSets.map { name, cpu in
      .target(
        name: "CortexKernels\(name)",
        dependencies: ["CortexKernels"],
        swiftSettings: [optimizedInDebug] + targetCPU(cpu)
      )
    }
    + [
      // The library's layers, each a target that depends only on those
      // before it: core (Tensor, autodiff, operations, checking) → nn
      // (layers, optimizers, models) and data (readers, checkpoints,
      // images) → training runs → the `Cortex` umbrella, which re-exports
      // them all.
      .target(
        name: "CortexCore",
        dependencies: ["CortexKernels"]
          + instructionSets.map { .target(name: "CortexKernels\($0.0)") },
        swiftSettings: [optimizedInDebug]
      ),
      // A backend of plain loops outside CortexCore: the template for a
      // device backend and the tests' oracle.
      .target(
        name: "CortexReferenceBackend",
        dependencies: ["CortexCore", "CortexKernels"]
      ),
      .target(
        name: "CortexNN",
        dependencies: ["CortexCore", "CortexKernels"],
        swiftSettings: [optimizedInDebug]
      ),
      .target(
        name: "CortexData",
        dependencies: ["CZlib", "CortexCore"],
        resources: [.copy("MNIST")],
        swiftSettings: [optimizedInDebug]
      ),
      .target(
        name: "CortexTraining",
        dependencies: ["CortexNN", "CortexData"],
        swiftSettings: [optimizedInDebug]
      ),
      .target(
        name: "Cortex",
        dependencies: ["CortexCore", "CortexNN", "CortexData", "CortexTraining"]
      ),
      .executableTarget(
        name: "CortexCLI",
        dependencies: ["Cortex"]
      ),
      .testTarget(
        name: "CortexTests",
        dependencies: [
          "Cortex", "CortexCore", "CortexNN", "CortexData", "CortexTraining", "CortexCLI",
          "CortexKernels", "CortexReferenceBackend",
        ]
          + instructionSets.map { .target(name: "CortexKernels\($0.0)") }
      ),
    ]
    + playgrounds.map { name in
      .executableTarget(
        name: name,
        dependencies: ["Cortex"],
        path: "Playgrounds/\(name)"
      )
    }
)
