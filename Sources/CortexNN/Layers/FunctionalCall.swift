import CortexCore

/// Functional calls: a layer run with its parameters replaced by given
/// tensors (PyTorch's `torch.func.functional_call`), for meta-learning,
/// hypernetworks and any method that differentiates through "fast
/// weights".

extension Layer {
  /// Applies the layer with its parameters replaced by `weights`, keyed by
  /// the names of ``namedParameters`` (`0.weight`, `hidden.bias`).
  ///
  /// The call reads `weights` wherever the layer (and every layer nested in
  /// it) reads a parameter. It is differentiable with respect to `weights`
  /// at any order, since they are ordinary tensors on the tape, and it
  /// never touches the model's own parameters: those keep their values,
  /// and state the forward pass updates (batch norm's running statistics
  /// in training) is left as it was.
  ///
  /// ```swift
  /// let fast = weights.mapValues { $0 }   // [String: Tensor<Double>]
  /// let y = model(x, parameters: fast)
  /// ```
  ///
  /// Every trainable parameter must have a value. State (non-trainable
  /// parameters) may be given too; where it is not, the layer reads its
  /// own.
  ///
  /// - Precondition: `weights` names every trainable parameter, names
  ///   nothing else, and gives each the parameter's shape (see
  ///   ``validate(parameters:)`` for a throwing check).
  public func callAsFunction(_ input: Tensor<Scalar>, parameters weights: [String: Tensor<Scalar>])
    -> Tensor<Scalar>
  {
    let pairs: [(Parameter<Scalar>, Tensor<Scalar>)]
    do throws(ShapeError) {
      pairs = try substitution(for: weights)
    } catch {
      preconditionFailure("\(summaryName)(_:parameters:): \(error.message)")
    }
    return withParameters(pairs.map(\.0), at: pairs.map(\.1)) { self(input) }
  }

  /// Checks that `weights` can stand in for this layer's parameters in
  /// ``callAsFunction(_:parameters:)``.
  ///
  /// - Throws: ``ShapeError`` naming the first trainable parameter without
  ///   a value, a name that is no parameter of the layer, or a value whose
  ///   shape differs from its parameter's.
  public func validate(parameters weights: [String: Tensor<Scalar>]) throws(ShapeError) {
    _ = try substitution(for: weights)
  }

  /// The parameters `weights` replaces, each with its value.
  private func substitution(for weights: [String: Tensor<Scalar>]) throws(ShapeError) -> [(
    Parameter<Scalar>, Tensor<Scalar>
  )] {
    let named = namedParameters
    var result: [(Parameter<Scalar>, Tensor<Scalar>)] = []
    for (name, parameter) in named {
      guard let value = weights[name] else {
        if parameter.isTrainable {
          throw ShapeError(
            "no value for the parameter '\(name)' \(parameter.shape); the weights name \(weights.keys.sorted())"
          )
        }
        continue
      }
      guard value.shape == parameter.shape else {
        throw ShapeError(
          "the value for '\(name)' has shape \(value.shape), the parameter has shape \(parameter.shape)"
        )
      }
      result.append((parameter, value))
    }
    let known = Set(named.map(\.name))
    if let extra = weights.keys.sorted().first(where: { !known.contains($0) }) {
      throw ShapeError(
        "'\(extra)' is not a parameter of the layer; its parameters are \(named.map(\.name))")
    }
    return result
  }
}
