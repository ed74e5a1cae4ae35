import CortexCore
import CortexData
import CortexNN
import Foundation

/// The optimizers a ``TrainingRun`` can use.
public enum OptimizerKind: String, CaseIterable, Sendable {
  /// SGD with Nesterov momentum 0.9 and weight decay 5·10⁻⁴.
  case sgd
  case adam
  case rmsprop
  case adadelta
  /// Adam with decoupled weight decay 0.01.
  case adamw

  /// The learning rate used when none is given.
  public var defaultLearningRate: Double {
    switch self {
    case .sgd: return 0.05
    case .adam, .adamw: return 1e-3
    case .rmsprop: return 1e-3
    case .adadelta: return 1.0
    }
  }

  func make(learningRate: Double) -> any Optimizer<Float> {
    switch self {
    case .sgd:
      return SGD(learningRate: learningRate, momentum: 0.9, nesterov: true, weightDecay: 5e-4)
    case .adam: return Adam(learningRate: learningRate)
    case .rmsprop: return RMSProp(learningRate: learningRate)
    case .adadelta: return Adadelta(learningRate: learningRate)
    case .adamw: return AdamW(learningRate: learningRate)
    }
  }
}

/// The learning-rate schedules a ``TrainingRun`` can use.
public enum ScheduleKind: String, CaseIterable, Sendable {
  /// Cosine annealing to zero over the run's epochs.
  case cosine
  /// Divide by 10 every third of the run.
  case step
  /// Divide by 10 when the test error has not improved for 2 epochs.
  case plateau
  case constant
  /// A linear warmup over the first tenth of the run (at least one epoch),
  /// then cosine annealing.
  case warmupCosine = "warmup-cosine"

  func make(epochs: Int) -> any LearningRateSchedule {
    switch self {
    case .cosine: return CosineSchedule(epochs: epochs)
    case .step: return StepDecay(stepSize: Swift.max(1, epochs / 3))
    case .plateau: return DivideOnPlateau()
    case .constant: return ConstantSchedule()
    case .warmupCosine:
      // One epoch cannot warm up and anneal: it gets the base rate.
      guard epochs > 1 else { return ConstantSchedule() }
      return try! WarmupCosineSchedule(warmupEpochs: Swift.max(1, epochs / 10), epochs: epochs)
    }
  }
}
