import CortexCore

/// A backend of plain Swift loops over the scalars: no SIMD, no threads, no
/// kernel of `CortexKernels`. Each primitive is written from its stated
/// semantics, one element at a time, so that it can be read against the
/// protocol's documentation and serve as the oracle of the optimized
/// backends and the template of a device backend (CUDA).
///
/// Its tensors are on ``CortexCore/Device/reference``, whose scalars are
/// in host memory. A primitive reads its inputs' scalars
/// (``CortexCore/Tensor/scalars``) and creates its outputs from host arrays
/// on that device (`Tensor(shape:scalars:on:)`): the two transfers a
/// device backend implements as its downloads and uploads.
package final class ReferenceBackend: Backend {
  /// The one reference backend, registered the first time
  /// ``CortexCore/Device/reference`` is named.
  package static let shared = ReferenceBackend()

  package var name: String { "reference" }

  private init() {}
}

extension Device {
  /// The reference backend's device: naming it registers
  /// ``ReferenceBackend`` with `Backends.register(_:)`, so that every
  /// operation on a tensor moved here (`x.moved(to: .reference)`, or
  /// created inside `withDefaultDevice(.reference) { … }`) runs its loops.
  package static let reference: Device = {
    Backends.register(ReferenceBackend.shared)
    return Device(backend: ReferenceBackend.shared.name, ordinal: 0)
  }()
}

// MARK: - Shared helpers

extension ReferenceBackend {
  /// A tensor of `shape` on the reference device holding `scalars`.
  func tensor<S: TensorScalar>(_ shape: [Int], _ scalars: [S]) -> Tensor<S> {
    Tensor(shape: shape, scalars: scalars, on: .reference)
  }

  /// A tensor of zeros of `shape` on the reference device.
  func zeros<S: TensorScalar>(_ shape: [Int]) -> Tensor<S> {
    tensor(shape, [S](repeating: 0, count: shape.reduce(1, *)))
  }
}

/// The multi-index of the element at row-major position `flat` of `shape`.
func multiIndex(_ flat: Int, in shape: [Int]) -> [Int] {
  var index = [Int](repeating: 0, count: shape.count)
  var rest = flat
  for axis in shape.indices.reversed() {
    index[axis] = rest % shape[axis]
    rest /= shape[axis]
  }
  return index
}

/// The row-major position of `index` in `shape`.
func flatIndex(_ index: [Int], in shape: [Int]) -> Int {
  var flat = 0
  for axis in shape.indices { flat = flat * shape[axis] + index[axis] }
  return flat
}

/// The row-major position, in a tensor of `shape`, of the element that
/// NumPy broadcasting puts at `index` of the broadcast shape: `shape` is
/// aligned with the trailing axes of `index`, and an axis of size 1 always
/// reads position 0.
func broadcastFlatIndex(_ index: [Int], from shape: [Int]) -> Int {
  let offset = index.count - shape.count
  var flat = 0
  for axis in shape.indices {
    flat = flat * shape[axis] + (shape[axis] == 1 ? 0 : index[offset + axis])
  }
  return flat
}

/// The number of elements before, along and after `axis` of `shape`.
func extents(_ shape: [Int], at axis: Int) -> (outer: Int, size: Int, inner: Int) {
  (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
}
