/// Dropout: during training each unit is zeroed with probability `p`, and
/// the kept ones are scaled up so that the expected value is unchanged.

/// Inverted dropout: in training, each element is kept with probability
/// `1 − p` and scaled by `1/(1 − p)`, or set to 0; at inference it is the
/// identity, with no scaling needed.
///
/// The mask (`0` or `1/(1 − p)` per element) is drawn from `generator`, one
/// uniform draw per element in row-major order, so the same seed draws the
/// same mask. The pullback multiplies the upstream gradient by that same
/// mask. With `p = 0`, or when not training, `x` is returned unchanged and
/// nothing is drawn; with `p = 1` every element is dropped.
///
/// - Parameters:
///   - x: any shape.
///   - probability: `p`, the probability of dropping an element, in `0...1`.
///   - training: whether to drop (training) or pass through (inference).
///   - generator: the source of the mask.
/// - Returns: the shape of `x`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func dropout<Scalar>(
  _ x: Tensor<Scalar>, probability: Scalar, training: Bool,
  generator: inout SeededGenerator
) -> Tensor<Scalar> {
  precondition(
    probability >= 0 && probability <= 1,
    "dropout: probability must be in 0...1, found \(probability)")
  guard training, probability > 0 else { return x }
  let scale: Scalar = probability < 1 ? 1 / (1 - probability) : 0
  let threshold = Double(probability)
  let mask = Tensor<Scalar>(shape: x.shape) { _ in
    generator.nextUnit() < threshold ? 0 : scale
  }
  let output = Tensor.broadcasting("dropout", x, mask, .multiply)
  return record("dropout", x, output: output) { $0 * mask }
}
