import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// One differentiable operation applied to particular inputs: a case for
/// the gradient checks and the gradient-shape checks.
struct OperationCase: Sendable, CustomTestStringConvertible {
  let name: String
  let inputs: [Tensor<Double>]
  let function: @Sendable ([Tensor<Double>]) -> Tensor<Double>

  init(
    _ name: String, _ inputs: [Tensor<Double>],
    _ function: @escaping @Sendable ([Tensor<Double>]) -> Tensor<Double>
  ) {
    self.name = name
    self.inputs = inputs
    self.function = function
  }

  var testDescription: String { "\(name) \(inputs.map(\.shape))" }
}

/// Seeded draws in `[-1.1, -0.1) ∪ [0.1, 1.1)`: far enough from 0 for the
/// kinks of abs and relu and for dividing.
func awayFromZero(_ shape: [Int], seed: UInt64) -> Tensor<Double> {
  let draws = random(shape, seed: seed)
  return Tensor(shape: shape, scalars: draws.scalars.map { $0 < 0 ? $0 - 0.1 : $0 + 0.1 })
}

/// Seeded draws in `[0.5, 2)`, for log, sqrt and powers.
func positive(_ shape: [Int], seed: UInt64) -> Tensor<Double> {
  random(shape, in: 0.5..<2, seed: seed)
}

extension OperationCase {
  /// Pairs of shapes the binary operations are checked on: equal, a
  /// trailing vector, row against column, middle and leading axes, a scalar.
  static let broadcastPairs: [([Int], [Int])] = [
    ([3, 4], [3, 4]), ([2, 3, 4], [4]), ([3, 1], [1, 4]), ([2, 1, 4], [3, 1]), ([2, 3], []),
  ]

  static let elementwise: [OperationCase] = {
    var cases: [OperationCase] = []
    for (k, (shapeA, shapeB)) in broadcastPairs.enumerated() {
      let seed = UInt64(10 * k)
      let a = random(shapeA, seed: seed)
      let b = random(shapeB, seed: seed + 1)
      cases += [
        OperationCase("add", [a, b]) { $0[0] + $0[1] },
        OperationCase("subtract", [a, b]) { $0[0] - $0[1] },
        OperationCase("multiply", [a, b]) { $0[0] * $0[1] },
        OperationCase("divide", [a, awayFromZero(shapeB, seed: seed + 2)]) { $0[0] / $0[1] },
        OperationCase("max", [a, b]) { max($0[0], $0[1]) },
        OperationCase("min", [a, b]) { min($0[0], $0[1]) },
        OperationCase("pow", [positive(shapeA, seed: seed + 3), b]) { pow($0[0], $0[1]) },
      ]
    }
    for shape in [[5], [2, 3, 2]] {
      let x = random(shape, seed: 7)
      let nonzero = awayFromZero(shape, seed: 8)
      let plus = positive(shape, seed: 9)
      cases += [
        OperationCase("negate", [x]) { -$0[0] },
        OperationCase("exp", [x]) { exp($0[0]) },
        OperationCase("log", [plus]) { log($0[0]) },
        OperationCase("sqrt", [plus]) { sqrt($0[0]) },
        OperationCase("square", [x]) { square($0[0]) },
        OperationCase("abs", [nonzero]) { abs($0[0]) },
        OperationCase("pow 3", [x]) { pow($0[0], 3) },
        OperationCase("pow -0.5", [plus]) { pow($0[0], -0.5) },
        OperationCase("tanh", [x]) { tanh($0[0]) },
        OperationCase("sigmoid", [x]) { sigmoid($0[0]) },
        OperationCase("relu", [nonzero]) { relu($0[0]) },
        OperationCase("scalar plus", [x]) { $0[0] + 2 },
        OperationCase("scalar minus", [x]) { 3 - $0[0] },
        OperationCase("scalar times", [x]) { 1.5 * $0[0] },
        OperationCase("scalar over", [nonzero]) { 2 / $0[0] },
        OperationCase("max scalar", [nonzero]) { max($0[0], 0) },
        OperationCase("min scalar", [nonzero]) { min(0.25, $0[0]) },
      ]
    }
    return cases
  }()

  static let reductions: [OperationCase] = {
    var cases: [OperationCase] = []
    for (k, shape) in [[4], [2, 3, 4]].enumerated() {
      let x = random(shape, seed: 100 + UInt64(k))
      let last = shape.count - 1
      cases += [
        OperationCase("sum", [x]) { $0[0].sum() },
        OperationCase("sum last axis", [x]) { $0[0].sum(alongAxes: -1) },
        OperationCase("sum first axis kept", [x]) { $0[0].sum(alongAxes: [0], keepDims: true) },
        OperationCase("mean", [x]) { $0[0].mean() },
        OperationCase("mean last axis kept", [x]) { $0[0].mean(alongAxes: [last], keepDims: true) },
        OperationCase("max", [x]) { $0[0].max() },
        OperationCase("max last axis", [x]) { $0[0].max(alongAxes: -1) },
        OperationCase("min", [x]) { $0[0].min() },
        OperationCase("min first axis kept", [x]) { $0[0].min(alongAxes: [0], keepDims: true) },
      ]
      if shape.count == 3 {
        cases += [
          OperationCase("sum axes 0, 2", [x]) { $0[0].sum(alongAxes: 0, 2) },
          OperationCase("mean axes 0, 1", [x]) { $0[0].mean(alongAxes: 0, 1) },
          OperationCase("max axes 0, 2 kept", [x]) {
            $0[0].max(alongAxes: [0, 2], keepDims: true)
          },
          OperationCase("min axes -1, -3", [x]) { $0[0].min(alongAxes: -1, -3) },
        ]
      }
    }
    return cases
  }()

  /// Every form of matmul, on two sets of sizes: small ones, and odd ones
  /// with an inner or outer dimension of 1.
  static let matrixProducts: [OperationCase] = {
    var cases: [OperationCase] = []
    for (set, (batch, m, k, n)) in [(2, 3, 4, 2), (3, 1, 5, 1)].enumerated() {
      var seed = 200 + 100 * UInt64(set)
      func r(_ shape: [Int]) -> Tensor<Double> {
        seed += 1
        return random(shape, seed: seed)
      }
      cases += [
        OperationCase("vector · vector", [r([k]), r([k])]) { matmul($0[0], $0[1]) },
        OperationCase("matrix · vector", [r([m, k]), r([k])]) { matmul($0[0], $0[1]) },
        OperationCase("matrixᵀ · vector", [r([k, m]), r([k])]) {
          matmul($0[0], $0[1], transposeA: true)
        },
        OperationCase("vector · matrix", [r([k]), r([k, n])]) { matmul($0[0], $0[1]) },
        OperationCase("vector · matrixᵀ", [r([k]), r([n, k])]) {
          matmul($0[0], $0[1], transposeB: true)
        },
        OperationCase("matrix · matrix", [r([m, k]), r([k, n])]) { matmul($0[0], $0[1]) },
        OperationCase("matrixᵀ · matrix", [r([k, m]), r([k, n])]) {
          matmul($0[0], $0[1], transposeA: true)
        },
        OperationCase("matrix · matrixᵀ", [r([m, k]), r([n, k])]) {
          matmul($0[0], $0[1], transposeB: true)
        },
        OperationCase("matrixᵀ · matrixᵀ", [r([k, m]), r([n, k])]) {
          matmul($0[0], $0[1], transposeA: true, transposeB: true)
        },
        OperationCase("batch · batch", [r([batch, m, k]), r([batch, k, n])]) {
          matmul($0[0], $0[1])
        },
        OperationCase("batchᵀ · batch", [r([batch, k, m]), r([batch, k, n])]) {
          matmul($0[0], $0[1], transposeA: true)
        },
        OperationCase("batch · batchᵀ", [r([batch, m, k]), r([batch, n, k])]) {
          matmul($0[0], $0[1], transposeB: true)
        },
        OperationCase("batchᵀ · batchᵀ", [r([batch, k, m]), r([batch, n, k])]) {
          matmul($0[0], $0[1], transposeA: true, transposeB: true)
        },
        OperationCase("batch · matrix", [r([batch, m, k]), r([k, n])]) { matmul($0[0], $0[1]) },
        OperationCase("batch · matrixᵀ", [r([batch, m, k]), r([n, k])]) {
          matmul($0[0], $0[1], transposeB: true)
        },
      ]
    }
    return cases
  }()

  static let shapeOperations: [OperationCase] = {
    let m = random([3, 4], seed: 300)
    let cube = random([2, 3, 4], seed: 301)
    return [
      OperationCase("reshape", [m]) { $0[0].reshaped(to: [2, -1]) },
      OperationCase("reshape", [cube]) { $0[0].reshaped(to: [4, 6]) },
      OperationCase("flatten", [cube]) { $0[0].flattened() },
      OperationCase("squeeze", [random([1, 3, 1], seed: 302)]) { $0[0].squeezed() },
      OperationCase("unsqueeze", [m]) { $0[0].unsqueezed(at: 1) },
      OperationCase("transpose", [m]) { $0[0].transposed() },
      OperationCase("transpose", [cube]) { $0[0].transposed() },
      OperationCase("permute", [cube]) { $0[0].permuted([1, 2, 0]) },
      OperationCase("slice", [m]) { $0[0].sliced(alongAxis: 1, range: 1..<3) },
      OperationCase("slice", [cube]) { $0[0].sliced(alongAxis: -2, range: 0..<2) },
      OperationCase("concatenate", [m, random([2, 4], seed: 303), random([1, 4], seed: 304)]) {
        Tensor(concatenating: $0)
      },
      OperationCase("concatenate", [cube, random([2, 3, 2], seed: 305)]) {
        Tensor(concatenating: $0, alongAxis: -1)
      },
      OperationCase("stack", [m, random([3, 4], seed: 306)]) { Tensor(stacking: $0) },
      OperationCase("stack", [cube, random([2, 3, 4], seed: 307)]) {
        Tensor(stacking: $0, alongAxis: 2)
      },
      OperationCase("pad", [m]) { $0[0].padded(with: [(1, 0), (2, 1)]) },
      OperationCase("pad", [cube]) { $0[0].padded(with: [(0, 1), (1, 1), (0, 2)]) },
      OperationCase("broadcast", [random([3, 1], seed: 308)]) { $0[0].broadcasted(to: [2, 3, 4]) },
      OperationCase("broadcast", [random([4], seed: 309)]) { $0[0].broadcasted(to: [3, 4]) },
    ]
  }()

  /// Operations chained the way models chain them.
  static let compositions: [OperationCase] = [
    OperationCase(
      "‖W·x‖²",
      [
        Tensor(shape: [2, 2], scalars: [0.1, 0.5, -0.3, 0.8]),
        Tensor([0.2, 0.4]),
      ]
    ) { inputs in
      let q = matmul(inputs[0], inputs[1])
      return (q * q).sum()
    },
    OperationCase(
      "tanh(x·W + b)",
      [random([3, 4], seed: 400), random([4, 2], seed: 401), random([2], seed: 402)]
    ) { inputs in
      tanh(matmul(inputs[0], inputs[1]) + inputs[2])
    },
    OperationCase("x·x + x", [random([5], seed: 403)]) { $0[0] * $0[0] + $0[0] },
    OperationCase("log-sum-exp", [random([3, 4], seed: 404)]) { inputs in
      log(exp(inputs[0]).sum(alongAxes: -1))
    },
  ]

  static let all: [OperationCase] =
    elementwise + reductions + matrixProducts + shapeOperations + compositions
}
