/// An n-dimensional array of floating-point numbers, contiguous and
/// row-major, with value semantics.
///
/// Copies share their storage until one of them is mutated. A tensor that
/// takes part in a gradient computation also carries the place where it was
/// recorded on the active tape; that is how operations know to record
/// themselves.
public struct Tensor<Scalar: TensorScalar>: Sendable {
  /// The size of each dimension; empty for a 0-d scalar.
  public internal(set) var shape: [Int]
  var storage: TensorStorage<Scalar>
  /// Where this value was recorded, when it is being differentiated.
  var node: TapeNode?
  /// The axes that ``vmap(_:inAxes:outAxis:)`` mapped over, outermost
  /// first: the storage holds one value of `shape` per combination of
  /// their indices, so `shape` is what the mapped function sees. Empty for
  /// every tensor outside `vmap`.
  var batch: [BatchAxis]

  init(
    shape: [Int], storage: TensorStorage<Scalar>, node: TapeNode? = nil, batch: [BatchAxis] = []
  ) {
    precondition(
      shape.allSatisfy { $0 >= 0 }
        && shape.reduce(1, *) * batch.reduce(1) { $0 * $1.size } == storage.count,
      "shape \(shape) does not describe \(storage.count) scalars")
    self.shape = shape
    self.storage = storage
    self.node = node
    self.batch = batch
  }
}

// MARK: - Creation

extension Tensor {
  /// A tensor of the given shape holding `scalars` in row-major order.
  ///
  /// - Precondition: `scalars.count` equals the product of `shape`.
  public init(shape: [Int], scalars: [Scalar]) {
    self.init(shape: shape, scalars: scalars, on: Device.defaultDevice)
  }

  /// A tensor of the given shape holding `scalars` in row-major order, in
  /// the memory of `device` (an upload, for a device with memory of its
  /// own).
  ///
  /// - Precondition: `scalars.count` equals the product of `shape`.
  package init(shape: [Int], scalars: [Scalar], on device: Device) {
    precondition(
      shape.allSatisfy { $0 >= 0 }, "Tensor(shape:scalars:): negative dimension in \(shape)")
    precondition(
      shape.reduce(1, *) == scalars.count,
      "Tensor(shape:scalars:): shape \(shape) needs \(shape.reduce(1, *)) scalars, found \(scalars.count)"
    )
    self.init(shape: shape, storage: TensorStorage(scalars, device: device))
  }

  /// A 1-D tensor holding `scalars`.
  public init(_ scalars: [Scalar]) {
    self.init(shape: [scalars.count], scalars: scalars)
  }

  /// A 0-d tensor holding one scalar.
  public init(_ scalar: Scalar) {
    self.init(shape: [], scalars: [scalar])
  }

  /// `[labels.count, classes]`: 1 at each example's label, 0 elsewhere;
  /// each label is in `0..<classes`, checked by the caller.
  init(oneHot labels: [Int], classes: Int) {
    var scalars = [Scalar](repeating: 0, count: labels.count * classes)
    for (example, label) in labels.enumerated() { scalars[example * classes + label] = 1 }
    self.init(shape: [labels.count, classes], scalars: scalars)
  }

  /// The shape of `mask`: 1 where it is true, 0 elsewhere.
  init(_ mask: Mask) {
    self.init(shape: mask.shape, scalars: mask.scalars.map { $0 ? 1 : 0 })
  }

  /// A tensor of the given shape with every element equal to `value`.
  public init(repeating value: Scalar, shape: [Int]) {
    precondition(
      shape.allSatisfy { $0 >= 0 }, "Tensor(repeating:shape:): negative dimension in \(shape)")
    self.init(shape: shape, repeating: value, on: Device.defaultDevice)
  }

  /// A tensor of the given shape on `device` with every element equal to
  /// `value`.
  init(shape: [Int], repeating value: Scalar, on device: Device) {
    self.init(
      shape: shape,
      storage: TensorStorage(repeating: value, count: shape.reduce(1, *), device: device))
  }

  /// A tensor of zeros.
  public static func zeros(_ shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }
  /// A tensor of zeros on `device`, such as an optimizer's state beside
  /// its parameter.
  package static func zeros(_ shape: [Int], on device: Device) -> Tensor {
    Tensor(shape: shape, repeating: 0, on: device)
  }
  /// A tensor of ones.
  public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }
  /// A tensor of the given shape filled with `value`.
  public static func filled(_ value: Scalar, shape: [Int]) -> Tensor {
    Tensor(repeating: value, shape: shape)
  }

  /// A tensor with the given shape whose scalars are produced by `body`,
  /// called once per element in row-major order.
  package init(shape: [Int], generating body: (Int) -> Scalar) {
    let count = shape.reduce(1, *)
    let device = Device.defaultDevice
    guard device == .cpu else {
      self.init(shape: shape, scalars: (0..<count).map(body), on: device)
      return
    }
    // On the host, written in place: no array in between.
    let storage = TensorStorage<Scalar>(uninitializedCount: count, device: .cpu)
    for i in 0..<count { (storage.pointer + i).initialize(to: body(i)) }
    self.init(shape: shape, storage: storage)
  }

  /// A host tensor of uninitialized scalars, for the CPU kernels, which
  /// write every element.
  package static func uninitialized(_ shape: [Int]) -> Tensor {
    Tensor(
      shape: shape, storage: TensorStorage(uninitializedCount: shape.reduce(1, *), device: .cpu))
  }

  /// The `n × n` identity matrix: 1 on the diagonal, 0 elsewhere
  /// (`torch.eye(n)`).
  public static func eye(_ n: Int) -> Tensor { eye(rows: n, columns: n) }

  /// A `rows × columns` matrix with 1 where the row and column indices are
  /// equal and 0 elsewhere (`torch.eye(rows, columns)`).
  public static func eye(rows: Int, columns: Int) -> Tensor {
    precondition(
      rows >= 0 && columns >= 0,
      "eye: the sizes must not be negative, found \(rows) × \(columns)")
    return Tensor(shape: [rows, columns]) { $0 / columns == $0 % columns ? 1 : 0 }
  }

  /// `[start, start + step, ...]`, stopping before `end`.
  public static func arange(from start: Scalar = 0, to end: Scalar, step: Scalar = 1) -> Tensor {
    precondition(step != 0, "arange: step must not be zero")
    let count = Swift.max(0, Int(((end - start) / step).rounded(.up)))
    return Tensor(shape: [count]) { start + Scalar($0) * step }
  }

  /// `count` evenly spaced values from `start` to `end`, both included.
  public static func linspace(from start: Scalar, to end: Scalar, count: Int) -> Tensor {
    precondition(count >= 0, "linspace: count must not be negative, found \(count)")
    if count == 1 { return Tensor([start]) }
    let step = (end - start) / Scalar(count - 1)
    return Tensor(shape: [count]) { $0 == count - 1 ? end : start + Scalar($0) * step }
  }
}

// MARK: - Access

extension Tensor {
  /// The number of dimensions.
  public var rank: Int { shape.count }
  /// The number of scalars.
  public var scalarCount: Int { batch.isEmpty ? storage.count : shape.reduce(1, *) }
  /// The scalars in row-major order (zeros for a shape-only tensor).
  public var scalars: [Scalar] {
    requireUnbatched("scalars")
    return storage.device == .meta
      ? [Scalar](repeating: 0, count: scalarCount) : Array(storage.buffer)
  }

  /// The only scalar of a tensor that has one element.
  public var scalar: Scalar {
    requireUnbatched("scalar")
    precondition(
      scalarCount == 1, "scalar: tensor of shape \(shape) has \(scalarCount) elements, expected 1")
    return storage.device == .meta ? 0 : storage.pointer[0]
  }

  /// The element at a full multi-dimensional index.
  ///
  /// Writing an element of a tensor that is being differentiated records
  /// the write (``replacing(_:atIndices:alongAxis:)`` on the flattened
  /// tensor): the written element's gradient stops there and every other
  /// element's flows on, as in PyTorch (`y[0] = 0` after `y = 2 * x` gives
  /// `x` the gradient `[0, 2, 2]`).
  public subscript(_ indices: Int...) -> Scalar {
    get {
      requireUnbatched("subscript")
      let offset = flatIndex(indices)
      return storage.device == .meta ? 0 : storage.pointer[offset]
    }
    set { write(newValue, atFlatIndex: flatIndex(indices)) }
  }

  /// The element at a row-major flat index in `0..<scalarCount`.
  package subscript(flat index: Int) -> Scalar {
    get {
      requireUnbatched("subscript")
      precondition(
        index >= 0 && index < scalarCount,
        "subscript: flat index \(index) is out of range 0..<\(scalarCount)")
      return storage.pointer[index]
    }
    set {
      precondition(
        index >= 0 && index < scalarCount,
        "subscript: flat index \(index) is out of range 0..<\(scalarCount)")
      write(newValue, atFlatIndex: index)
    }
  }

  /// Writes one element: in place, or as a recorded operation while this
  /// tensor is being differentiated.
  private mutating func write(_ value: Scalar, atFlatIndex offset: Int) {
    if activeTape != nil || !batch.isEmpty {
      let shape = self.shape
      self = reshaped(to: [scalarCount])
        .replacing(Tensor([value]), atIndices: [offset], alongAxis: 0)
        .reshaped(to: shape)
      return
    }
    makeUnique()
    storage.pointer[offset] = value
  }

  func flatIndex(_ indices: [Int]) -> Int {
    precondition(
      indices.count == rank,
      "subscript: \(indices.count) indices for a tensor of rank \(rank) (shape \(shape))")
    var offset = 0
    for (axis, index) in indices.enumerated() {
      precondition(
        index >= 0 && index < shape[axis],
        "subscript: index \(index) is out of range 0..<\(shape[axis]) on axis \(axis) of shape \(shape)"
      )
      offset = offset * shape[axis] + index
    }
    return offset
  }

  /// Makes the storage unique before a mutation; a mutated tensor is a new
  /// value and is no longer the one recorded on a tape.
  mutating func makeUnique() {
    if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    node = nil
  }

  /// Calls `body` with the scalars, read-only.
  public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Scalar>) throws -> R) rethrows
    -> R
  {
    requireUnbatched("withUnsafeBufferPointer")
    return try body(UnsafeBufferPointer(storage.buffer))
  }

  /// Calls `body` with the scalars, writable, copying them first if shared.
  ///
  /// - Precondition: the tensor is not being differentiated: a write
  ///   through a pointer cannot be recorded, so it would leave the tape
  ///   with a wrong gradient. Write elements or slices through the
  ///   subscripts (recorded), build a new tensor, or call this on
  ///   ``withoutDerivative`` to leave the tape on purpose.
  public mutating func withUnsafeMutableBufferPointer<R>(
    _ body: (UnsafeMutableBufferPointer<Scalar>) throws -> R
  ) rethrows -> R {
    requireUnbatched("withUnsafeMutableBufferPointer")
    if activeTape != nil {
      preconditionFailure(
        "withUnsafeMutableBufferPointer: the tensor of shape \(shape) is being differentiated, and a write through a pointer cannot be recorded; write through the subscripts (x[i, j] = v, x[alongAxis: 0, 0..<2] = v), which are recorded, or call it on x.withoutDerivative to leave the tape"
      )
    }
    makeUnique()
    return try body(storage.buffer)
  }

  /// The same values converted to another precision, on the same device.
  public func converted<Other: TensorScalar>(to: Other.Type = Other.self) -> Tensor<Other> {
    requireUnbatched("converted(to:)")
    return Tensor<Other>(shape: shape, scalars: scalars.map { Other($0) }, on: device)
  }

  /// The same values in the memory of `device`: a copy, not recorded on a
  /// tape (a tensor being differentiated leaves it), or this tensor when
  /// it is there already. This is how a tensor reaches a backend's device
  /// and comes back: `x.moved(to: .reference)`, `y.moved(to: .cpu)`.
  ///
  /// - Precondition: neither device is ``Device/meta``.
  package func moved(to device: Device) -> Tensor {
    requireUnbatched("moved(to:)")
    if device == self.device { return self }
    return Tensor(shape: shape, storage: storage.moved(to: device))
  }
}

// MARK: - Equality

extension Tensor: Equatable {
  /// Tensors are equal when their shapes and scalars are equal.
  public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
    lhs.requireUnbatched("==")
    rhs.requireUnbatched("==")
    return lhs.shape == rhs.shape && lhs.storage.buffer.elementsEqual(rhs.storage.buffer)
  }

  /// Whether `other` has the same shape and every pair of elements differs
  /// by at most `absoluteTolerance + relativeTolerance · |other|`.
  public func isAlmostEqual(
    to other: Tensor, absoluteTolerance: Scalar = 1e-6, relativeTolerance: Scalar = 1e-6
  ) -> Bool {
    requireUnbatched("isAlmostEqual")
    other.requireUnbatched("isAlmostEqual")
    guard shape == other.shape else { return false }
    for i in 0..<scalarCount {
      let a = storage.pointer[i]
      let b = other.storage.pointer[i]
      if a == b { continue }
      if !(abs(a - b) <= absoluteTolerance + relativeTolerance * abs(b)) { return false }
    }
    return true
  }
}

/// Where a value was recorded: the identifier of a tape and the index of
/// an entry on it. A tensor carries this mark and nothing else of the tape.
struct TapeNode: Sendable, Hashable {
  let tapeID: UInt64
  let index: Int
}
