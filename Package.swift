// swift-tools-version: 6.2
import Foundation
import PackageDescription

// The kernels are written for SIMD registers; on x86-64 they are compiled for
// at least the x86-64-v3 feature set (AVX2 + FMA), which measured four times
// faster than the default target. Set CORTEX_PORTABLE=1 to build for the
// baseline x86-64 target instead (machines without AVX2).
let portable = ProcessInfo.processInfo.environment["CORTEX_PORTABLE"] == "1"
var kernelFlags: [SwiftSetting] = []
#if arch(x86_64)
  if !portable {
    kernelFlags.append(.unsafeFlags(["-target-cpu", "haswell"]))
    kernelFlags.append(.define("CORTEX_FMA"))
  }
#endif

// The library is optimized in debug builds too: unoptimized, its kernels
// run 10–50 times slower, and the tests train real networks.
let libraryFlags = kernelFlags + [.unsafeFlags(["-O"], .when(configuration: .debug))]

let playgrounds = [
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
    .target(
      name: "Cortex",
      dependencies: ["CZlib"],
      resources: [.copy("Data/MNIST")],
      swiftSettings: libraryFlags
    ),
    .executableTarget(
      name: "CortexCLI",
      dependencies: ["Cortex"],
      swiftSettings: kernelFlags
    ),
    .testTarget(
      name: "CortexTests",
      dependencies: ["Cortex", "CortexCLI"],
      swiftSettings: kernelFlags
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
