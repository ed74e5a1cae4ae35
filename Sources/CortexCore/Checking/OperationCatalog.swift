/// Every differentiable operation of the library with a small Double
/// example, for `cortex gradcheck` and the test suite: one source of truth
/// for "every op is gradient-checked".
public struct OperationCheck: Sendable {
  /// The operation's name.
  public let name: String
  /// The input shapes, as printed.
  public let shapes: String
  /// Runs the check.
  public let run: @Sendable () -> GradientCheckReport
  /// Runs the second-order check (the gradient of the gradient), or `nil`
  /// where the catalog gives none.
  public var runSecondOrder: (@Sendable () -> GradientCheckReport)? = nil
  /// The inputs the check runs at.
  package let points: [Tensor<Double>]
  /// The function checked, of `points`.
  package let function: @Sendable ([Tensor<Double>]) -> Tensor<Double>

  init(
    name: String, shapes: String, points: [Tensor<Double>],
    function: @escaping @Sendable ([Tensor<Double>]) -> Tensor<Double>,
    run: @escaping @Sendable () -> GradientCheckReport,
    runSecondOrder: @escaping @Sendable () -> GradientCheckReport
  ) {
    (self.name, self.shapes, self.points, self.function) = (name, shapes, points, function)
    (self.run, self.runSecondOrder) = (run, runSecondOrder)
  }
}

extension OperationCheck {
  /// Inputs drawn uniformly from [lower, upper) with a seed per input.
  static func inputs(_ shapes: [[Int]], lower: Double = -1, upper: Double = 1, seed: UInt64)
    -> [Tensor<Double>]
  {
    shapes.enumerated().map { index, shape in
      Tensor.randomUniform(shape, lower: lower, upper: upper, seed: seed &+ UInt64(index) &* 7919)
    }
  }

  /// Distinct values in random order, so that no max or kink ties.
  package static func distinct(_ shape: [Int], seed: UInt64) -> Tensor<Double> {
    let count = shape.reduce(1, *)
    var generator = SeededGenerator(seed: seed)
    let values = (0..<count).map { Double($0) / Double(count) - 0.5 + 0.25 / Double(count) }
      .shuffled(using: &generator)
    return Tensor(shape: shape, scalars: values)
  }

  /// A check at seeded random inputs. The seed is per row: a draw where a
  /// derivative nearly cancels (|∂| ≈ 1e-5) is at the noise floor of a
  /// central difference with step 1e-6, so a row may pick another seed.
  static func check(
    _ name: String, _ shapes: [[Int]], lower: Double = -1, upper: Double = 1, seed: UInt64 = 17,
    _ f: @escaping @Sendable ([Tensor<Double>]) -> Tensor<Double>
  ) -> OperationCheck {
    let description = shapes.map { "\($0)" }.joined(separator: ", ")
    let points = inputs(shapes, lower: lower, upper: upper, seed: seed)
    return OperationCheck(
      name: name, shapes: description, points: points, function: f,
      run: { checkGradients(at: points, of: f) },
      runSecondOrder: { checkGradients(at: points, order: 2, of: f) })
  }

  static func checkDistinct(
    _ name: String, _ shape: [Int], _ f: @escaping @Sendable (Tensor<Double>) -> Tensor<Double>
  ) -> OperationCheck {
    let point = distinct(shape, seed: 5)
    return OperationCheck(
      name: name, shapes: "\(shape)", points: [point], function: { f($0[0]) },
      run: { checkGradients(at: point, of: f) },
      runSecondOrder: { checkGradients(at: point, order: 2, of: f) })
  }

  /// The catalog of checks.
  public static var all: [OperationCheck] {
    [
      check("add (broadcast)", [[3, 4], [4]]) { $0[0] + $0[1] },
      check("subtract (broadcast)", [[2, 1, 3], [4, 1]]) { $0[0] - $0[1] },
      check("multiply (broadcast)", [[3, 4], [3, 1]]) { $0[0] * $0[1] },
      check("divide", [[3, 4], [3, 4]], lower: 0.5, upper: 2) { $0[0] / $0[1] },
      check("negate", [[5]]) { -$0[0] },
      checkDistinct("max (elementwise)", [4, 5]) {
        max($0, $0.transposed().transposed() * 0.5 + 0.1)
      },
      checkDistinct("min (elementwise)", [4, 5]) { min($0, $0 * 0.5 + 0.1) },
      check("exp", [[3, 4]]) { exp($0[0]) },
      check("log", [[3, 4]], lower: 0.5, upper: 2) { log($0[0]) },
      check("sqrt", [[3, 4]], lower: 0.5, upper: 2) { sqrt($0[0]) },
      check("square", [[3, 4]]) { square($0[0]) },
      checkDistinct("abs", [3, 4]) { abs($0) },
      check("pow (scalar exponent)", [[3, 4]], lower: 0.5, upper: 2) { pow($0[0], 2.5) },
      check("pow (tensor exponent)", [[3, 4], [4]], lower: 0.5, upper: 2) { pow($0[0], $0[1]) },
      check("tanh", [[3, 5]]) { tanh($0[0]) },
      check("sigmoid", [[3, 5]], lower: -4, upper: 4) { sigmoid($0[0]) },
      checkDistinct("relu", [3, 5]) { relu($0) },
      check("sum", [[2, 3, 4]]) { $0[0].sum() },
      check("sum (axes, keepDims)", [[2, 3, 4]]) { $0[0].sum(alongAxes: [0, 2], keepDims: true) },
      check("mean (axis)", [[2, 3, 4]]) { $0[0].mean(alongAxes: 1) },
      checkDistinct("max (axis)", [3, 4, 2]) { $0.max(alongAxes: 1) },
      checkDistinct("min (axes)", [3, 4, 2]) { $0.min(alongAxes: [0, 2]) },
      check("matmul vector·vector", [[5], [5]]) { matmul($0[0], $0[1]) },
      check("matmul matrix·vector", [[3, 5], [5]]) { matmul($0[0], $0[1]) },
      check("matmul vector·matrix", [[5], [5, 3]]) { matmul($0[0], $0[1]) },
      check("matmul matrix·matrix", [[3, 5], [5, 4]]) { matmul($0[0], $0[1]) },
      check("matmul Aᵀ·Bᵀ", [[5, 3], [4, 5]]) {
        matmul($0[0], $0[1], transposeA: true, transposeB: true)
      },
      check("matmul batched", [[2, 3, 5], [2, 5, 4]]) { matmul($0[0], $0[1]) },
      check("reshape", [[2, 6]]) { $0[0].reshaped(to: [3, -1]) * $0[0].reshaped(to: [3, 4]) },
      check("permute", [[2, 3, 4]]) {
        $0[0].permuted([2, 0, 1]) * Tensor.linspace(from: -1, to: 1, count: 3)
      },
      check("broadcast", [[3, 1]]) {
        $0[0].broadcasted(to: [2, 3, 4]) * Tensor.linspace(from: -1, to: 1, count: 4)
      },
      check("slice", [[4, 5]]) { $0[0].sliced(alongAxis: 1, range: 1..<4) },
      check("pad", [[2, 3]]) { square($0[0].padded(with: [(1, 0), (2, 1)])) },
      check("concatenate", [[2, 3], [2, 2]]) {
        Tensor(concatenating: [$0[0], square($0[1])], alongAxis: 1)
      },
      check("stack", [[2, 3], [2, 3]]) { Tensor(stacking: [$0[0], $0[1] * $0[0]], alongAxis: 1) },
    ] + networkOperations + researchOperations
  }
}
