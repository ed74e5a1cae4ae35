/// Where a tensor's storage lives: the backend that owns the memory and
/// which of its devices holds it.
///
/// Tensors are on the CPU unless created inside
/// ``withDefaultDevice(_:_:)`` or moved with ``Tensor/moved(to:)``. An
/// operation's inputs must all be on one device; tensors on two devices
/// are a programmer error that traps with the operation's name and both
/// devices.
public struct Device: Hashable, Sendable, CustomStringConvertible {
  /// The backend that owns the memory, such as `"cpu"`.
  public let backend: String
  /// Which of the backend's devices, counting from 0.
  public let ordinal: Int

  package init(backend: String, ordinal: Int) {
    self.backend = backend
    self.ordinal = ordinal
  }

  /// The host's memory, used by the CPU kernels.
  public static let cpu = Device(backend: "cpu", ordinal: 0)

  /// No memory at all: a tensor on this device has a shape and no scalars,
  /// and operations on it compute shapes only. It combines with tensors on
  /// any other device (a model's parameters, constants), giving meta
  /// results.
  package static let meta = Device(backend: "meta", ordinal: 0)

  /// `cpu`, or the backend's name and the device's ordinal, as in `cuda:1`.
  public var description: String { self == .cpu ? backend : "\(backend):\(ordinal)" }

  /// The device that tensors created from host values land on (the
  /// initializers from scalars, `zeros`, `ones`, random tensors, the
  /// constants an operation makes): ``cpu``, or the device of the
  /// innermost ``withDefaultDevice(_:_:)``. A backend's own outputs are on
  /// its device, whatever this is.
  @TaskLocal package static var defaultDevice = Device.cpu
}

/// Runs `body` with `device` as the ``Device/defaultDevice``: every tensor
/// it creates from host values, and every constant its operations and
/// their pullbacks create, is on `device`, so that a computation on tensors
/// of that device never meets a CPU constant (PyTorch's `with
/// torch.device(...)`).
package func withDefaultDevice<R>(_ device: Device, _ body: () throws -> R) rethrows -> R {
  try Device.$defaultDevice.withValue(device, operation: body)
}

extension Tensor {
  /// The device whose memory holds the scalars.
  public var device: Device { storage.device }
}

/// Traps unless every tensor is on one device (``Device/meta`` aside),
/// naming the operation and the first two devices found.
@inline(__always)
package func requireOneDevice<Scalar>(_ operation: String, _ tensors: [Tensor<Scalar>]) {
  guard let first = tensors.first(where: { $0.device != .meta })?.device else { return }
  for tensor in tensors where tensor.device != first && tensor.device != .meta {
    preconditionFailure(
      "\(operation): tensors on two devices, \(first) and \(tensor.device) (shapes \(tensors.map(\.shape)))"
    )
  }
}
