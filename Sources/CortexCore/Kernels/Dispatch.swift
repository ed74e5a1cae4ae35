import CortexKernels

// The entry points the operations call. Each picks the kernels of the
// current instruction set and hands them concrete Float or Double buffers,
// so that a caller's generic, unspecialized code still reaches optimized
// kernels.

/// Matrix multiplication on row-major buffers:
/// `C = op(A) · op(B)` (or `C += op(A) · op(B)` when `accumulate`), where
/// `op(A)` is `[m, k]`, `op(B)` is `[k, n]` and `C` is `[m, n]`.
/// `op(X)` is `X` or, when its `transpose` flag is set, `Xᵀ`; `lda`, `ldb`,
/// `ldc` are the row strides of the buffers as stored.
func gemm<S: TensorScalar>(
  transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
  a: UnsafePointer<S>, lda: Int, b: UnsafePointer<S>, ldb: Int,
  c: UnsafeMutablePointer<S>, ldc: Int, accumulate: Bool,
  using kernels: any KernelSet.Type = ComputeSettings.kernels
) {
  func product<T>(_: T.Type) -> GEMMProduct<T> {
    GEMMProduct(
      transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
      a: UnsafeRawPointer(a).assumingMemoryBound(to: T.self), lda: lda,
      b: UnsafeRawPointer(b).assumingMemoryBound(to: T.self), ldb: ldb,
      c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: T.self), ldc: ldc,
      accumulate: accumulate)
  }
  if S.self == Float.self {
    kernels.gemm(product(Float.self))
  } else if S.self == Double.self {
    kernels.gemm(product(Double.self))
  } else {
    preconditionFailure("gemm: no kernel for \(S.self)")
  }
}

/// Runs a convolution, pooling or reduction kernel on the current set's
/// kernels, for Float or Double buffers.
func runKernel<S: TensorScalar>(
  _ call: KernelCall<S>, using kernels: any KernelSet.Type = ComputeSettings.kernels
) {
  // `S` is `Float` or `Double` itself, so the casts change no layout.
  if S.self == Float.self {
    kernels.run(unsafeBitCast(call, to: KernelCall<Float>.self))
  } else if S.self == Double.self {
    kernels.run(unsafeBitCast(call, to: KernelCall<Double>.self))
  } else {
    preconditionFailure("no kernel for \(S.self)")
  }
}

/// Sums the middle axis of a buffer viewed as `[outer, axis, inner]`:
/// `out[o, i] = Σₖ x[o, k, i]`, through the current set's kernels (along a
/// contiguous axis in eight interleaved partial sums, otherwise in order
/// of `k`).
func sumKernel<S: TensorScalar>(
  _ x: UnsafePointer<S>, outer: Int, axis: Int, inner: Int, _ out: UnsafeMutablePointer<S>,
  using kernels: any KernelSet.Type = ComputeSettings.kernels
) {
  runKernel(.sumAlongAxis(x: x, outer: outer, axis: axis, inner: inner, out: out), using: kernels)
}

/// `tanh` in single precision through the current set's kernels: within
/// 3.95e-7 of the exact value (see `KernelSet.tanhFloat`).
func tanhFloat(
  _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int,
  using kernels: any KernelSet.Type = ComputeSettings.kernels
) {
  kernels.tanh(x, out, count: count)
}

/// A function of one tensor, applied to every element.
package typealias UnaryFunction<S: TensorScalar> = CortexKernels.UnaryFunction<S>

/// A function of two tensors, applied elementwise with NumPy broadcasting.
package typealias BinaryFunction<S: TensorScalar> = CortexKernels.BinaryFunction<S>

/// The `[Float]` or `[Double]` view of a pointer to `S`, which is one of
/// them (the casts change no layout).
private func cast<S, T>(_ pointer: UnsafePointer<S>) -> UnsafePointer<T> {
  UnsafeRawPointer(pointer).assumingMemoryBound(to: T.self)
}

private func cast<S, T>(_ pointer: UnsafeMutablePointer<S>) -> UnsafeMutablePointer<T> {
  UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: T.self)
}

/// `out[i] = f(x[i])` for `count` elements, through the current set's
/// kernels.
func unaryKernel<S: TensorScalar>(
  _ f: UnaryFunction<S>, _ x: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, count: Int,
  using kernels: any KernelSet.Type = ComputeSettings.kernels
) {
  if S.self == Float.self {
    kernels.apply(
      unsafeBitCast(f, to: UnaryFunction<Float>.self), cast(x), cast(out), count: count)
  } else if S.self == Double.self {
    kernels.apply(
      unsafeBitCast(f, to: UnaryFunction<Double>.self), cast(x), cast(out), count: count)
  } else {
    preconditionFailure("unaryKernel: no kernel for \(S.self)")
  }
}

/// `out = f(a, b)` elementwise with NumPy broadcasting, through the current
/// set's kernels: `a` of `shapeA`, `b` of `shapeB`, `out` of their broadcast
/// shape `result`.
func binaryKernel<S: TensorScalar>(
  _ f: BinaryFunction<S>, _ a: UnsafePointer<S>, shapeA: [Int], _ b: UnsafePointer<S>,
  shapeB: [Int], _ out: UnsafeMutablePointer<S>, result: [Int],
  using kernels: any KernelSet.Type = ComputeSettings.kernels
) {
  if S.self == Float.self {
    kernels.apply(
      unsafeBitCast(f, to: BinaryFunction<Float>.self), cast(a) as UnsafePointer<Float>,
      shapeA: shapeA, cast(b), shapeB: shapeB, cast(out), result: result)
  } else if S.self == Double.self {
    kernels.apply(
      unsafeBitCast(f, to: BinaryFunction<Double>.self), cast(a) as UnsafePointer<Double>,
      shapeA: shapeA, cast(b), shapeB: shapeB, cast(out), result: result)
  } else {
    preconditionFailure("binaryKernel: no kernel for \(S.self)")
  }
}

/// The sizes of a fused attention; see ``CortexKernels/AttentionShape``.
typealias AttentionShape = CortexKernels.AttentionShape
