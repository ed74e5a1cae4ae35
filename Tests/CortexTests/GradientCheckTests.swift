import Foundation
import Testing

@testable import Cortex

@Suite struct GradientCheckTests {
  /// Every differentiable operation, in Double, against central
  /// differences: the CS231n bar of a relative error below 1e-7.
  @Test(arguments: OperationCase.all)
  func doublePrecision(_ operation: OperationCase) {
    let report = checkGradients(at: operation.inputs, of: operation.function)
    #expect(report.inputs.count == operation.inputs.count)
    #expect(report.tolerance == 1e-7)
    #expect(report.maxRelativeError <= 1e-7, "\(report)")
    #expect(report.inputs.allSatisfy { $0.passed })
  }
}
