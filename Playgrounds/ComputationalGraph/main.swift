// The worked example of the backpropagation notes, f(x, W) = ‖W·x‖², as a
// computational graph: its forward values, the gradient of every variable,
// the tape Cortex records, and that tape as a Graphviz DOT graph.
//
//     swift run ComputationalGraph
//     swift run ComputationalGraph | sed -n '/^digraph/,$p' | dot -Tsvg > graph.svg

import Cortex

let W = Tensor<Double>(shape: [2, 2], scalars: [0.1, 0.5, -0.3, 0.8])
let x = Tensor<Double>([0.2, 0.4])

/// f(x, W) = ‖W·x‖² = Σᵢ qᵢ² with q = W·x.
func f(_ W: Tensor<Double>, _ x: Tensor<Double>) -> Tensor<Double> {
  let q = matmul(W, x)
  return (q * q).sum()
}

// Forward: q = W·x = [0.22, 0.26], f = 0.22² + 0.26² = 0.116.
let q = matmul(W, x)
print("W =")
print(W)
print("x =", x)
print("q = W·x =", q)
print("f = ‖q‖² =", f(W, x))
print()

// Backward. The last node is f = Σ qᵢ², so ∇q = 2q. The mul gate of W·x
// switches: ∇W = ∇q·xᵀ and ∇x = Wᵀ·∇q. Each gradient has its variable's shape.
let dq = gradient(at: q) { q in (q * q).sum() }
let (dW, dx) = gradient(at: W, x, of: f)
print("∇q = 2q =", dq)
print("∇W = 2q·xᵀ =")
print(dW)
print("∇x = 2Wᵀ·q =", dx)
print()

// The tape: one entry per operation, in the order they ran. Backward walks
// it from the last entry to the first.
let (_, tape) = recordTape(at: [W, x]) { inputs in f(inputs[0], inputs[1]) }
print("Tape:")
print(tape)
print()
print(tape.graphviz)
