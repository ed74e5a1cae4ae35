import CortexCore
import CortexKernels
import Foundation

/// Optimizers update parameters in place from their gradients. Each keeps
/// its per-parameter state (velocities, moments) in the order of the
/// parameter list it is given, which must stay the same between steps.
///
/// Only the parameters trainable at a step are updated, so freezing one
/// (``Parameter/isTrainable`` set to `false`) or unfreezing it takes effect
/// at the next step. A parameter's state is created at its first update,
/// whenever that comes, and its own update count drives bias corrections.
public protocol Optimizer<Scalar>: AnyObject {
  associatedtype Scalar: TensorScalar
  /// The step size; schedules change it between epochs.
  var learningRate: Double { get set }
  /// Applies one update to each trainable parameter from its gradient; a
  /// parameter whose ``Parameter/isTrainable`` is `false` is left as it is,
  /// state included.
  ///
  /// - Parameters:
  ///   - parameters: the same list, in the same order, at every step.
  ///   - gradients: one per parameter, of its shape.
  func update(_ parameters: [Parameter<Scalar>], gradients: [Tensor<Scalar>])

  /// The names of the state tensors kept per parameter (`velocity`;
  /// `m` and `v`), in the order of each row of ``state``.
  var stateNames: [String] { get }
  /// The state of each parameter, in the order of the parameter list: one
  /// tensor per name in ``stateNames``, or none for a parameter not
  /// updated yet (frozen so far). Empty before the first update.
  var state: [[Tensor<Scalar>]] { get set }
  /// How many updates each parameter has received, in the order of the
  /// parameter list; Adam's bias correction counts a parameter's own
  /// updates, so one unfrozen late starts afresh. Empty before the first
  /// update.
  var updateCounts: [Int] { get set }
  /// The number of steps taken so far, whatever was trainable.
  var stepCount: Int { get set }
}

extension Optimizer {
  /// The state by name, for a checkpoint: `optimizer.step` and, for each
  /// parameter, its state tensors, `optimizer.<parameter name>.<state name>`,
  /// and, when it was not updated at every step (it was frozen for some),
  /// its update count, `optimizer.<parameter name>.step`.
  ///
  /// - Parameter parameterNames: the names of the parameters the optimizer
  ///   updates, in the order it updates them.
  public func stateDictionary(parameterNames: [String]) -> [String: Tensor<Scalar>] {
    var result = ["optimizer.step": Tensor<Scalar>(Scalar(stepCount))]
    for (index, name) in parameterNames.enumerated() {
      guard index < state.count else { continue }
      let count = index < updateCounts.count ? updateCounts[index] : stepCount
      if count != stepCount { result["optimizer.\(name).step"] = Tensor(Scalar(count)) }
      for (slot, tensor) in zip(stateNames, state[index]) {
        result["optimizer.\(name).\(slot)"] = tensor
      }
    }
    return result
  }

  /// Restores the state that ``stateDictionary(parameterNames:)`` saved;
  /// with no `optimizer.` entries at all, the state starts afresh. A
  /// parameter saved with no updates gets its state at its first update.
  ///
  /// - Parameters:
  ///   - stateDictionary: the saved tensors (other entries are ignored).
  ///   - parameterNames: the parameters' names, in update order.
  ///   - shapes: the parameters' shapes, in update order.
  /// - Throws: ``ShapeError`` naming a missing tensor, a shape that differs
  ///   from the parameter's, or a step count that is not a whole number.
  public func load(
    stateDictionary: [String: Tensor<Scalar>], parameterNames: [String], shapes: [[Int]]
  ) throws(ShapeError) {
    guard let step = stateDictionary["optimizer.step"] else {
      state = []
      updateCounts = []
      stepCount = 0
      return
    }
    let steps = try Self.count(step, named: "optimizer.step")
    var loaded: [[Tensor<Scalar>]] = []
    var counts: [Int] = []
    for (name, shape) in zip(parameterNames, shapes) {
      // Without a count of its own, the parameter was updated at every
      // step, unless none of its state was saved: checkpoints written
      // before per-parameter counts existed save no state for a parameter
      // that was never trainable (batch normalization's running statistics).
      let slots = stateNames.map { "optimizer.\(name).\($0)" }
      var count = slots.contains { stateDictionary[$0] != nil } ? steps : 0
      if let saved = stateDictionary["optimizer.\(name).step"] {
        count = try Self.count(saved, named: "optimizer.\(name).step")
      }
      var row: [Tensor<Scalar>] = []
      for key in slots where count > 0 {
        guard let tensor = stateDictionary[key] else {
          throw ShapeError("checkpoint has no optimizer state named '\(key)'")
        }
        guard tensor.shape == shape else {
          throw ShapeError(
            "optimizer state '\(key)' has shape \(tensor.shape), the parameter has \(shape)")
        }
        row.append(tensor)
      }
      loaded.append(row)
      counts.append(count)
    }
    state = loaded
    updateCounts = counts
    stepCount = steps
  }

  /// The non-negative whole number a saved scalar holds.
  private static func count(_ tensor: Tensor<Scalar>, named name: String) throws(ShapeError)
    -> Int
  {
    guard tensor.shape.isEmpty, let count = Int(exactly: Double(tensor.scalar)), count >= 0 else {
      throw ShapeError("\(name) must be a non-negative whole scalar, found \(tensor)")
    }
    return count
  }

  /// Checks the parameters against their gradients and the state, counts
  /// the step and each trainable parameter's update, and creates zero
  /// state (one tensor per name in ``stateNames``) for a parameter at its
  /// first update.
  func beginStep(_ parameters: [Parameter<Scalar>], _ gradients: [Tensor<Scalar>]) {
    precondition(
      parameters.count == gradients.count,
      "\(Self.self): \(parameters.count) parameters but \(gradients.count) gradients")
    for (p, g) in zip(parameters, gradients) {
      precondition(
        p.shape == g.shape,
        "\(Self.self): gradient of shape \(g.shape) for a parameter of shape \(p.shape)")
    }
    precondition(
      state.isEmpty || state.count == parameters.count,
      "\(Self.self): the parameter list changed from \(state.count) to \(parameters.count) parameters"
    )
    stepCount += 1
    if state.isEmpty { state = Array(repeating: [], count: parameters.count) }
    if updateCounts.count != state.count {
      updateCounts = state.map { $0.isEmpty ? 0 : stepCount - 1 }
    }
    for (index, parameter) in parameters.enumerated() where parameter.isTrainable {
      if state[index].isEmpty {
        state[index] = stateNames.map { _ in
          Tensor.zeros(parameter.shape, on: parameter.value.device)
        }
      }
      updateCounts[index] += 1
    }
  }

  /// One step: ``beginStep(_:_:)``, then `rule(i)` applied to each
  /// trainable parameter `i` and its state, on the parameter's backend.
  func step(
    _ parameters: [Parameter<Scalar>], _ gradients: [Tensor<Scalar>],
    rule: (_ index: Int) -> ParameterUpdate<Scalar>
  ) {
    beginStep(parameters, gradients)
    for i in parameters.indices where parameters[i].isTrainable {
      parameters[i].apply(rule(i), gradient: gradients[i], state: &state[i])
    }
  }
}

/// Stochastic gradient descent with momentum, Nesterov momentum and weight
/// decay, as in PyTorch: `g ← g + λp`, `v ← μv + g`, then `p ← p − η·v`
/// (or `p ← p − η·(g + μv)` with Nesterov).
public final class SGD<Scalar: TensorScalar>: Optimizer {
  public var learningRate: Double
  public let momentum: Double
  public let nesterov: Bool
  public let weightDecay: Double
  public var state: [[Tensor<Scalar>]] = []
  public var updateCounts: [Int] = []
  public var stepCount = 0
  public let stateNames = ["velocity"]

  public init(
    learningRate: Double, momentum: Double = 0, nesterov: Bool = false, weightDecay: Double = 0
  ) {
    precondition(!nesterov || momentum > 0, "SGD: Nesterov momentum needs a momentum > 0")
    self.learningRate = learningRate
    self.momentum = momentum
    self.nesterov = nesterov
    self.weightDecay = weightDecay
  }

  public func update(_ parameters: [Parameter<Scalar>], gradients: [Tensor<Scalar>]) {
    let rule = ParameterUpdate.sgd(
      learningRate: Scalar(learningRate), momentum: momentum != 0 ? Scalar(momentum) : nil,
      nesterov: nesterov, weightDecay: Scalar(weightDecay))
    step(parameters, gradients) { _ in rule }
  }
}

/// Adam (Kingma & Ba) with bias correction:
/// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
/// `p ← p − η · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)`, `t` counting the
/// parameter's own updates.
public final class Adam<Scalar: TensorScalar>: Optimizer {
  public var learningRate: Double
  public let beta1: Double
  public let beta2: Double
  public let epsilon: Double
  public let weightDecay: Double
  public var state: [[Tensor<Scalar>]] = []
  public var updateCounts: [Int] = []
  public var stepCount = 0
  public let stateNames = ["m", "v"]

  public init(
    learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
    weightDecay: Double = 0
  ) {
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.weightDecay = weightDecay
  }

  public func update(_ parameters: [Parameter<Scalar>], gradients: [Tensor<Scalar>]) {
    adamStep(
      parameters, gradients, beta1: beta1, beta2: beta2, epsilon: epsilon,
      gradientDecay: weightDecay, decoupledDecay: 0)
  }
}

extension Optimizer {
  /// One bias-corrected Adam step on the state `[m, v]`, with
  /// `gradientDecay · p` added to each gradient (Adam's L2 term) and each
  /// weight first shrunk by `learningRate · decoupledDecay` (AdamW's).
  func adamStep(
    _ parameters: [Parameter<Scalar>], _ gradients: [Tensor<Scalar>], beta1: Double,
    beta2: Double, epsilon: Double, gradientDecay: Double, decoupledDecay: Double
  ) {
    step(parameters, gradients) { i in
      // Bias correction by the parameter's own count of updates.
      let updates = Double(updateCounts[i])
      let correction1 = 1 - Foundation.pow(beta1, updates)
      let correction2 = 1 - Foundation.pow(beta2, updates)
      return .adam(
        beta1: Scalar(beta1), beta2: Scalar(beta2), epsilon: Scalar(epsilon),
        gradientDecay: Scalar(gradientDecay), shrink: Scalar(1 - learningRate * decoupledDecay),
        stepSize: Scalar(learningRate / correction1),
        rootCorrection: Scalar(correction2.squareRoot()))
    }
  }
}

/// RMSProp (Hinton): `v ← αv + (1−α)g²`, `p ← p − η·g / (√v + ε)`.
public final class RMSProp<Scalar: TensorScalar>: Optimizer {
  public var learningRate: Double
  public let alpha: Double
  public let epsilon: Double
  public var state: [[Tensor<Scalar>]] = []
  public var updateCounts: [Int] = []
  public var stepCount = 0
  public let stateNames = ["square_average"]

  public init(learningRate: Double = 1e-2, alpha: Double = 0.99, epsilon: Double = 1e-8) {
    self.learningRate = learningRate
    self.alpha = alpha
    self.epsilon = epsilon
  }

  public func update(_ parameters: [Parameter<Scalar>], gradients: [Tensor<Scalar>]) {
    let rule = ParameterUpdate.rmsProp(
      learningRate: Scalar(learningRate), alpha: Scalar(alpha), epsilon: Scalar(epsilon))
    step(parameters, gradients) { _ in rule }
  }
}

/// Adadelta (Zeiler): `v ← ρv + (1−ρ)g²`, `Δ = √(u+ε)/√(v+ε)·g`,
/// `u ← ρu + (1−ρ)Δ²`, `p ← p − η·Δ`.
public final class Adadelta<Scalar: TensorScalar>: Optimizer {
  public var learningRate: Double
  public let rho: Double
  public let epsilon: Double
  public var state: [[Tensor<Scalar>]] = []
  public var updateCounts: [Int] = []
  public var stepCount = 0
  public let stateNames = ["square_average", "acc_delta"]

  public init(learningRate: Double = 1.0, rho: Double = 0.9, epsilon: Double = 1e-6) {
    self.learningRate = learningRate
    self.rho = rho
    self.epsilon = epsilon
  }

  public func update(_ parameters: [Parameter<Scalar>], gradients: [Tensor<Scalar>]) {
    let rule = ParameterUpdate.adadelta(
      learningRate: Scalar(learningRate), rho: Scalar(rho), epsilon: Scalar(epsilon))
    step(parameters, gradients) { _ in rule }
  }
}
