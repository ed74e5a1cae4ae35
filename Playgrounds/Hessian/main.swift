// The Hessian of a small MLP's loss with respect to its 15 parameters:
// `jacobian` of `gradient` (a gradient taken inside a Jacobian), printed
// next to central differences of the gradient, with a Hessian-vector
// product and the second-order gradient check.
//
//     swift run Hessian

import Cortex
import Foundation

/// A 2-3-2 MLP with tanh hidden units, its parameters in one vector θ:
/// W₁ [3, 2], b₁ [3], W₂ [2, 3] (no output bias).
let input = Tensor<Double>(shape: [4, 2], scalars: [0.3, -0.2, 1.1, 0.4, -0.7, 0.9, 0.05, -1.2])
let labels = [0, 1, 1, 0]

func loss(_ theta: Tensor<Double>) -> Tensor<Double> {
  let w1 = theta.sliced(alongAxis: 0, range: 0..<6).reshaped(to: [3, 2])
  let b1 = theta.sliced(alongAxis: 0, range: 6..<9)
  let w2 = theta.sliced(alongAxis: 0, range: 9..<15).reshaped(to: [2, 3])
  let hidden = tanh(linear(input, weight: w1, bias: b1))
  return softmaxCrossEntropy(logits: linear(hidden, weight: w2), labels: labels)
}

let theta = Tensor<Double>.randomUniform([15], lower: -1, upper: 1, seed: 3)
let count = theta.scalarCount

// H[i, j] = ∂²L / ∂θᵢ∂θⱼ: the Jacobian of the gradient, one pullback per row.
let hessian = jacobian(at: theta) { gradient(at: $0, of: loss) }

// Central differences of the analytic gradient, column by column.
let step = 1e-5
var numeric = Tensor<Double>.zeros([count, count])
for j in 0..<count {
  var e = Tensor<Double>.zeros([count])
  e[j] = step
  let column = (gradient(at: theta + e, of: loss) - gradient(at: theta - e, of: loss)) / (2 * step)
  for i in 0..<count { numeric[i, j] = column[i] }
}

func printMatrix(_ title: String, _ m: Tensor<Double>) {
  print(title)
  for i in 0..<count {
    print((0..<count).map { String(format: "%7.3f", m[i, $0]) }.joined(separator: " "))
  }
  print()
}

printMatrix("Hessian from jacobian(of: gradient):", hessian)
printMatrix("Hessian from central differences of the gradient:", numeric)

var largest = 0.0
var asymmetry = 0.0
for i in 0..<count {
  for j in 0..<count {
    largest = max(largest, abs(hessian[i, j] - numeric[i, j]))
    asymmetry = max(asymmetry, abs(hessian[i, j] - hessian[j, i]))
  }
}
print("largest difference from central differences:", largest)
print("largest asymmetry |H - Hᵀ|:", asymmetry)

// A Hessian-vector product never builds H: the gradient of ⟨∇L, v⟩.
let v = Tensor<Double>.randomUniform([count], lower: -1, upper: 1, seed: 4)
let hv = hessianVectorProduct(at: theta, direction: v, of: loss)
let product = matmul(hessian, v)
print(
  "largest difference of H·v from hessianVectorProduct:", (hv - product).scalars.map(abs).max()!)

// The second-order check: the nested backward pass against differences.
print(checkGradients(at: theta, order: 2, of: loss))
