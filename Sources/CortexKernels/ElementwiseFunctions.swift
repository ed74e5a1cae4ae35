import Foundation

/// The elementwise functions every backend computes, named by value so that
/// each backend can compile every case for its device (a closure could only
/// ever run on the host), and their loops on the CPU: written once here and
/// specialized by each instruction set's kernels for its registers and both
/// scalar types. Each element is computed on its own, libm calls one
/// element at a time, so every set gives the same bits, save the
/// single-precision functions computed in vector registers, whose
/// multiply-adds are fused on the sets that fuse: `tanh` and `exp`
/// (approximations, see ``KernelSet/tanh(_:_:count:)`` and `expFloat`),
/// and `log`, `erf`, the sigmoid, softplus, SiLU, GELU and the GELU
/// gradients, computed in `Double` lanes within 1 ulp of the C library
/// (see WideMath, and `GELU.swift` for exact GELU).

/// A scalar the kernels compute in, `Float` or `Double`, with the elementary
/// functions of the C library, called explicitly so that every kernel uses
/// the same implementation on every platform.
public protocol KernelScalar: BinaryFloatingPoint, Sendable {
  /// `eˣ`.
  static func exp(_ x: Self) -> Self
  /// `ln x`.
  static func log(_ x: Self) -> Self
  /// `ln(1 + x)`, accurate where `x` is small.
  static func log1p(_ x: Self) -> Self
  /// `tanh x`.
  static func tanh(_ x: Self) -> Self
  /// `xʸ`.
  static func pow(_ x: Self, _ y: Self) -> Self
}

extension Float: KernelScalar {
  @inlinable public static func exp(_ x: Float) -> Float { Foundation.expf(x) }
  @inlinable public static func log(_ x: Float) -> Float { Foundation.logf(x) }
  @inlinable public static func log1p(_ x: Float) -> Float { Foundation.log1pf(x) }
  @inlinable public static func tanh(_ x: Float) -> Float { Foundation.tanhf(x) }
  @inlinable public static func pow(_ x: Float, _ y: Float) -> Float { Foundation.powf(x, y) }
}

extension Double: KernelScalar {
  @inlinable public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
  @inlinable public static func log(_ x: Double) -> Double { Foundation.log(x) }
  @inlinable public static func log1p(_ x: Double) -> Double { Foundation.log1p(x) }
  @inlinable public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
  @inlinable public static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
}

/// A function of one tensor, applied to every element.
public enum UnaryFunction<Scalar: KernelScalar>: Sendable, Equatable {
  /// `−x`.
  case negate
  /// `eˣ`.
  case exp
  /// `ln x`.
  case log
  /// `√x`.
  case sqrt
  /// `x²`.
  case square
  /// `|x|`.
  case abs
  /// −1, 0 or 1 by the sign of `x`.
  case sign
  /// `xᵖ` for a constant `p`.
  case power(Scalar)
  /// `tanh x`.
  case tanh
  /// `1 / (1 + e⁻ˣ)`, without overflow for large `|x|`.
  case sigmoid
  /// `max(x, c)`; `x` on a tie.
  case maximum(Scalar)
  /// `min(x, c)`; `x` on a tie.
  case minimum(Scalar)
  /// 1 where `x ≥ c`, 0 elsewhere.
  case atLeast(Scalar)
  /// 1 where `x ≤ c`, 0 elsewhere.
  case atMost(Scalar)
  /// `x` where it is finite, 0 elsewhere.
  case finiteOrZero
  /// The error function; computed in `Double`, as the five below (see
  /// WideMath for single precision).
  case erf
  /// `sin x`.
  case sin
  /// `cos x`.
  case cos
  /// `ln(1 + x)`, accurate for tiny `x`.
  case log1p
  /// `eˣ − 1`, accurate for tiny `x`.
  case expm1
  /// `ln(1 + eˣ)` as `max(x, 0) + ln(1 + e^(−|x|))`.
  case softplus
  /// `x · σ(x)`.
  case silu
  /// `x · Φ(x)`, `Φ` the standard normal CDF, as `x · erfc(−x/√2)/2` (no
  /// cancellation for negative `x`).
  case gelu
  /// `x · (1 + tanh(√(2/π)(x + 0.044715x³))) / 2`, computed as
  /// `x · σ(2√(2/π)(x + 0.044715x³))` (no cancellation for negative `x`).
  case geluTanh
}

/// A function of two tensors, applied elementwise with NumPy broadcasting.
public enum BinaryFunction<Scalar: KernelScalar>: Sendable, Equatable {
  /// `a + b`.
  case add
  /// `a − b`.
  case subtract
  /// `a · b`.
  case multiply
  /// `a / b`.
  case divide
  /// `aᵇ`.
  case power
  /// `max(a, b)`; `a` on a tie.
  case maximum
  /// `min(a, b)`; `a` on a tie.
  case minimum
  /// 1 where `a > b`, 0 elsewhere; the five below likewise.
  case greater
  /// `a < b`.
  case less
  /// `a ≥ b`.
  case greaterOrEqual
  /// `a ≤ b`.
  case lessOrEqual
  /// `a = b`.
  case equal
  /// `a ≠ b`.
  case notEqual
  /// `a` where `b ≥ c`, 0 elsewhere: the max gate's route past a constant.
  case passWhereAtLeast(Scalar)
  /// `a` where `b ≤ c`, 0 elsewhere.
  case passWhereAtMost(Scalar)
  /// `a · (1 − b²)`: an upstream gradient through `b = tanh x`.
  case tanhGradient
  /// `a · b · (1 − b)`: an upstream gradient through `b = σ(x)`.
  case sigmoidGradient
  /// `max(a, 0) − a·b + ln(1 + e^(−|a|))`: the binary cross-entropy of
  /// logits `a` against targets `b`.
  case logisticLoss
  /// `a · (Φ(b) + b·φ(b))`: an upstream gradient through `gelu(b)`, with
  /// `Φ(b) = erfc(−b/√2)/2` and `φ` the standard normal CDF and density;
  /// computed in `Double`.
  case geluGradient
  /// `a · gelu′(b)` for the tanh approximation of GELU, as
  /// `a · (s + 2b·s(1 − s)·u′)` with `s = σ(2u)`; computed in `Double`.
  case geluTanhGradient
}

extension UnaryFunction {
  /// Roughly how many multiply–adds one element costs: the C library's
  /// functions several dozen, arithmetic one.
  @inlinable var costPerElement: Int {
    switch self {
    case .negate, .sqrt, .square, .abs, .sign, .maximum, .minimum, .atLeast, .atMost,
      .finiteOrZero:
      return 1
    default: return 32
    }
  }
}

extension BinaryFunction {
  /// Roughly how many multiply–adds one element costs.
  @inlinable var costPerElement: Int {
    switch self {
    case .power, .logisticLoss, .geluGradient, .geluTanhGradient: return 32
    default: return 1
    }
  }
}

extension KernelSet {
  /// `out[i] = f(x[i])` for `count` elements, in contiguous chunks across
  /// the pool's threads when there are enough of them to pay for it. Every
  /// element is computed on its own, so the chunks do not change a bit.
  @inlinable
  static func unary<S: KernelScalar>(
    _ f: UnaryFunction<S>, _ x: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, count n: Int
  ) {
    forEachChunk(of: n, costPerItem: f.costPerElement) { _, range in
      unaryChunk(f, x + range.lowerBound, out + range.lowerBound, count: range.count)
    }
  }

  /// `out[i] = f(x[i])` for `count` elements, on the calling thread.
  @inlinable
  static func unaryChunk<S: KernelScalar>(
    _ f: UnaryFunction<S>, _ x: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, count n: Int
  ) {
    /// `f` computed in `Double` through the C library, rounded back.
    func inDouble(_ f: (Double) -> Double) { map(x, out, count: n) { S(f(Double($0))) } }
    let (floats, floatsOut) = (
      UnsafeRawPointer(x).assumingMemoryBound(to: Float.self),
      UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self)
    )
    let isFloat = S.self == Float.self
    switch f {
    case .negate: map(x, out, count: n) { -$0 }
    case .exp where isFloat: expFloat(floats, floatsOut, count: n)
    case .exp: map(x, out, count: n) { S.exp($0) }
    case .log where isFloat: logFloats(floats, floatsOut, count: n)
    case .log: map(x, out, count: n) { S.log($0) }
    case .sqrt: map(x, out, count: n) { $0.squareRoot() }
    case .square: map(x, out, count: n) { $0 * $0 }
    case .abs: map(x, out, count: n) { Swift.abs($0) }
    case .sign: map(x, out, count: n) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
    case .power(let p): map(x, out, count: n) { S.pow($0, p) }
    case .tanh where isFloat: tanhFloat(floats, floatsOut, count: n)
    case .tanh: map(x, out, count: n) { S.tanh($0) }
    case .sigmoid where isFloat: sigmoidFloats(floats, floatsOut, count: n)
    case .sigmoid:
      map(x, out, count: n) { v in
        if v >= 0 { return 1 / (1 + S.exp(-v)) }
        let e = S.exp(v)
        return e / (1 + e)
      }
    case .maximum(let c) where c == 0 && c.sign == .plus: rectify(x, out, count: n)
    case .maximum(let c): map(x, out, count: n) { $0 >= c ? $0 : c }
    case .minimum(let c): map(x, out, count: n) { $0 <= c ? $0 : c }
    case .atLeast(let c): map(x, out, count: n) { $0 >= c ? 1 : 0 }
    case .atMost(let c): map(x, out, count: n) { $0 <= c ? 1 : 0 }
    case .finiteOrZero: map(x, out, count: n) { $0.isFinite ? $0 : 0 }
    case .erf where isFloat: erfFloats(floats, floatsOut, count: n)
    case .erf: inDouble(Foundation.erf)
    case .sin: inDouble(Foundation.sin)
    case .cos: inDouble(Foundation.cos)
    case .log1p: inDouble(Foundation.log1p)
    case .expm1: inDouble(Foundation.expm1)
    case .softplus where isFloat: softplusFloats(floats, floatsOut, count: n)
    case .softplus: inDouble { Swift.max($0, 0) + Foundation.log1p(Foundation.exp(-Swift.abs($0))) }
    case .silu where isFloat: siluFloats(floats, floatsOut, count: n)
    case .silu: inDouble { $0 / (1 + Foundation.exp(-$0)) }
    case .gelu where isFloat: geluLanes(floats, floatsOut, count: n)
    case .gelu: inDouble { $0 * Foundation.erfc(-$0 / 2.squareRoot()) / 2 }
    case .geluTanh where isFloat: geluTanhFloats(floats, floatsOut, count: n)
    case .geluTanh:
      let c = (2 / Double.pi).squareRoot()
      inDouble { $0 / (1 + Foundation.exp(-2 * c * ($0 + 0.044715 * $0 * $0 * $0))) }
    }
  }

  /// `out = f(a, b)` with `a` of `shapeA`, `b` of `shapeB`, and `out` of
  /// their broadcast shape `result`.
  ///
  /// Operands of the result's shape are split in contiguous chunks across
  /// the pool's threads when there are enough elements to pay for it; a
  /// broadcast is split along the result's first axis.
  @inlinable
  static func binary<S: KernelScalar>(
    _ f: BinaryFunction<S>, _ a: UnsafePointer<S>, shapeA: [Int], _ b: UnsafePointer<S>,
    shapeB: [Int], _ out: UnsafeMutablePointer<S>, result: [Int]
  ) {
    guard shapeA == result && shapeB == result else {
      binaryBroadcast(f, a, shapeA: shapeA, b, shapeB: shapeB, out, result: result)
      return
    }
    forEachChunk(of: result.reduce(1, *), costPerItem: f.costPerElement) { _, range in
      let shape = [range.count]
      binaryChunk(
        f, a + range.lowerBound, shapeA: shape, b + range.lowerBound, shapeB: shape,
        out + range.lowerBound, result: shape)
    }
  }

  /// ``binary(_:_:shapeA:_:shapeB:_:result:)`` with broadcasting: blocks
  /// of the result's first axis shared out among the pool's threads, each
  /// operand either advancing with the block (where it has that axis) or
  /// read whole by every block (where it is broadcast along it).
  @inlinable
  static func binaryBroadcast<S: KernelScalar>(
    _ f: BinaryFunction<S>, _ a: UnsafePointer<S>, shapeA: [Int], _ b: UnsafePointer<S>,
    shapeB: [Int], _ out: UnsafeMutablePointer<S>, result: [Int]
  ) {
    let count = result.reduce(1, *)
    guard result.count >= 2, count > 0 else {
      binaryChunk(f, a, shapeA: shapeA, b, shapeB: shapeB, out, result: result)
      return
    }
    let rank = result.count
    let paddedA = [Int](repeating: 1, count: rank - shapeA.count) + shapeA
    let paddedB = [Int](repeating: 1, count: rank - shapeB.count) + shapeB
    let rows = result[0]
    let rowSize = count / rows
    /// An operand's shape and start for the result's rows `range`.
    func block(_ padded: [Int], _ range: Range<Int>) -> (shape: [Int], offset: Int) {
      padded[0] == 1
        ? (padded, 0)
        : ([range.count] + padded.dropFirst(), range.lowerBound * padded.dropFirst().reduce(1, *))
    }
    forEachChunk(of: rows, costPerItem: f.costPerElement * rowSize) { _, range in
      let (blockA, blockB) = (block(paddedA, range), block(paddedB, range))
      binaryChunk(
        f, a + blockA.offset, shapeA: blockA.shape, b + blockB.offset, shapeB: blockB.shape,
        out + range.lowerBound * rowSize, result: [range.count] + result.dropFirst())
    }
  }

  /// `out = f(a, b)` with broadcasting, on the calling thread.
  @inlinable
  static func binaryChunk<S: KernelScalar>(
    _ f: BinaryFunction<S>, _ a: UnsafePointer<S>, shapeA: [Int], _ b: UnsafePointer<S>,
    shapeB: [Int], _ out: UnsafeMutablePointer<S>, result: [Int]
  ) {
    @inline(__always) func zip(_ f: (S, S) -> S) {
      Self.zip(a, shapeA: shapeA, b, shapeB: shapeB, out, result: result, f)
    }
    let (floatsA, floatsB, floatsOut) = (
      UnsafeRawPointer(a).assumingMemoryBound(to: Float.self),
      UnsafeRawPointer(b).assumingMemoryBound(to: Float.self),
      UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self)
    )
    // The GELU gradients in single precision are computed in `Double` (see
    // WideMath); a broadcast operand takes the general loop, with the same
    // bits.
    let isFloat = S.self == Float.self
    switch f {
    case .add: zip(+)
    case .subtract: zip(-)
    case .multiply: zip(*)
    case .divide: zip(/)
    case .power: zip { S.pow($0, $1) }
    case .maximum: zip { $0 >= $1 ? $0 : $1 }
    case .minimum: zip { $0 <= $1 ? $0 : $1 }
    case .greater: zip { $0 > $1 ? 1 : 0 }
    case .less: zip { $0 < $1 ? 1 : 0 }
    case .greaterOrEqual: zip { $0 >= $1 ? 1 : 0 }
    case .lessOrEqual: zip { $0 <= $1 ? 1 : 0 }
    case .equal: zip { $0 == $1 ? 1 : 0 }
    case .notEqual: zip { $0 != $1 ? 1 : 0 }
    case .passWhereAtLeast(let c)
    where c == 0 && c.sign == .plus && shapeA == result && shapeB == result:
      rectifierGradient(a, b, out, count: result.reduce(1, *))
    case .passWhereAtLeast(let c): zip { $1 >= c ? $0 : 0 }
    case .passWhereAtMost(let c): zip { $1 <= c ? $0 : 0 }
    case .tanhGradient: zip { $0 * (1 - $1 * $1) }
    case .sigmoidGradient: zip { $0 * $1 * (1 - $1) }
    case .logisticLoss:
      zip { z, t in
        Swift.max(z, 0) - z * t + S(Foundation.log1p(Foundation.exp(-Double(Swift.abs(z)))))
      }
    case .geluGradient where isFloat && shapeA == result && shapeB == result:
      geluGradientLanes(floatsA, floatsB, floatsOut, count: result.reduce(1, *))
    case .geluGradient where isFloat:
      zip { g, x in S(geluGradientLane(Float(g), Float(x))) }
    case .geluGradient:
      zip { g, x in
        let v = Double(x)
        let cdf = Foundation.erfc(-v / 2.squareRoot()) / 2
        let density = Foundation.exp(-v * v / 2) / (2 * Double.pi).squareRoot()
        return S(Double(g) * (cdf + v * density))
      }
    case .geluTanhGradient where isFloat && shapeA == result && shapeB == result:
      geluTanhGradientFloats(floatsA, floatsB, floatsOut, count: result.reduce(1, *))
    case .geluTanhGradient where isFloat:
      zip { g, x in S(geluTanhGradientWide(Double(g), Double(x))) }
    case .geluTanhGradient:
      zip { g, x in
        let v = Double(x)
        let c = (2 / Double.pi).squareRoot()
        let s = 1 / (1 + Foundation.exp(-2 * c * (v + 0.044715 * v * v * v)))
        let slope = c * (1 + 3 * 0.044715 * v * v)
        return S(Double(g) * (s + 2 * v * s * (1 - s) * slope))
      }
    }
  }
}
