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
