import Foundation

/// A seeded pseudo-random generator (xoshiro256**, seeded by SplitMix64).
///
/// Cortex uses its own generator rather than the system's so that the same
/// seed draws the same numbers on every run and every platform.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var state: (UInt64, UInt64, UInt64, UInt64)

  /// A generator whose sequence is determined by `seed`.
  public init(seed: UInt64) {
    var mix = seed
    func next() -> UInt64 {
      mix &+= 0x9E37_79B9_7F4A_7C15
      var z = mix
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    state = (next(), next(), next(), next())
  }

  public mutating func next() -> UInt64 {
    let result = rotate(state.1 &* 5, 7) &* 9
    let t = state.1 << 17
    state.2 ^= state.0
    state.3 ^= state.1
    state.1 ^= state.2
    state.0 ^= state.3
    state.2 ^= t
    state.3 = rotate(state.3, 45)
    return result
  }

  private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

  /// A uniform draw from [0, 1) with 53 random bits.
  public mutating func nextUnit() -> Double {
    Double(next() >> 11) * 0x1.0p-53
  }

  /// A standard normal draw (Box–Muller).
  public mutating func nextNormal() -> Double {
    let u1 = 1 - nextUnit()  // (0, 1]: log stays finite
    let u2 = nextUnit()
    return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
  }
}

extension Tensor {
  /// Uniform draws from `[lower, upper)`, reproducible for a given seed.
  public static func randomUniform(
    _ shape: [Int], lower: Scalar = 0, upper: Scalar = 1, seed: UInt64
  ) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return randomUniform(shape, lower: lower, upper: upper, using: &generator)
  }

  /// Uniform draws from `[lower, upper)` taken from `generator`.
  ///
  /// A draw just below 1 can round up to `upper` in the scalar's precision
  /// (in `Float`, any draw above 1 − 2⁻²⁵); such draws become the largest
  /// scalar below `upper`, so that `upper` itself is never drawn.
  public static func randomUniform(
    _ shape: [Int], lower: Scalar = 0, upper: Scalar = 1, using generator: inout SeededGenerator
  ) -> Tensor {
    precondition(lower < upper, "randomUniform: lower bound \(lower) is not below upper \(upper)")
    let width = Double(upper - lower)
    let largest = upper.nextDown
    return Tensor(shape: shape) { _ in
      Swift.min(lower + Scalar(generator.nextUnit() * width), largest)
    }
  }

  /// Normal draws with the given mean and standard deviation, reproducible
  /// for a given seed.
  public static func randomNormal(
    _ shape: [Int], mean: Scalar = 0, standardDeviation: Scalar = 1, seed: UInt64
  ) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return randomNormal(shape, mean: mean, standardDeviation: standardDeviation, using: &generator)
  }

  /// Normal draws with the given mean and standard deviation taken from
  /// `generator`.
  public static func randomNormal(
    _ shape: [Int], mean: Scalar = 0, standardDeviation: Scalar = 1,
    using generator: inout SeededGenerator
  ) -> Tensor {
    Tensor(shape: shape) { _ in mean + standardDeviation * Scalar(generator.nextNormal()) }
  }
}
