import CortexKernels
import Foundation
import Testing

@testable import CortexCore
@testable import CortexNN

/// Every optimizer configuration against its rule written out as a plain
/// loop over arrays: the parameters and the state must agree bit for bit,
/// in Float and in Double, over a few steps with one parameter frozen for
/// one of them.
@Suite struct OptimizerUpdateTests {
  /// The configurations the optimizers offer.
  enum Configuration: String, CaseIterable, CustomStringConvertible {
    case sgd, sgdWithDecay, sgdWithMomentum, sgdWithNesterovAndDecay
    case adam, adamWithDecay, adamW, rmsProp, adadelta

    var description: String { rawValue }

    func optimizer<S: TensorScalar>(_: S.Type) -> any Optimizer<S> {
      switch self {
      case .sgd: return SGD(learningRate: 0.1)
      case .sgdWithDecay: return SGD(learningRate: 0.1, weightDecay: 0.01)
      case .sgdWithMomentum: return SGD(learningRate: 0.1, momentum: 0.9)
      case .sgdWithNesterovAndDecay:
        return SGD(learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4)
      case .adam: return Adam(learningRate: 0.01)
      case .adamWithDecay: return Adam(learningRate: 0.01, weightDecay: 0.01)
      case .adamW: return AdamW(learningRate: 0.01, weightDecay: 0.01)
      case .rmsProp: return RMSProp(learningRate: 0.01)
      case .adadelta: return Adadelta(learningRate: 1)
      }
    }

    var stateCount: Int {
      switch self {
      case .adam, .adamWithDecay, .adamW, .adadelta: return 2
      default: return 1
      }
    }

    /// One update of `p` by the rule, element by element, with the
    /// hyperparameters of ``optimizer(_:)``; `updates` counts this one.
    func referenceStep<S: TensorScalar>(
      _ p: inout [S], _ g: [S], _ s: inout [[S]], updates: Int
    ) {
      switch self {
      case .sgd, .sgdWithDecay, .sgdWithMomentum, .sgdWithNesterovAndDecay:
        let (lr, mu): (S, S) = (
          0.1, self == .sgdWithMomentum || self == .sgdWithNesterovAndDecay ? 0.9 : 0
        )
        let decay: S =
          self == .sgdWithDecay ? S(0.01) : self == .sgdWithNesterovAndDecay ? S(5e-4) : 0
        for j in p.indices {
          var step = g[j] + decay * p[j]
          if mu != 0 {
            s[0][j] = mu * s[0][j] + step
            step = self == .sgdWithNesterovAndDecay ? step + mu * s[0][j] : s[0][j]
          }
          p[j] -= lr * step
        }
      case .adam, .adamWithDecay, .adamW:
        let learningRate = 0.01
        let (b1, b2, eps) = (S(0.9), S(0.999), S(1e-8))
        let decay = self == .adamWithDecay ? S(0.01) : 0
        let shrink = S(1 - learningRate * (self == .adamW ? 0.01 : 0))
        let stepSize = S(learningRate / (1 - Foundation.pow(0.9, Double(updates))))
        let root2 = S((1 - Foundation.pow(0.999, Double(updates))).squareRoot())
        for j in p.indices {
          let gj = g[j] + decay * p[j]
          p[j] *= shrink
          s[0][j] = b1 * s[0][j] + (1 - b1) * gj
          s[1][j] = b2 * s[1][j] + (1 - b2) * gj * gj
          p[j] -= stepSize * s[0][j] / (s[1][j].squareRoot() / root2 + eps)
        }
      case .rmsProp:
        let (lr, a, eps) = (S(0.01), S(0.99), S(1e-8))
        for j in p.indices {
          s[0][j] = a * s[0][j] + (1 - a) * g[j] * g[j]
          p[j] -= lr * g[j] / (s[0][j].squareRoot() + eps)
        }
      case .adadelta:
        let (lr, r, eps) = (S(1), S(0.9), S(1e-6))
        for j in p.indices {
          s[0][j] = r * s[0][j] + (1 - r) * g[j] * g[j]
          let delta = (s[1][j] + eps).squareRoot() / (s[0][j] + eps).squareRoot() * g[j]
          s[1][j] = r * s[1][j] + (1 - r) * delta * delta
          p[j] -= lr * delta
        }
      }
    }
  }

  /// Five steps on three parameters (the second frozen at the second step;
  /// the third large enough for its update to be shared out among
  /// threads), with fresh random gradients at each step.
  func runMatchesTheReference<S: TensorScalar>(_ configuration: Configuration, _: S.Type) {
    let shapes = [[3, 5], [7], [70, 80]]
    let parameters = shapes.enumerated().map { index, shape in
      Parameter(Tensor<S>.randomUniform(shape, lower: -1, upper: 1, seed: UInt64(index)))
    }
    var expected = parameters.map(\.value.scalars)
    var expectedState = expected.map { _ in [[S]]() }
    var updates = [0, 0, 0]
    let optimizer = configuration.optimizer(S.self)
    for step in 0..<5 {
      parameters[1].isTrainable = step != 1
      let gradients = shapes.enumerated().map { index, shape in
        Tensor<S>.randomUniform(shape, lower: -1, upper: 1, seed: UInt64(100 * step + index + 10))
      }
      optimizer.update(parameters, gradients: gradients)
      for i in parameters.indices where parameters[i].isTrainable {
        if expectedState[i].isEmpty {
          expectedState[i] = Array(
            repeating: Array(repeating: 0, count: expected[i].count),
            count: configuration.stateCount)
        }
        updates[i] += 1
        configuration.referenceStep(
          &expected[i], gradients[i].scalars, &expectedState[i], updates: updates[i])
      }
      for i in parameters.indices {
        #expect(parameters[i].value.scalars == expected[i], "parameter \(i) after step \(step)")
        #expect(optimizer.state[i].map(\.scalars) == expectedState[i], "state \(i), step \(step)")
      }
    }
    #expect(optimizer.updateCounts == [5, 4, 5])
  }

  @Test(arguments: Configuration.allCases)
  func updatesMatchThePlainLoopsBitForBit(configuration: Configuration) {
    runMatchesTheReference(configuration, Float.self)
    runMatchesTheReference(configuration, Double.self)
  }
}
