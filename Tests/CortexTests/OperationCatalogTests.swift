import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Every row of the catalog behind `cortex gradcheck` passes, and the
/// catalog covers the convolutional-network operations.
@Suite struct OperationCatalogTests {
  static let names = OperationCheck.all.map(\.name)

  @Test(arguments: OperationCatalogTests.names)
  func rowPasses(name: String) throws {
    let check = try #require(OperationCheck.all.first { $0.name == name })
    let report = check.run()
    #expect(report.passed, "\(name) \(check.shapes): \(report)")
  }

  /// The gradient of the gradient of every row, in Double, against
  /// differences of the first-order gradient (kinks: the catalog's inputs
  /// keep every max, relu and hinge away from its ties).
  @Test(arguments: OperationCatalogTests.names)
  func rowPassesTheSecondOrderCheck(name: String) throws {
    let check = try #require(OperationCheck.all.first { $0.name == name })
    let run = try #require(check.runSecondOrder)
    let report = run()
    #expect(report.passed, "\(name) \(check.shapes): \(report)")
  }

  /// At the checker's defaults, every row and every layer passes the first-
  /// and the second-order check (full mode) on every instruction set this
  /// CPU runs: each set in turn, in a process of its own, so that the
  /// choice of kernels does not reach the other tests.
  @Test func everyRowAndLayerPassesBothOrdersOnEveryInstructionSet() async {
    let result = await #expect(
      processExitsWith: .success, observing: [\.standardErrorContent]
    ) {
      var failures: [String] = []
      for set in InstructionSet.allCases where set.isSupported {
        try! ComputeSettings.setInstructionSet(set)
        for check in OperationCheck.all {
          for (order, report) in [(1, check.run()), (2, check.runSecondOrder?())] {
            if let report, !report.passed { failures.append("\(set) order \(order) \(check.name)") }
          }
        }
        for layer in LayerCheck.all {
          for order in 1...2 where !layer.run(.full, order).passed {
            failures.append("\(set) order \(order) \(layer.name)")
          }
        }
      }
      if !failures.isEmpty {
        FileHandle.standardError.write(Data(("failed: " + failures.joined(separator: "; ")).utf8))
        exit(1)
      }
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(!message.contains("failed:"), "\(message)")
  }

  @Test func namesAreUnique() {
    #expect(Set(Self.names).count == Self.names.count)
  }

  @Test func coversTheNetworkOperations() {
    let required = [
      "conv2d", "conv2d (stride 2, padding 1)", "conv2d (dilation 2)",
      "conv2d (no bias, 3×2 filter)", "maxPool2d (2×2, stride 2)", "avgPool2d (2×2, stride 2)",
      "globalAvgPool2d", "maxout (dense)", "maxout (4-D)", "linear", "softmax", "logSoftmax",
      "logSumExp", "softmaxCrossEntropy", "crossEntropy", "multiclassHingeLoss", "leakyRelu",
      "dropout (fixed generator)", "batchNorm (training)", "concatenate (channels)",
      "residual add",
    ]
    for name in required {
      #expect(Self.names.contains(name), "missing \(name)")
    }
  }
}
