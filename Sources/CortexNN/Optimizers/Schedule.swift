import CortexCore
import Foundation

/// A learning-rate schedule: the rate for each epoch, from the base rate.
public protocol LearningRateSchedule: AnyObject {
  /// The learning rate for `epoch` (counted from 0). `metric` is the last
  /// validation metric where one is known (lower is better), for schedules
  /// that react to it.
  func learningRate(epoch: Int, base: Double, metric: Double?) -> Double
}

/// Keeps the base rate.
public final class ConstantSchedule: LearningRateSchedule {
  public init() {}
  public func learningRate(epoch: Int, base: Double, metric: Double?) -> Double { base }
}

/// Multiplies the rate by `factor` every `stepSize` epochs.
public final class StepDecay: LearningRateSchedule {
  public let stepSize: Int
  public let factor: Double

  public init(stepSize: Int, factor: Double = 0.1) {
    precondition(stepSize > 0, "StepDecay: stepSize must be positive, found \(stepSize)")
    self.stepSize = stepSize
    self.factor = factor
  }

  public func learningRate(epoch: Int, base: Double, metric: Double?) -> Double {
    base * Foundation.pow(factor, Double(epoch / stepSize))
  }
}

/// Cosine annealing from the base rate to `minimum` over `epochs`.
public final class CosineSchedule: LearningRateSchedule {
  public let epochs: Int
  public let minimum: Double

  public init(epochs: Int, minimum: Double = 0) {
    precondition(epochs > 0, "CosineSchedule: epochs must be positive, found \(epochs)")
    self.epochs = epochs
    self.minimum = minimum
  }

  public func learningRate(epoch: Int, base: Double, metric: Double?) -> Double {
    let progress = Double(Swift.min(epoch, epochs)) / Double(epochs)
    return minimum + (base - minimum) * (1 + Foundation.cos(Double.pi * progress)) / 2
  }
}

/// Divides the rate by `divisor` (10 by default) when the metric has not
/// improved for `patience` epochs: ResNet's recipe.
public final class DivideOnPlateau: LearningRateSchedule {
  public let patience: Int
  public let divisor: Double
  private var best = Double.infinity
  private var epochsWithoutImprovement = 0
  private var divisions = 0
  private var lastEpoch = -1

  public init(patience: Int = 2, divisor: Double = 10) {
    self.patience = patience
    self.divisor = divisor
  }

  public func learningRate(epoch: Int, base: Double, metric: Double?) -> Double {
    if let metric, epoch != lastEpoch {
      lastEpoch = epoch
      if metric < best {
        best = metric
        epochsWithoutImprovement = 0
      } else {
        epochsWithoutImprovement += 1
        if epochsWithoutImprovement > patience {
          divisions += 1
          epochsWithoutImprovement = 0
        }
      }
    }
    return base / Foundation.pow(divisor, Double(divisions))
  }
}
