/// The kernels of one instruction set.
///
/// The kernel source is written once, as generic `@inlinable` code in
/// extensions of this protocol. A small module per instruction set
/// declares a conforming type that names its register types, and is
/// compiled with that set's target CPU: the compiler specializes the
/// source there, for that set's registers and both scalar types, and the
/// specializations carry the conforming type in their names, so the linker
/// never confuses one set's code with another's.
///
/// Every set sums in the same order: a GEMM entry is one running sum over
/// the depth, cut into the same blocks on every set (register width decides
/// only which entries are computed side by side), and the vector reductions
/// use a fixed eight lanes whatever the register width. Sets that fuse
/// multiply-adds therefore give identical bits.
public protocol KernelSet {
  /// A register of single-precision lanes.
  associatedtype FloatVector: SIMD where FloatVector.Scalar == Float
  /// A register of double-precision lanes.
  associatedtype DoubleVector: SIMD where DoubleVector.Scalar == Double

  /// The set these kernels are compiled for.
  static var instructionSet: InstructionSet { get }

  /// `C = op(A) · op(B)` (or `C += …`) in single precision.
  static func gemm(_ product: GEMMProduct<Float>)
  /// `C = op(A) · op(B)` (or `C += …`) in double precision.
  static func gemm(_ product: GEMMProduct<Double>)
  /// `out = a ∘ b` elementwise, with NumPy broadcasting: `a` of `shapeA`,
  /// `b` of `shapeB`, `out` of their broadcast shape `result`.
  static func arithmetic(
    _ operation: BinaryOperation, _ a: UnsafePointer<Float>, shapeA: [Int],
    _ b: UnsafePointer<Float>, shapeB: [Int], _ out: UnsafeMutablePointer<Float>, result: [Int])
  /// `out = a ∘ b` elementwise in double precision, as for `Float`.
  static func arithmetic(
    _ operation: BinaryOperation, _ a: UnsafePointer<Double>, shapeA: [Int],
    _ b: UnsafePointer<Double>, shapeB: [Int], _ out: UnsafeMutablePointer<Double>,
    result: [Int])
  /// `out[i] = tanh(x[i])` for `count` elements, in single precision.
  static func tanh(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int)
  /// Runs `iterations` steps of a loop of independent multiply-adds on
  /// registers alone; each step is `fmaPeakFlopsPerStep` flops. The result
  /// only keeps the loop from being optimized away.
  static func fmaPeakLoop(iterations: Int) -> Float
}

extension KernelSet {
  /// Whether multiply-adds are fused (one rounding) on this set.
  @inlinable static var fusesMultiplyAdd: Bool { instructionSet.fusesMultiplyAdd }

  /// Single-precision flops of one step of ``fmaPeakLoop(iterations:)``.
  public static var fmaPeakFlopsPerStep: Int { 2 * 12 * FloatVector.scalarCount }

  @inlinable public static func gemm(_ product: GEMMProduct<Float>) {
    multiply(product, FloatVector.self)
  }

  @inlinable public static func gemm(_ product: GEMMProduct<Double>) {
    multiply(product, DoubleVector.self)
  }

  @inlinable public static func arithmetic(
    _ operation: BinaryOperation, _ a: UnsafePointer<Float>, shapeA: [Int],
    _ b: UnsafePointer<Float>, shapeB: [Int], _ out: UnsafeMutablePointer<Float>, result: [Int]
  ) {
    elementwise(operation, a, shapeA: shapeA, b, shapeB: shapeB, out, result: result)
  }

  @inlinable public static func arithmetic(
    _ operation: BinaryOperation, _ a: UnsafePointer<Double>, shapeA: [Int],
    _ b: UnsafePointer<Double>, shapeB: [Int], _ out: UnsafeMutablePointer<Double>,
    result: [Int]
  ) {
    elementwise(operation, a, shapeA: shapeA, b, shapeB: shapeB, out, result: result)
  }

  @inlinable public static func tanh(
    _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int
  ) {
    tanhFloat(x, out, count: count)
  }

  @inlinable public static func fmaPeakLoop(iterations: Int) -> Float {
    fmaPeak(FloatVector.self, iterations: iterations)
  }

  /// `acc += x · y` lane by lane, fused on sets that fuse.
  @inlinable @inline(__always)
  static func multiplyAdd<V: SIMD>(_ acc: inout V, _ x: V, _ y: V)
  where V.Scalar: FloatingPoint {
    if fusesMultiplyAdd {
      acc.addProduct(x, y)
    } else {
      acc += x * y
    }
  }

  /// Twelve independent chains of multiply-adds, as many as the GEMM tile
  /// keeps, with nothing but registers involved.
  @inlinable
  static func fmaPeak<V: SIMD>(_: V.Type, iterations: Int) -> Float where V.Scalar == Float {
    let x = V(repeating: 0.999_999)
    let y = V(repeating: 1e-7)
    var (c0, c1, c2, c3) = (V(repeating: 1), V(repeating: 2), V(repeating: 3), V(repeating: 4))
    var (c4, c5, c6, c7) = (V(repeating: 5), V(repeating: 6), V(repeating: 7), V(repeating: 8))
    var (c8, c9, c10, c11) = (V(repeating: 9), V(repeating: 10), V(repeating: 11), V(repeating: 12))
    for _ in 0..<iterations {
      multiplyAdd(&c0, x, y)
      multiplyAdd(&c1, x, y)
      multiplyAdd(&c2, x, y)
      multiplyAdd(&c3, x, y)
      multiplyAdd(&c4, x, y)
      multiplyAdd(&c5, x, y)
      multiplyAdd(&c6, x, y)
      multiplyAdd(&c7, x, y)
      multiplyAdd(&c8, x, y)
      multiplyAdd(&c9, x, y)
      multiplyAdd(&c10, x, y)
      multiplyAdd(&c11, x, y)
    }
    let sum = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11))
    return sum.sum()
  }
}
