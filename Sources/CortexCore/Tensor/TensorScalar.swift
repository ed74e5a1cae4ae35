import CortexKernels
import Foundation

/// A floating-point type a ``Tensor`` can hold: `Float` or `Double`.
///
/// The elementary functions (`exp`, `log`, `tanh`, `pow`) come from the
/// kernels' scalar protocol, which calls the C library explicitly, so that
/// every kernel uses the same implementation on every platform.
public protocol TensorScalar: KernelScalar, SIMDScalar, Codable, LosslessStringConvertible {
  /// The safetensors dtype name: `F32` or `F64`.
  static var dtypeName: String { get }
  /// The relative tolerance `rtol` of a gradient check by default for
  /// this precision: an element passes when `|a − n| ≤ atol + rtol·|n|`.
  /// Errors are computed in `Double`, so the tolerance is a `Double` too.
  static var defaultGradientTolerance: Double { get }
  /// The absolute tolerance `atol` of a gradient check by default.
  static var defaultGradientAbsoluteTolerance: Double { get }
  /// The central-difference step a gradient check uses by default.
  static var defaultGradientStep: Self { get }
}

extension Float: TensorScalar {
  public static var dtypeName: String { "F32" }
  public static var defaultGradientTolerance: Double { 1e-2 }
  public static var defaultGradientAbsoluteTolerance: Double { 1e-4 }
  public static var defaultGradientStep: Float { 1e-2 }
}

extension Double: TensorScalar {
  public static var dtypeName: String { "F64" }
  public static var defaultGradientTolerance: Double { 1e-3 }
  public static var defaultGradientAbsoluteTolerance: Double { 1e-5 }
  public static var defaultGradientStep: Double { 1e-6 }
}
