/// The kernel set's entry points for callers generic over the scalar type.
///
/// Each requirement of ``KernelSet`` comes in a `Float` and a `Double`
/// form, specialized inside the set's module for its registers. A caller
/// generic over its scalar (a backend whose primitives are generic
/// functions) calls these overloads instead: each checks which of the two
/// scalar types it was given and forwards to that form, so the call still
/// lands in the set's specialized code. Inlined into a caller specialized
/// for `Float` or `Double`, the check disappears.

extension KernelSet {
  /// `C = op(A) · op(B)` (or `C += …`) in the precision of `S`.
  @inlinable public static func gemm<S: KernelScalar>(_ product: GEMMProduct<S>) {
    forScalar(
      S.self, "gemm",
      float: { gemm(unsafeBitCast(product, to: GEMMProduct<Float>.self)) },
      double: { gemm(unsafeBitCast(product, to: GEMMProduct<Double>.self)) })
  }

  /// `out[i] = f(x[i])` for `count` elements in the precision of `S`.
  @inlinable public static func apply<S: KernelScalar>(
    _ f: UnaryFunction<S>, _ x: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, count: Int
  ) {
    forScalar(
      S.self, "unary \(f)",
      float: {
        apply(unsafeBitCast(f, to: UnaryFunction<Float>.self), cast(x), cast(out), count: count)
      },
      double: {
        apply(unsafeBitCast(f, to: UnaryFunction<Double>.self), cast(x), cast(out), count: count)
      })
  }

  /// `out = f(a, b)` elementwise with NumPy broadcasting, in the precision
  /// of `S`: `a` of `shapeA`, `b` of `shapeB`, `out` of their broadcast
  /// shape `result`.
  @inlinable public static func apply<S: KernelScalar>(
    _ f: BinaryFunction<S>, _ a: UnsafePointer<S>, shapeA: [Int], _ b: UnsafePointer<S>,
    shapeB: [Int], _ out: UnsafeMutablePointer<S>, result: [Int]
  ) {
    forScalar(
      S.self, "binary \(f)",
      float: {
        apply(
          unsafeBitCast(f, to: BinaryFunction<Float>.self), cast(a) as UnsafePointer<Float>,
          shapeA: shapeA, cast(b), shapeB: shapeB, cast(out), result: result)
      },
      double: {
        apply(
          unsafeBitCast(f, to: BinaryFunction<Double>.self), cast(a) as UnsafePointer<Double>,
          shapeA: shapeA, cast(b), shapeB: shapeB, cast(out), result: result)
      })
  }

  /// Runs one of the kernels of ``KernelCall`` in the precision of `S`.
  @inlinable public static func run<S: KernelScalar>(_ call: KernelCall<S>) {
    forScalar(
      S.self, "kernel call",
      float: { run(unsafeBitCast(call, to: KernelCall<Float>.self)) },
      double: { run(unsafeBitCast(call, to: KernelCall<Double>.self)) })
  }

  /// Runs `float` when `S` is `Float` and `double` when it is `Double`;
  /// traps, naming `kernel`, for any other type.
  @inlinable @inline(__always)
  static func forScalar<S>(
    _: S.Type, _ kernel: @autoclosure () -> String, float: () -> Void, double: () -> Void
  ) {
    if S.self == Float.self {
      float()
    } else if S.self == Double.self {
      double()
    } else {
      preconditionFailure("\(kernel()): no kernel for \(S.self)")
    }
  }

  /// The same address viewed as a buffer of `T`, the type `S` was found to
  /// be (the cast changes no layout).
  @inlinable @inline(__always)
  static func cast<S, T>(_ pointer: UnsafePointer<S>) -> UnsafePointer<T> {
    UnsafeRawPointer(pointer).assumingMemoryBound(to: T.self)
  }

  /// The same address viewed as a mutable buffer of `T`.
  @inlinable @inline(__always)
  static func cast<S, T>(_ pointer: UnsafeMutablePointer<S>) -> UnsafeMutablePointer<T> {
    UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: T.self)
  }
}
