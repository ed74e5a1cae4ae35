import Foundation

/// A floating-point type a ``Tensor`` can hold: `Float` or `Double`.
///
/// The elementary functions are spelled out here, calling the C library
/// explicitly, so that every kernel uses the same implementation on every
/// platform.
public protocol TensorScalar: BinaryFloatingPoint, SIMDScalar, Sendable, Codable,
  LosslessStringConvertible
{
  /// The safetensors dtype name: `F32` or `F64`.
  static var dtypeName: String { get }
  /// The largest relative error a gradient check passes by default for
  /// this precision. Relative errors are computed in `Double`, so the
  /// tolerance is a `Double` too (exactly 1e-2 for `Float`).
  static var defaultGradientTolerance: Double { get }
  /// The central-difference step a gradient check uses by default.
  static var defaultGradientStep: Self { get }

  static func exp(_ x: Self) -> Self
  static func log(_ x: Self) -> Self
  static func tanh(_ x: Self) -> Self
  static func pow(_ x: Self, _ y: Self) -> Self
}

extension Float: TensorScalar {
  public static var dtypeName: String { "F32" }
  public static var defaultGradientTolerance: Double { 1e-2 }
  public static var defaultGradientStep: Float { 1e-2 }
  @inlinable public static func exp(_ x: Float) -> Float { Foundation.expf(x) }
  @inlinable public static func log(_ x: Float) -> Float { Foundation.logf(x) }
  @inlinable public static func tanh(_ x: Float) -> Float { Foundation.tanhf(x) }
  @inlinable public static func pow(_ x: Float, _ y: Float) -> Float { Foundation.powf(x, y) }
}

extension Double: TensorScalar {
  public static var dtypeName: String { "F64" }
  public static var defaultGradientTolerance: Double { 1e-7 }
  public static var defaultGradientStep: Double { 1e-6 }
  @inlinable public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
  @inlinable public static func log(_ x: Double) -> Double { Foundation.log(x) }
  @inlinable public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
  @inlinable public static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
}
