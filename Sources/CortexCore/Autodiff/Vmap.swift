/// Vectorizing map: `vmap(f)` runs a function written for one example on a
/// whole batch at once, as `jax.vmap` and `torch.func.vmap` do.
///
/// Inside the mapped function each input is a *batched* tensor: its
/// ``Tensor/shape`` is one example's, and its storage holds every example,
/// the mapped axis first. Operations reach their backend primitives as
/// usual; a batched input makes the primitive's backend the one of the
/// current vmap level (``BatchingBackend``), which applies that primitive's
/// batching rule: the batch axis joins the primitive's own (a reduction's
/// axes move by one, a matrix product of a batched matrix by a shared one
/// becomes one product with `B·m` rows, a convolution's images become
/// `B·N` images), and the few cases without such a rule run the primitive
/// once per example. Nothing is copied per example unless a rule says so.
///
/// Gradients compose with it both ways. `gradient` inside `vmap` records
/// each example's operations on a tape whose pullbacks are batched as well,
/// so a gradient with respect to a shared value comes back per example.
/// `vmap` inside `gradient` sums each example's contribution to a shared
/// value, since the differentiated function is then the batched one: a
/// pullback's gradient that is batched at a vmap level its input is not,
/// entered after the gradient began, is summed over that level.

/// One axis that a `vmap` mapped over: the level of that `vmap` (1 for the
/// outermost) and the number of examples.
struct BatchAxis: Sendable, Hashable {
  let level: Int
  let size: Int
}

/// The level of the innermost `vmap` running in this task, 0 outside any.
enum VmapLevel {
  @TaskLocal static var current = 0
}

/// Maps `f`, written for one example, over the examples of its inputs.
///
/// Each input with an axis in `inAxes` is split along that axis into
/// examples; an input whose axis is `nil` is shared by every example. The
/// mapped inputs must have the same number of examples. The results are
/// stacked along `outAxis` of the output. `vmap` nests, and composes with
/// ``gradient(at:of:)-([Tensor<Scalar>],_)`` in either order:
///
/// ```swift
/// // Per-example gradients of a loss with respect to shared weights w.
/// let perExample = vmap(
///   { t in gradient(at: w) { w in loss(w, t[0], t[1]) } }, inAxes: [0, 0])
/// let grads = perExample([xs, ys])  // [B] + w.shape
/// ```
///
/// Inside `f`, tensors derived from a mapped input stand for one value per
/// example, so their scalars cannot be read (``Tensor/scalars``,
/// ``Tensor/scalar``, subscripts, raw buffers and printing of values trap
/// with a message); everything computed with tensor operations works. An
/// optimizer step, a layer's running statistics or any other state written
/// inside `f` traps too: there would be one new value per example.
///
/// - Parameters:
///   - f: the function of one example.
///   - inAxes: for each input, the axis to map over (negative counts from
///     the end), or `nil` for an input shared by every example; at least
///     one is not `nil`.
///   - outAxis: where the examples' axis goes in the result (default 0).
/// - Returns: a function of the batched inputs whose result has the
///   examples along `outAxis`: `f`'s result shape with the batch size
///   inserted there.
public func vmap<Scalar>(
  _ f: @escaping ([Tensor<Scalar>]) -> Tensor<Scalar>, inAxes: [Int?], outAxis: Int = 0
) -> ([Tensor<Scalar>]) -> Tensor<Scalar> {
  { inputs in mapped({ [f($0)] }, inputs, inAxes: inAxes, outAxis: outAxis)[0] }
}

/// Maps `f`, which returns several tensors (the gradients of several
/// parameters, say), over the examples of its inputs; each result is
/// stacked along `outAxis`. See
/// ``vmap(_:inAxes:outAxis:)-([Tensor<Scalar>],_,_)``.
public func vmap<Scalar>(
  _ f: @escaping ([Tensor<Scalar>]) -> [Tensor<Scalar>], inAxes: [Int?], outAxis: Int = 0
) -> ([Tensor<Scalar>]) -> [Tensor<Scalar>] {
  { inputs in mapped(f, inputs, inAxes: inAxes, outAxis: outAxis) }
}

/// Maps `f`, written for one example, over axis `inAxis` of its input:
/// `vmap(f)(x)` stacks `f(x[i])` along `outAxis`. See
/// ``vmap(_:inAxes:outAxis:)-([Tensor<Scalar>],_,_)``.
public func vmap<Scalar>(
  _ f: @escaping (Tensor<Scalar>) -> Tensor<Scalar>, inAxis: Int = 0, outAxis: Int = 0
) -> (Tensor<Scalar>) -> Tensor<Scalar> {
  { x in mapped({ [f($0[0])] }, [x], inAxes: [inAxis], outAxis: outAxis)[0] }
}

private func mapped<Scalar>(
  _ f: ([Tensor<Scalar>]) -> [Tensor<Scalar>], _ inputs: [Tensor<Scalar>], inAxes: [Int?],
  outAxis: Int
) -> [Tensor<Scalar>] {
  precondition(
    inAxes.count == inputs.count,
    "vmap: \(inAxes.count) input axes for \(inputs.count) inputs; give one axis (or nil) per input")
  var size: Int?
  var first = 0
  var axes: [Int?] = []
  for (k, (input, axis)) in zip(inputs, inAxes).enumerated() {
    guard let axis else {
      axes.append(nil)
      continue
    }
    let normalized = axis < 0 ? axis + input.rank : axis
    precondition(
      normalized >= 0 && normalized < input.rank,
      "vmap: axis \(axis) is out of range for input \(k) of shape \(input.shape)")
    let count = input.shape[normalized]
    if let size {
      precondition(
        count == size,
        "vmap: input \(k) has \(count) examples along axis \(normalized) (shape \(input.shape)), but input \(first) has \(size)"
      )
    } else {
      (size, first) = (count, k)
    }
    axes.append(normalized)
  }
  guard let size else {
    preconditionFailure("vmap: every input axis is nil; map over at least one input")
  }
  let level = VmapLevel.current + 1
  let outputs = VmapLevel.$current.withValue(level) {
    f(
      zip(inputs, axes).map { input, axis in
        guard let axis else { return input }
        let front = axis == 0 ? input : input.permuted(movingAxis: axis, to: 0)
        return front.enteringBatch(level: level)
      })
  }
  return outputs.map { output in
    precondition(
      output.batchLevel <= level,
      "vmap: the mapped function returned a tensor batched by a vmap inside it; return values computed at this level"
    )
    let stacked = output.leavingBatch(level: level, size: size)
    let axis = outAxis < 0 ? outAxis + stacked.rank : outAxis
    precondition(
      axis >= 0 && axis < stacked.rank,
      "vmap: out axis \(outAxis) is out of range for a result of shape \(stacked.shape)")
    return axis == 0 ? stacked : stacked.permuted(movingAxis: 0, to: axis)
  }
}

// MARK: - Batched tensors

extension Tensor {
  /// Whether this tensor stands for one value per example of a `vmap`.
  package var isBatched: Bool { !batch.isEmpty }

  /// The scalars of every example of a batched tensor (of the tensor
  /// itself when it is not batched), for checks that must see them all,
  /// such as token ids' range.
  package var scalarsOfEveryExample: [Scalar] {
    storage.device == .meta ? [Scalar](repeating: 0, count: storage.count) : Array(storage.buffer)
  }

  /// Integer indices of this tensor's shape plus `[count]`, each of its
  /// elements repeated `count` times along the new last axis, batched as
  /// this tensor is: the rows to gather for a lookup of `count` features.
  package func indicesRepeated(_ ids: [Int], count: Int) -> IndexTensor {
    IndexTensor(
      shape: shape + [count], scalars: ids.flatMap { repeatElement($0, count: count) },
      batch: batch)
  }

  /// The level of the innermost `vmap` this tensor is batched by, 0 when
  /// it is not batched.
  var batchLevel: Int { batch.last?.level ?? 0 }

  /// Traps when this tensor is batched: `operation` would read or write
  /// its scalars as if it held one value.
  func requireUnbatched(_ operation: String) {
    guard let axis = batch.last else { return }
    preconditionFailure(
      "\(operation): inside vmap, a tensor of shape \(shape) holds one value per example (\(axis.size) examples), so its scalars cannot be read or written one by one; compute with tensor operations, or read the result vmap returns"
    )
  }

  /// The same storage with the batch axis of `level` as the first axis,
  /// when `level` is this tensor's innermost batch axis; not recorded.
  func physical(at level: Int) -> Tensor? {
    guard let last = batch.last, last.level == level else { return nil }
    return Tensor(shape: [last.size] + shape, storage: storage, batch: Array(batch.dropLast()))
  }

  /// The same storage with the first axis made the batch axis of `level`;
  /// not recorded. The inverse of ``physical(at:)``.
  func batched(at level: Int) -> Tensor {
    Tensor(
      shape: Array(shape.dropFirst()), storage: storage,
      batch: batch + [BatchAxis(level: level, size: shape[0])])
  }

  /// The tensor with `axis` moved to `destination`, the others in order.
  func permuted(movingAxis axis: Int, to destination: Int) -> Tensor {
    var order = Array(0..<rank)
    order.remove(at: axis)
    order.insert(axis, at: destination)
    return permuted(order)
  }

  /// Axis 0 made the batch axis of `level`, recorded: the gradient of the
  /// result leaves the batch back along axis 0.
  func enteringBatch(level: Int) -> Tensor {
    let size = shape[0]
    return record("vmap", self, output: batched(at: level)) { g in
      g.leavingBatch(level: level, size: size)
    }
  }

  /// The batch axis of `level` made axis 0, recorded; a tensor that is not
  /// batched at `level` is the same for every example and is repeated
  /// `size` times.
  func leavingBatch(level: Int, size: Int) -> Tensor {
    guard let physical = physical(at: level) else {
      return unsqueezed(at: 0).broadcasted(to: [size] + shape)
    }
    return record("vmap", self, output: physical) { g in g.enteringBatch(level: level) }
  }

  /// `self` summed over the examples of the batch axis of `level`,
  /// recorded: a pullback's gradient for a value shared by the examples of
  /// a `vmap` entered inside the differentiated function.
  func summedOverBatch(level: Int) -> Tensor {
    let position = batch.firstIndex { $0.level == level }!
    let axis = batch[position]
    let whole = Tensor(shape: batch.map(\.size) + shape, storage: storage)
    let summed = whole.backend("vmap").sum(whole, alongAxes: [position])
    var remaining = batch
    remaining.remove(at: position)
    let output = Tensor(shape: shape, storage: summed.storage, batch: remaining)
    return record("vmap sum", self, output: output) { g in g * Tensor.ones(batchedBy: axis) }
  }

  /// A 0-d tensor holding 1 for each example of the batch axis `axis`.
  static func ones(batchedBy axis: BatchAxis) -> Tensor {
    Tensor(
      shape: [],
      storage: TensorStorage(repeating: 1, count: axis.size, device: Device.defaultDevice),
      batch: [axis])
  }
}
