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
    cosineAnnealed(
      from: base, to: minimum, progress: Double(Swift.min(epoch, epochs)) / Double(epochs))
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

/// A linear warmup followed by cosine annealing, the usual recipe for
/// transformers: the rate climbs from `base / (warmupEpochs + 1)` to the
/// base rate over the first `warmupEpochs` epochs, then falls along a half
/// cosine towards `minimum`, which epoch `epochs` would reach.
///
/// For epoch `e`: `base · (e + 1) / (warmupEpochs + 1)` while
/// `e < warmupEpochs`, then
/// `minimum + (base − minimum)(1 + cos(π·(e − w) / (epochs − w))) / 2`.
public final class WarmupCosineSchedule: LearningRateSchedule {
  public let warmupEpochs: Int
  public let epochs: Int
  public let minimum: Double

  /// - Throws: ``HyperparameterError`` unless `0 ≤ warmupEpochs < epochs`
  ///   and `minimum ≥ 0`.
  public init(warmupEpochs: Int, epochs: Int, minimum: Double = 0) throws(HyperparameterError) {
    guard warmupEpochs >= 0, warmupEpochs < epochs else {
      throw HyperparameterError(
        "WarmupCosineSchedule: warmupEpochs must be in 0..<epochs, found \(warmupEpochs) warmup epochs of \(epochs)"
      )
    }
    guard minimum >= 0 else {
      throw HyperparameterError(
        "WarmupCosineSchedule: minimum must not be negative, found \(minimum)")
    }
    self.warmupEpochs = warmupEpochs
    self.epochs = epochs
    self.minimum = minimum
  }

  public func learningRate(epoch: Int, base: Double, metric: Double?) -> Double {
    if epoch < warmupEpochs { return base * Double(epoch + 1) / Double(warmupEpochs + 1) }
    let progress = Double(Swift.min(epoch, epochs) - warmupEpochs) / Double(epochs - warmupEpochs)
    return cosineAnnealed(from: base, to: minimum, progress: progress)
  }
}

/// The rate a cosine takes from `base` (progress 0) down to `minimum`
/// (progress 1).
func cosineAnnealed(from base: Double, to minimum: Double, progress: Double) -> Double {
  minimum + (base - minimum) * (1 + Foundation.cos(Double.pi * progress)) / 2
}
