import CortexKernels

/// Elementwise arithmetic with NumPy broadcasting, and the gate rules of
/// backpropagation: **add** distributes the upstream gradient to both
/// inputs, **mul** switches it (each input gets the other times upstream),
/// **max** routes it to the larger input.

extension Tensor {
  /// Computes `f` elementwise over the broadcast shape of `a` and `b` on
  /// their backend, trapping with `name` and both shapes when they are
  /// incompatible (or on two devices).
  static func broadcasting(
    _ name: String, _ a: Tensor, _ b: Tensor, _ f: BinaryFunction<Scalar>
  ) -> Tensor {
    let backend = commonBackend(name, a, b)
    guard let shape = broadcastShape(a.shape, b.shape) else {
      preconditionFailure("\(name): shapes \(a.shape) and \(b.shape) cannot be broadcast together")
    }
    return backend.binary(f, a, b, shape: shape)
  }

  /// Applies `f` to every element on this tensor's backend.
  func applying(_ f: UnaryFunction<Scalar>, _ name: String) -> Tensor {
    backend(name).unary(f, self)
  }

  /// Sums `self` down to `shape`, undoing a broadcast from `shape` to
  /// `self.shape`. This is the one place where gradients of broadcast
  /// operations are brought back to their input's shape.
  public func unbroadcast(to target: [Int]) -> Tensor {
    if shape == target { return self }
    let leading = rank - target.count
    precondition(leading >= 0, "unbroadcast: cannot reduce shape \(shape) to \(target)")
    var axes = Array(0..<leading)
    for (i, size) in target.enumerated() where size == 1 && shape[leading + i] != 1 {
      axes.append(leading + i)
    }
    return sum(alongAxes: axes).reshaped(to: target)
  }
}

/// Records a broadcasting binary operation: each input's gradient is the
/// given function of the upstream gradient, summed back to the input's
/// shape.
func recordBroadcasting<Scalar>(
  _ name: String, _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, output: Tensor<Scalar>,
  gradientA: @escaping (Tensor<Scalar>) -> Tensor<Scalar>,
  gradientB: @escaping (Tensor<Scalar>) -> Tensor<Scalar>
) -> Tensor<Scalar> {
  let shapeA = a.shape
  let shapeB = b.shape
  return record(
    name, a, b, output: output,
    pullbackX: { gradientA($0).unbroadcast(to: shapeA) },
    pullbackY: { gradientB($0).unbroadcast(to: shapeB) })
}

extension Tensor {
  /// Elementwise sum. The add gate: the upstream gradient flows unchanged
  /// to both inputs.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public static func + (a: Tensor, b: Tensor) -> Tensor {
    let out = broadcasting("add", a, b, .add)
    return recordBroadcasting("add", a, b, output: out, gradientA: { $0 }, gradientB: { $0 })
  }

  /// Elementwise difference: the add gate with the second gradient negated.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public static func - (a: Tensor, b: Tensor) -> Tensor {
    let out = broadcasting("subtract", a, b, .subtract)
    return recordBroadcasting("subtract", a, b, output: out, gradientA: { $0 }, gradientB: { -$0 })
  }

  /// Elementwise product. The mul gate switches: `a` gets `b · upstream`,
  /// `b` gets `a · upstream`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public static func * (a: Tensor, b: Tensor) -> Tensor {
    let out = broadcasting("multiply", a, b, .multiply)
    return recordBroadcasting(
      "multiply", a, b, output: out, gradientA: { $0 * b }, gradientB: { $0 * a })
  }

  /// Elementwise quotient: `a` gets `upstream / b`, `b` gets
  /// `−upstream · a / b²`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public static func / (a: Tensor, b: Tensor) -> Tensor {
    let out = broadcasting("divide", a, b, .divide)
    return recordBroadcasting(
      "divide", a, b, output: out, gradientA: { $0 / b },
      gradientB: { g in -g * fusedOrComposed(fused: { out }, composed: { a / b }) / b })
  }

  /// Elementwise negation.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public static prefix func - (x: Tensor) -> Tensor {
    record("negate", x, output: x.applying(.negate, "negate")) { -$0 }
  }

  public static func + (a: Tensor, b: Scalar) -> Tensor { a + Tensor(b) }
  public static func + (a: Scalar, b: Tensor) -> Tensor { Tensor(a) + b }
  public static func - (a: Tensor, b: Scalar) -> Tensor { a - Tensor(b) }
  public static func - (a: Scalar, b: Tensor) -> Tensor { Tensor(a) - b }
  public static func * (a: Tensor, b: Scalar) -> Tensor { a * Tensor(b) }
  public static func * (a: Scalar, b: Tensor) -> Tensor { Tensor(a) * b }
  public static func / (a: Tensor, b: Scalar) -> Tensor { a / Tensor(b) }
  public static func / (a: Scalar, b: Tensor) -> Tensor { Tensor(a) / b }

  public static func += (a: inout Tensor, b: Tensor) { a = a + b }
  public static func -= (a: inout Tensor, b: Tensor) { a = a - b }
  public static func *= (a: inout Tensor, b: Tensor) { a = a * b }
  public static func /= (a: inout Tensor, b: Tensor) { a = a / b }
  public static func += (a: inout Tensor, b: Scalar) { a = a + b }
  public static func -= (a: inout Tensor, b: Scalar) { a = a - b }
  public static func *= (a: inout Tensor, b: Scalar) { a = a * b }
  public static func /= (a: inout Tensor, b: Scalar) { a = a / b }
}

/// Elementwise maximum: the max gate. The upstream gradient is routed to
/// the larger input; on a tie it goes to the first argument, `a`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func max<Scalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) -> Tensor<Scalar> {
  elementwiseMaxGate("max", a, b, largest: true)
}

/// Elementwise minimum: the max gate on reversed order. The upstream
/// gradient is routed to the smaller input; on a tie it goes to `a`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func min<Scalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) -> Tensor<Scalar> {
  elementwiseMaxGate("min", a, b, largest: false)
}

public func max<Scalar>(_ a: Tensor<Scalar>, _ b: Scalar) -> Tensor<Scalar> { max(a, Tensor(b)) }
public func max<Scalar>(_ a: Scalar, _ b: Tensor<Scalar>) -> Tensor<Scalar> { max(Tensor(a), b) }
public func min<Scalar>(_ a: Tensor<Scalar>, _ b: Scalar) -> Tensor<Scalar> { min(a, Tensor(b)) }
public func min<Scalar>(_ a: Scalar, _ b: Tensor<Scalar>) -> Tensor<Scalar> { min(Tensor(a), b) }

// MARK: - Comparisons

extension Tensor {
  /// 1 where `a > b`, 0 elsewhere (broadcasting). Masks carry no gradient.
  public static func .> (a: Tensor, b: Tensor) -> Tensor {
    broadcasting(">", a, b, .greater)
  }
  /// 1 where `a < b`, 0 elsewhere.
  public static func .< (a: Tensor, b: Tensor) -> Tensor {
    broadcasting("<", a, b, .less)
  }
  /// 1 where `a >= b`, 0 elsewhere.
  public static func .>= (a: Tensor, b: Tensor) -> Tensor {
    broadcasting(">=", a, b, .greaterOrEqual)
  }
  /// 1 where `a <= b`, 0 elsewhere.
  public static func .<= (a: Tensor, b: Tensor) -> Tensor {
    broadcasting("<=", a, b, .lessOrEqual)
  }
  /// 1 where `a == b`, 0 elsewhere.
  public static func .== (a: Tensor, b: Tensor) -> Tensor {
    broadcasting("==", a, b, .equal)
  }
  /// 1 where `a != b`, 0 elsewhere.
  public static func .!= (a: Tensor, b: Tensor) -> Tensor {
    broadcasting("!=", a, b, .notEqual)
  }

  public static func .> (a: Tensor, b: Scalar) -> Tensor { a .> Tensor(b) }
  public static func .< (a: Tensor, b: Scalar) -> Tensor { a .< Tensor(b) }
  public static func .>= (a: Tensor, b: Scalar) -> Tensor { a .>= Tensor(b) }
  public static func .<= (a: Tensor, b: Scalar) -> Tensor { a .<= Tensor(b) }
  public static func .== (a: Tensor, b: Scalar) -> Tensor { a .== Tensor(b) }
  public static func .!= (a: Tensor, b: Scalar) -> Tensor { a .!= Tensor(b) }
}
