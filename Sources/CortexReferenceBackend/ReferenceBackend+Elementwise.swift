import CortexCore
import CortexKernels
import Foundation

/// The reference backend's elementwise primitives: each function case
/// evaluated on one scalar at a time, with the C library's elementary
/// functions (`erf`, `sin`, `cos`, `log1p`, `expm1` and the smooth
/// activations in `Double`, as every backend computes them).

extension ReferenceBackend {
  /// `f(x)` elementwise. Returns: the shape of `x`.
  package func unary<S: TensorScalar>(_ f: UnaryFunction<S>, _ x: Tensor<S>) -> Tensor<S> {
    tensor(x.shape, x.scalars.map { evaluate(f, $0) })
  }

  /// `f(a, b)` elementwise with NumPy broadcasting.
  ///
  /// - Parameter shape: the broadcast shape of `a` and `b`, checked by the
  ///   caller. Returns: `shape`.
  package func binary<S: TensorScalar>(
    _ f: BinaryFunction<S>, _ a: Tensor<S>, _ b: Tensor<S>, shape: [Int]
  ) -> Tensor<S> {
    let (left, right) = (a.scalars, b.scalars)
    var out = [S](repeating: 0, count: shape.reduce(1, *))
    for flat in out.indices {
      let index = multiIndex(flat, in: shape)
      out[flat] = evaluate(
        f, left[broadcastFlatIndex(index, from: a.shape)],
        right[broadcastFlatIndex(index, from: b.shape)])
    }
    return tensor(shape, out)
  }

  /// `a` where `condition` is nonzero, `b` elsewhere; the three of one
  /// shape. Returns: that shape.
  package func select<S: TensorScalar>(_ condition: Tensor<S>, _ a: Tensor<S>, _ b: Tensor<S>)
    -> Tensor<S>
  {
    let (c, left, right) = (condition.scalars, a.scalars, b.scalars)
    return tensor(a.shape, c.indices.map { c[$0] != 0 ? left[$0] : right[$0] })
  }

  /// `f(x)` for one scalar, as each case of ``UnaryFunction`` states it.
  func evaluate<S: TensorScalar>(_ f: UnaryFunction<S>, _ x: S) -> S {
    /// `f` computed in `Double` through the C library, rounded back.
    func inDouble(_ f: (Double) -> Double) -> S { S(f(Double(x))) }
    switch f {
    case .negate: return -x
    case .exp: return S.exp(x)
    case .log: return S.log(x)
    case .sqrt: return x.squareRoot()
    case .square: return x * x
    case .abs: return Swift.abs(x)
    case .sign: return x > 0 ? 1 : (x < 0 ? -1 : 0)
    case .power(let p): return S.pow(x, p)
    case .tanh: return S.tanh(x)
    case .sigmoid:
      if x >= 0 { return 1 / (1 + S.exp(-x)) }
      let e = S.exp(x)
      return e / (1 + e)
    case .maximum(let c): return x >= c ? x : c
    case .minimum(let c): return x <= c ? x : c
    case .atLeast(let c): return x >= c ? 1 : 0
    case .atMost(let c): return x <= c ? 1 : 0
    case .finiteOrZero: return x.isFinite ? x : 0
    case .erf: return inDouble(Foundation.erf)
    case .sin: return inDouble(Foundation.sin)
    case .cos: return inDouble(Foundation.cos)
    case .log1p: return inDouble(Foundation.log1p)
    case .expm1: return inDouble(Foundation.expm1)
    case .softplus:
      return inDouble { Swift.max($0, 0) + Foundation.log1p(Foundation.exp(-Swift.abs($0))) }
    case .silu: return inDouble { $0 / (1 + Foundation.exp(-$0)) }
    case .gelu: return inDouble { $0 * (1 + Foundation.erf($0 / 2.squareRoot())) / 2 }
    case .geluTanh:
      let c = (2 / Double.pi).squareRoot()
      return inDouble { $0 * (1 + Foundation.tanh(c * ($0 + 0.044715 * $0 * $0 * $0))) / 2 }
    }
  }

  /// `f(a, b)` for one pair of scalars, as each case of ``BinaryFunction``
  /// states it.
  func evaluate<S: TensorScalar>(_ f: BinaryFunction<S>, _ a: S, _ b: S) -> S {
    switch f {
    case .add: return a + b
    case .subtract: return a - b
    case .multiply: return a * b
    case .divide: return a / b
    case .power: return S.pow(a, b)
    case .maximum: return a >= b ? a : b
    case .minimum: return a <= b ? a : b
    case .greater: return a > b ? 1 : 0
    case .less: return a < b ? 1 : 0
    case .greaterOrEqual: return a >= b ? 1 : 0
    case .lessOrEqual: return a <= b ? 1 : 0
    case .equal: return a == b ? 1 : 0
    case .notEqual: return a != b ? 1 : 0
    case .passWhereAtLeast(let c): return b >= c ? a : 0
    case .passWhereAtMost(let c): return b <= c ? a : 0
    case .tanhGradient: return a * (1 - b * b)
    case .sigmoidGradient: return a * b * (1 - b)
    case .logisticLoss:
      return Swift.max(a, 0) - a * b + S(Foundation.log1p(Foundation.exp(-Double(Swift.abs(a)))))
    case .geluGradient:
      let x = Double(b)
      let cdf = (1 + Foundation.erf(x / 2.squareRoot())) / 2
      let density = Foundation.exp(-x * x / 2) / (2 * Double.pi).squareRoot()
      return S(Double(a) * (cdf + x * density))
    case .geluTanhGradient:
      let x = Double(b)
      let c = (2 / Double.pi).squareRoot()
      let t = Foundation.tanh(c * (x + 0.044715 * x * x * x))
      let inner = c * (1 + 3 * 0.044715 * x * x)
      return S(Double(a) * ((1 + t) / 2 + x * (1 - t * t) * inner / 2))
    }
  }
}
