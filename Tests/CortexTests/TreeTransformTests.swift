import Testing

@testable import CortexCore

/// Transforms over several tensors and over dictionaries of tensors agree
/// with the same transforms over one flattened tensor.
@Suite struct TreeTransformTests {
  let a = random([2, 3], seed: 1)
  let b = random([3], seed: 2)
  let u = random([2, 3], seed: 3)
  let v = random([3], seed: 4)

  /// A scalar function of two tensors.
  static func f(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Tensor<Double> {
    (tanh(a) * b).sum() * (b * b).sum() + exp(a).sum()
  }

  /// The same function of one flat tensor holding `a` (6) then `b` (3).
  static func flat(_ x: Tensor<Double>) -> Tensor<Double> {
    f(
      x.sliced(alongAxis: 0, range: 0..<6).reshaped(to: [2, 3]),
      x.sliced(alongAxis: 0, range: 6..<9))
  }

  var joined: Tensor<Double> { Tensor(concatenating: [a.reshaped(to: [-1]), b]) }
  var direction: Tensor<Double> { Tensor(concatenating: [u.reshaped(to: [-1]), v]) }

  /// `x` split back into the shapes of `a` and `b`.
  func split(_ x: Tensor<Double>) -> [Tensor<Double>] {
    [
      x.sliced(alongAxis: 0, range: 0..<6).reshaped(to: [2, 3]),
      x.sliced(alongAxis: 0, range: 6..<9),
    ]
  }

  @Test func hessianVectorProductsOfArraysAndDictionaries() {
    let expected = split(hessianVectorProduct(at: joined, direction: direction, of: Self.flat))
    let arrays = hessianVectorProduct(at: [a, b], direction: [u, v]) { Self.f($0[0], $0[1]) }
    let tree = hessianVectorProduct(at: ["a": a, "b": b], direction: ["a": u, "b": v]) {
      Self.f($0["a"]!, $0["b"]!)
    }
    for (k, name) in ["a", "b"].enumerated() {
      expectClose(arrays[k], expected[k], tolerance: 1e-12)
      expectClose(tree[name]!, expected[k], tolerance: 1e-12)
    }
  }

  @Test func jvpsOfArraysAndDictionaries() {
    let vectorValued: ([Tensor<Double>]) -> Tensor<Double> = { t in tanh(t[0]) * t[1] }
    let flatValued: (Tensor<Double>) -> Tensor<Double> = { x in
      let parts = self.split(x)
      return vectorValued(parts)
    }
    let expected = jvp(at: joined, tangent: direction, of: flatValued)
    let arrays = jvp(at: [a, b], tangent: [u, v], of: vectorValued)
    let tree = jvp(at: ["a": a, "b": b], tangent: ["a": u, "b": v]) {
      vectorValued([$0["a"]!, $0["b"]!])
    }
    expectClose(arrays.value, expected.value, tolerance: 0)
    expectClose(arrays.differential, expected.differential, tolerance: 1e-12)
    expectClose(tree.differential, expected.differential, tolerance: 1e-12)
  }

  @Test func jacobiansOfArraysAndDictionaries() {
    let vectorValued: ([Tensor<Double>]) -> Tensor<Double> = { t in
      matmul(tanh(t[0]), t[1].reshaped(to: [3, 1])).reshaped(to: [2])
    }
    let full = jacobian(at: joined) { vectorValued(self.split($0)) }  // [2, 9]
    let arrays = jacobian(at: [a, b], of: vectorValued)
    #expect(arrays[0].shape == [2, 2, 3])
    #expect(arrays[1].shape == [2, 3])
    expectClose(
      arrays[0].reshaped(to: [2, 6]), full.sliced(alongAxis: 1, range: 0..<6), tolerance: 0)
    expectClose(arrays[1], full.sliced(alongAxis: 1, range: 6..<9), tolerance: 0)
    let tree = jacobian(at: ["a": a, "b": b]) { vectorValued([$0["a"]!, $0["b"]!]) }
    #expect(tree["a"] == arrays[0])
    #expect(tree["b"] == arrays[1])
  }

  @Test func treeTransformsNest() {
    // The Hessian-vector product of a dictionary function, differentiated
    // once more, against the flat third-order computation.
    let outer = gradient(at: ["a": a, "b": b]) { t in
      let hv = hessianVectorProduct(at: t, direction: ["a": u, "b": v]) {
        Self.f($0["a"]!, $0["b"]!)
      }
      return (hv["a"]! * hv["a"]!).sum() + (hv["b"]! * hv["b"]!).sum()
    }
    let flatOuter = split(
      gradient(at: joined) { x in
        let hv = hessianVectorProduct(at: x, direction: direction, of: Self.flat)
        return (hv * hv).sum()
      })
    expectClose(outer["a"]!, flatOuter[0], tolerance: 1e-10)
    expectClose(outer["b"]!, flatOuter[1], tolerance: 1e-10)
  }
}
