import Synchronization

/// Numeric gradient checking: analytic gradients from the tape compared
/// with central differences, `(f(x + h) − f(x − h)) / 2h`.
///
/// The pass rule is PyTorch gradcheck's, element by element: an element
/// passes when `|a − n| ≤ atol + rtol·|n|`, where `a` is the analytic and
/// `n` the numeric derivative. The defaults in `Double` are gradcheck's,
/// `atol` 1e-5 and `rtol` 1e-3, at both orders; a correct gradient is
/// usually within 1e-9 of its central difference. In `Float` the step is
/// 1e-2, `atol` 1e-4 and `rtol` 1e-2: single precision leaves about seven
/// digits, and a central difference loses half of them.
///
/// The report's relative error of an element is `|a − n| / (|n| + atol/rtol)`:
/// it is at most `rtol` exactly when the element passes, so the largest one
/// says by how much a check passed or failed. The absolute term keeps
/// derivatives that are both nearly zero (an analytic −8e-17 against a
/// numeric 4.7e-11) from dividing rounding noise by rounding noise.
///
/// A function with a non-scalar output is checked through a random
/// projection: the checked scalar is `Σ vᵢ fᵢ(x)` for a seeded random `v`,
/// which tests every row of the Jacobian at once.
///
/// The second-order check (`order: 2`, PyTorch's `gradgradcheck`) applies
/// the same test to the function `x ↦ ∇ₓ⟨w, f(x)⟩` for a seeded random `w`:
/// the gradient of the gradient, from a nested backward pass, against
/// central differences of the first-order gradient. Through an operation
/// whose pullback is not differentiable it returns a failed report naming
/// the operation.

/// The result of a gradient check for one input.
public struct InputGradientReport: Sendable, CustomStringConvertible {
  /// The position of the input in the checked list.
  public let input: Int
  /// The input's name where the check gives one: `input`, or a layer's
  /// parameter name such as `hidden.weight`.
  public package(set) var name: String? = nil
  public let shape: [Int]
  /// The largest relative error over the input's elements,
  /// `|a − n| / (|n| + atol/rtol)`: at most the relative tolerance exactly
  /// when every element passes.
  public let maxRelativeError: Double
  /// The multi-dimensional index of the element with that error (the
  /// worst element).
  public let worstIndex: [Int]
  /// The analytic and numeric derivatives at that element.
  public let analytic: Double
  public let numeric: Double
  public let passed: Bool

  public var description: String {
    let verdict = passed ? "pass" : "FAIL"
    return
      "\(name ?? "input \(input)") \(shape): max relative error \(maxRelativeError) at \(worstIndex) (analytic \(analytic), numeric \(numeric)) \(verdict)"
  }
}

/// The result of ``checkGradients(at:step:tolerance:absoluteTolerance:mode:seed:order:of:)-([Tensor<Scalar>],_,_,_,_,_,_,_)``.
public struct GradientCheckReport: Sendable, CustomStringConvertible {
  /// One report per input; in fast mode, empty when the check passed.
  public let inputs: [InputGradientReport]
  /// The largest relative error found, `|a − n| / (|n| + atol/rtol)` (for
  /// a passing fast check, that of the projected derivative vᵀJu).
  public let maxRelativeError: Double
  /// The relative tolerance, `rtol`.
  public let tolerance: Double
  /// The absolute tolerance, `atol`.
  public let absoluteTolerance: Double
  /// The operation whose pullback is not differentiable, when a
  /// second-order check ran into one: the check then fails, since the
  /// gradient of its gradient cannot be taken.
  public let undifferentiableOperation: String?

  package init(
    inputs: [InputGradientReport], maxRelativeError: Double, tolerance: Double,
    absoluteTolerance: Double, undifferentiableOperation: String? = nil
  ) {
    self.inputs = inputs
    self.maxRelativeError = maxRelativeError
    self.tolerance = tolerance
    self.absoluteTolerance = absoluteTolerance
    self.undifferentiableOperation = undifferentiableOperation
  }

  /// Whether every element passes, `|a − n| ≤ atol + rtol·|n|` (every
  /// relative error is within ``tolerance``).
  public var passed: Bool { undifferentiableOperation == nil && maxRelativeError <= tolerance }

  public var description: String {
    if let name = undifferentiableOperation {
      return
        "gradient check: FAILED: the pullback of '\(name)' is not differentiable, so the gradient of its gradient cannot be taken"
    }
    return
      ([
        "gradient check: max relative error \(maxRelativeError), tolerance atol \(absoluteTolerance) + rtol \(tolerance)·|numeric|: \(passed ? "passed" : "FAILED")"
      ]
      + inputs.map { "  " + $0.description }).joined(separator: "\n")
  }
}

/// How many directions a gradient check probes.
public enum GradientCheckMode: Sendable {
  /// Every element of every input: one pair of evaluations per element.
  case full
  /// One random direction `u` for all inputs at once: compares `vᵀJu` with
  /// a central difference along `u` (two evaluations in all). When it
  /// fails, the full check runs to locate the error.
  case fast
}

/// The relative error used by the checker, `|a − n| / (|n| + atol/rtol)`:
/// at most `rtol` exactly when `|a − n| ≤ atol + rtol·|n|`.
func relativeError(_ a: Double, _ n: Double, absoluteTolerance: Double, tolerance: Double)
  -> Double
{
  Swift.abs(a - n) / (Swift.abs(n) + absoluteTolerance / tolerance)
}

/// Checks the gradients of `f` at `inputs` against central differences.
///
/// - Parameters:
///   - inputs: the points to check at; each is perturbed element by element.
///   - step: the central-difference step `h` (default 1e-6 in `Double`,
///     1e-2 in `Float`; 1e-5 in `Double` at order 2, where the differenced
///     values are gradients, which carry more rounding).
///   - tolerance: the relative tolerance `rtol` (default 1e-3 in
///     `Double`, 1e-2 in `Float`).
///   - absoluteTolerance: the absolute tolerance `atol` (default 1e-5 in
///     `Double`, 1e-4 in `Float`). An element passes when
///     `|a − n| ≤ atol + rtol·|n|`.
///   - mode: `.full` (every element) or `.fast` (one random direction).
///   - seed: the seed of the random projection and direction.
///   - order: 1 checks the gradient; 2 checks the gradient of the
///     gradient (the gradients of all inputs, flattened and joined, as a
///     function of the inputs).
///   - f: the function; it may return a tensor of any shape.
public func checkGradients<Scalar>(
  at inputs: [Tensor<Scalar>], step: Scalar? = nil, tolerance: Double? = nil,
  absoluteTolerance: Double? = nil, mode: GradientCheckMode = .full, seed: UInt64 = 0,
  order: Int = 1, of f: ([Tensor<Scalar>]) -> Tensor<Scalar>
) -> GradientCheckReport {
  precondition(order == 1 || order == 2, "checkGradients: order must be 1 or 2, found \(order)")
  let secondOrderInDouble = order == 2 && Scalar.self == Double.self
  let step = step ?? (secondOrderInDouble ? 1e-5 : Scalar.defaultGradientStep)
  let tolerance = tolerance ?? Scalar.defaultGradientTolerance
  let absoluteTolerance = absoluteTolerance ?? Scalar.defaultGradientAbsoluteTolerance
  precondition(
    tolerance > 0 && absoluteTolerance >= 0,
    "checkGradients: the tolerances must be positive (rtol) and non-negative (atol), found rtol \(tolerance), atol \(absoluteTolerance)"
  )
  var generator = SeededGenerator(seed: seed)
  if order == 2 {
    let shape = withoutRecording { f(inputs) }.shape
    let weights = Tensor<Scalar>.randomUniform(shape, lower: -1, upper: 1, using: &generator)
    let undifferentiable = UndifferentiablePullbacks()
    let report = UndifferentiablePullbacks.$current.withValue(undifferentiable) {
      checkGradients(
        at: inputs, step: step, tolerance: tolerance, absoluteTolerance: absoluteTolerance,
        mode: mode, seed: seed &+ 1
      ) { x in
        let gradients = valueWithPullback(at: x, of: f).pullback(weights)
        return Tensor(concatenating: gradients.map { $0.reshaped(to: [-1]) })
      }
    }
    if let name = undifferentiable.first {
      return GradientCheckReport(
        inputs: report.inputs, maxRelativeError: .infinity, tolerance: tolerance,
        absoluteTolerance: absoluteTolerance, undifferentiableOperation: name)
    }
    return report
  }
  let (value, pullback) = valueWithPullback(at: inputs, of: f)
  let projection =
    value.scalarCount == 1
    ? Tensor<Scalar>.ones(value.shape)
    : Tensor<Scalar>.randomUniform(value.shape, lower: -1, upper: 1, using: &generator)
  let analytic = pullback(projection)
  let projectionScalars = projection.scalars
  func relativeError(_ a: Double, _ n: Double) -> Double {
    CortexCore.relativeError(a, n, absoluteTolerance: absoluteTolerance, tolerance: tolerance)
  }

  /// `Σ vᵢ (f(x + h)ᵢ − f(x − h)ᵢ) / 2h`: differencing element by element
  /// first keeps the rounding of unaffected elements out of the sum.
  func centralDifference(_ plus: [Tensor<Scalar>], _ minus: [Tensor<Scalar>]) -> Double {
    let (up, down) = withoutRecording { (f(plus).scalars, f(minus).scalars) }
    var total = 0.0
    for (i, weight) in projectionScalars.enumerated() {
      let difference = Double(up[i]) - Double(down[i])
      if difference != 0 { total += Double(weight) * difference }
    }
    return total / (2 * Double(step))
  }

  if mode == .fast {
    let directions = inputs.map {
      Tensor<Scalar>.randomUniform($0.shape, lower: -1, upper: 1, using: &generator)
    }
    var projected = 0.0
    for (gradient, direction) in zip(analytic, directions) {
      for (g, d) in zip(gradient.scalars, direction.scalars) { projected += Double(g) * Double(d) }
    }
    let plus = zip(inputs, directions).map { $0 + step * $1 }
    let minus = zip(inputs, directions).map { $0 - step * $1 }
    let numeric = centralDifference(plus, minus)
    let error = relativeError(projected, numeric)
    if error <= tolerance {
      return GradientCheckReport(
        inputs: [], maxRelativeError: error, tolerance: tolerance,
        absoluteTolerance: absoluteTolerance)
    }
    return checkGradients(
      at: inputs, step: step, tolerance: tolerance, absoluteTolerance: absoluteTolerance,
      mode: .full, seed: seed, order: 1, of: f)
  }

  var reports: [InputGradientReport] = []
  for (k, input) in inputs.enumerated() {
    var worst = (error: 0.0, index: 0, analytic: 0.0, numeric: 0.0)
    let analyticScalars = analytic[k].scalars
    for i in 0..<input.scalarCount {
      var plus = inputs
      var minus = inputs
      plus[k][flat: i] += step
      minus[k][flat: i] -= step
      let numeric = centralDifference(plus, minus)
      let a = Double(analyticScalars[i])
      let error = relativeError(a, numeric)
      if error > worst.error || i == 0 || error.isNaN {
        worst = (error, i, a, numeric)
      }
    }
    reports.append(
      InputGradientReport(
        input: k, shape: input.shape, maxRelativeError: worst.error,
        worstIndex: unravel(worst.index, input.shape), analytic: worst.analytic,
        numeric: worst.numeric,
        passed: worst.error <= tolerance))
  }
  let maxError = reports.map(\.maxRelativeError).max() ?? 0
  return GradientCheckReport(
    inputs: reports,
    maxRelativeError: reports.contains { $0.maxRelativeError.isNaN } ? .nan : maxError,
    tolerance: tolerance, absoluteTolerance: absoluteTolerance)
}

/// Checks the gradient (or, with `order: 2`, the gradient of the gradient)
/// of a function of one tensor.
public func checkGradients<Scalar>(
  at x: Tensor<Scalar>, step: Scalar? = nil, tolerance: Double? = nil,
  absoluteTolerance: Double? = nil, mode: GradientCheckMode = .full, seed: UInt64 = 0,
  order: Int = 1, of f: (Tensor<Scalar>) -> Tensor<Scalar>
) -> GradientCheckReport {
  checkGradients(
    at: [x], step: step, tolerance: tolerance, absoluteTolerance: absoluteTolerance, mode: mode,
    seed: seed, order: order
  ) { f($0[0]) }
}

/// The operations whose non-differentiable pullbacks a second-order check
/// ran into. While one is installed, differentiating through such a
/// pullback's gradient notes the operation and gives no gradient, instead
/// of stopping the program: the check then fails, naming it.
final class UndifferentiablePullbacks: @unchecked Sendable {
  @TaskLocal static var current: UndifferentiablePullbacks?

  private let names = Mutex<[String]>([])

  /// The first operation noted.
  var first: String? { names.withLock { $0.first } }

  func note(_ name: String) { names.withLock { $0.append(name) } }
}
