// One maxout unit h(x) = max_j (w_j·x + b_j) is a convex piecewise-linear
// function with k pieces. Fitting f(x) = x² on [−1, 1] with k = 1…6 pieces
// shows the approximation improving as k grows: the "universal
// approximator" picture of the notes, in numbers.
import Cortex
import Foundation

let x = Tensor<Double>.linspace(from: -1, to: 1, count: 201).reshaped(to: [201, 1])
let target = square(x)

print("pieces  max |h(x) − x²|  mean squared error")
for pieces in 1...6 {
  setRandomSeed(UInt64(pieces))
  let unit = try Maxout<Double>(inputSize: 1, units: 1, pieces: pieces)
  // Spread the pieces' slopes over [−2, 2], the range of the target's slope.
  unit.linear.weight.value = Tensor.linspace(from: -2, to: 2, count: pieces).reshaped(to: [
    pieces, 1,
  ])
  unit.linear.bias?.value = Tensor.zeros([pieces])
  let optimizer = Adam<Double>(learningRate: 0.01)
  for _ in 0..<3000 {
    let (_, gradients) = valueWithGradient(for: unit.parameters) {
      square(unit(x) - target).mean()
    }
    optimizer.update(unit.parameters, gradients: gradients)
  }
  let error = unit(x) - target
  let maxError = abs(error).max().scalar
  let mse = square(error).mean().scalar
  print(String(format: "%6d  %15.5f  %18.6f", pieces, maxError, mse))
}
