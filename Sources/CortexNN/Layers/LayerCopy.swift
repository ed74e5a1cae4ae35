import CortexCore
@_spi(Reflection) import Swift

extension Layer {
  /// An independent deep copy of the layer: every ``Parameter`` replaced
  /// by a new one holding the same values and trainability.
  ///
  /// `let m2 = m1` copies the layer's value, but a layer is a struct of
  /// references: both hold the *same* parameters, so training one trains
  /// the other. `let m2 = try m1.copy()` gives a model that starts equal
  /// and then lives on its own:
  ///
  /// ```swift
  /// let student = try teacher.copy()
  /// // Training `student` leaves `teacher`'s weights as they are.
  /// ```
  ///
  /// The copy has the same structure and the same parameter names. A
  /// parameter held in several places (tied weights) stays one parameter in
  /// the copy, held in the same places. The copy looks where parameter
  /// discovery does: nested layers, arrays, dictionaries, tuples, plain
  /// structs and optionals, whatever their declared types. A layer's random
  /// generator (dropout's) is copied too, in its current state, so the copy
  /// draws what the original would. Tensors are values and are shared until
  /// either side writes. Closures, weak and unowned references the layer
  /// holds are kept as they are.
  ///
  /// - Throws: ``CopyError`` naming the property and its type when the
  ///   layer holds another class instance, or an enumeration holding one:
  ///   the copy cannot know how to copy it.
  public func copy() throws(CopyError) -> Self {
    var copier = ObjectCopier()
    do {
      return try copier.copy(self, at: "") as! Self
    } catch {
      throw error as! CopyError
    }
  }
}

/// Why a layer cannot be copied.
public struct CopyError: Error, CustomStringConvertible, Equatable, Sendable {
  public let message: String

  public init(_ message: String) {
    self.message = message
  }

  public var description: String { message }
}

/// A class whose instances a deep copy of a layer replaces with new ones.
protocol DeepCopyable: AnyObject {
  /// A new, independent instance equal to this one.
  func deepCopy() -> AnyObject
}

extension Parameter: DeepCopyable {
  func deepCopy() -> AnyObject { Parameter(value, trainable: isTrainable) }
}

/// A container whose elements a deep copy rebuilds: arrays, dictionaries
/// and optionals.
protocol ElementMapping {
  /// The container with each element replaced by `transform(element, label)`,
  /// which returns a value of the element's dynamic type.
  func mappingElements(_ transform: (Any, String) throws -> Any) rethrows -> Self
}

extension Array: ElementMapping {
  func mappingElements(_ transform: (Any, String) throws -> Any) rethrows -> Self {
    try enumerated().map { try transform($1, String($0)) as! Element }
  }
}

extension Dictionary: ElementMapping {
  func mappingElements(_ transform: (Any, String) throws -> Any) rethrows -> Self {
    try Dictionary(
      uniqueKeysWithValues: map { ($0.key, try transform($0.value, "\($0.key)") as! Value) })
  }
}

extension Optional: ElementMapping {
  func mappingElements(_ transform: (Any, String) throws -> Any) rethrows -> Self {
    try map { try transform($0, "") as! Wrapped }
  }
}

/// Copies values deeply, replacing each object by one copy, the same copy
/// wherever the object appears.
private struct ObjectCopier {
  private var copies: [ObjectIdentifier: AnyObject] = [:]

  /// `value` with every object inside replaced; a value of the same
  /// dynamic type. `path` names it in errors.
  mutating func copy(_ value: Any, at path: String) throws -> Any {
    guard holdsObjects(value) else { return value }
    // `type(of:)` sees through an existential the value may be boxed in.
    func open<T>(_: T.Type) throws -> Any { try copyValue(value as! T, at: path) }
    return try _openExistential(type(of: value), do: open)
  }

  private mutating func copyValue<T>(_ value: T, at path: String) throws -> T {
    let name = path.isEmpty ? "the layer" : "'\(path)'"
    if T.self is AnyClass {
      guard let object = value as? any DeepCopyable else {
        throw CopyError(
          "cannot copy \(name): \(T.self) is a class, and a copy cannot know how to copy it; hold its parameters in a struct instead"
        )
      }
      let key = ObjectIdentifier(object)
      if let copy = copies[key] { return copy as! T }
      let copy = object.deepCopy()
      copies[key] = copy
      return copy as! T
    }
    if let container = value as? any ElementMapping {
      return try container.mappingElements { element, label in
        try copy(element, at: label.isEmpty ? path : Self.join(path, label))
      } as! T
    }
    // The strong stored properties: the ones the key path enumeration
    // accepts. Weak and unowned references are kept as they are.
    var strong = Set<String>()
    _forEachFieldWithKeyPath(of: T.self, options: skippingUnknownFields) { name, _ in
      strong.insert(String(cString: name))
      return true
    }
    var fields: [(name: String, offset: Int, type: Any.Type)] = []
    var fieldCount = 0
    _forEachField(of: T.self) { name, offset, type, _ in
      let name = String(cString: name)
      if strong.contains(name) { fields.append((name, offset, type)) }
      fieldCount += 1
      return true
    }
    // Holding objects without stored properties: an enumeration's payload.
    guard fieldCount > 0 else {
      throw CopyError(
        "cannot copy \(name): \(T.self) holds objects, and a copy looks only into structs, tuples, arrays, dictionaries and optionals"
      )
    }
    // Stored properties are written where the runtime lays them out, `let`
    // ones included, each as its declared type.
    var result = value
    try withUnsafeMutableBytes(of: &result) { bytes in
      for field in fields {
        func replace<Field>(_: Field.Type) throws {
          let slot = (bytes.baseAddress! + field.offset).assumingMemoryBound(to: Field.self)
          let label = field.name.hasPrefix(".") ? String(field.name.dropFirst()) : field.name
          slot.pointee = try copy(slot.pointee, at: Self.join(path, label)) as! Field
        }
        try _openExistential(field.type, do: replace)
      }
    }
    return result
  }

  private static func join(_ path: String, _ label: String) -> String {
    path.isEmpty ? label : path + "." + label
  }
}

/// The standard library's `_EachFieldOptions.ignoreUnknown`: the key path
/// enumeration skips the fields it does not support instead of stopping
/// there. Written by value because the library declares the option a
/// `static var`, which Swift 6 does not let concurrent code read.
private let skippingUnknownFields = _EachFieldOptions(rawValue: 1 << 1)

/// Whether `value` holds a class instance, looking into everything but
/// tensors, which are values.
private func holdsObjects(_ value: Any) -> Bool {
  if type(of: value) is AnyClass { return true }
  if value is any TensorValue { return false }
  return Mirror(reflecting: value).children.contains { holdsObjects($0.value) }
}
