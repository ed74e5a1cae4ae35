/// Scaled dot-product attention, forward and backward, one group (a batch
/// entry's head) at a time: the group's keys (and values, backward) are
/// transposed once into a small buffer, and each query's row of scores is
/// computed, normalized and used while it is in cache, where the composed
/// form writes the scores, their exponentials, their sums and the weights
/// as whole tensors. The causal mask is a bound on the keys each query
/// visits, never a tensor. Groups run in contiguous chunks across the
/// pool's threads.
///
/// Every sum that produces an element runs in a fixed order whatever the
/// instruction set: a dot product over the depth is a chain of
/// multiply-adds in depth order (eight keys at a time, one key per lane),
/// a weighted sum of rows is a chain over the keys (eight depths at a
/// time), and a row's total is eight lanes added in a fixed order. So
/// every set that fuses multiply-adds gives the same bits.

extension KernelSet {
  /// The attention of `groups` groups: for query `i` of a group, the
  /// weights `pᵢⱼ = softmax_j(scale · qᵢ·kⱼ)` over the keys it sees (all
  /// of them, or with `causal` the keys `j ≤ i`; the others get weight 0),
  /// and the output `Σⱼ pᵢⱼ vⱼ`.
  ///
  /// - Parameters:
  ///   - query: `[groups, queries, depth]`; `key` `[groups, keys, depth]`;
  ///     `value` `[groups, keys, valueDepth]`.
  ///   - output: `[groups, queries, valueDepth]`.
  ///   - weights: `[groups, queries, keys]`, kept for the backward pass.
  @inlinable
  static func attention<S: KernelScalar & SIMDScalar>(
    query: UnsafePointer<S>, key: UnsafePointer<S>, value: UnsafePointer<S>,
    output: UnsafeMutablePointer<S>, weights: UnsafeMutablePointer<S>, _ shape: AttentionShape,
    scale: S, causal: Bool
  ) {
    let (queries, keys, depth, valueDepth) = (
      shape.queries, shape.keys, shape.depth, shape.valueDepth
    )
    let cost = queries * keys * (depth + valueDepth + 8)
    forEachChunk(of: shape.groups, costPerItem: cost) { _, range in
      let transposed = UnsafeMutablePointer<S>.allocate(capacity: Swift.max(depth * keys, 1))
      defer { transposed.deallocate() }
      for group in range {
        let q = query + group * queries * depth
        let k = key + group * keys * depth
        let v = value + group * keys * valueDepth
        transpose(k, rows: keys, columns: depth, into: transposed)
        for i in 0..<queries {
          let row = weights + (group * queries + i) * keys
          let visible = causal ? Swift.min(i + 1, keys) : keys
          products(q + i * depth, transposed, depth: depth, keys: keys, visible: visible, row)
          scaleAndNormalize(row, visible: visible, keys: keys, scale: scale)
          let out = output + (group * queries + i) * valueDepth
          weightedSum(row, v, visible: visible, valueDepth: valueDepth, out)
        }
      }
    }
  }

  /// The gradients of ``attention(query:key:value:output:weights:_:scale:causal:)``
  /// with respect to the query, key and value, from the upstream gradient
  /// of its output and the weights it kept:
  /// `∂v = Pᵀ·g`, `∂p = g·vᵀ`, `∂s = P ⊙ (∂p − Σⱼ ∂p ⊙ P)·scale`,
  /// `∂q = ∂s·k` and `∂k = ∂sᵀ·q`, each group at a time.
  @inlinable
  static func attentionGradients<S: KernelScalar & SIMDScalar>(
    upstream: UnsafePointer<S>, query: UnsafePointer<S>, key: UnsafePointer<S>,
    value: UnsafePointer<S>, weights: UnsafePointer<S>, queryGradient: UnsafeMutablePointer<S>,
    keyGradient: UnsafeMutablePointer<S>, valueGradient: UnsafeMutablePointer<S>,
    _ shape: AttentionShape, scale: S, causal: Bool
  ) {
    let (queries, keys, depth, valueDepth) = (
      shape.queries, shape.keys, shape.depth, shape.valueDepth
    )
    let cost = queries * keys * (2 * depth + 2 * valueDepth + 8)
    forEachChunk(of: shape.groups, costPerItem: cost) { _, range in
      let transposed = UnsafeMutablePointer<S>.allocate(capacity: Swift.max(valueDepth * keys, 1))
      let row = UnsafeMutablePointer<S>.allocate(capacity: Swift.max(keys, 1))
      defer {
        transposed.deallocate()
        row.deallocate()
      }
      for group in range {
        let g = upstream + group * queries * valueDepth
        let q = query + group * queries * depth
        let k = key + group * keys * depth
        let v = value + group * keys * valueDepth
        let dq = queryGradient + group * queries * depth
        let dk = keyGradient + group * keys * depth
        let dv = valueGradient + group * keys * valueDepth
        dk.initialize(repeating: 0, count: keys * depth)
        dv.initialize(repeating: 0, count: keys * valueDepth)
        transpose(v, rows: keys, columns: valueDepth, into: transposed)
        for i in 0..<queries {
          let p = weights + (group * queries + i) * keys
          let visible = causal ? Swift.min(i + 1, keys) : keys
          let gi = g + i * valueDepth
          // ∂v_j += p_ij · g_i, in query order.
          for j in 0..<visible {
            accumulate(p[j], gi, into: dv + j * valueDepth, count: valueDepth)
          }
          // ∂p_ij = g_i · v_j, then ∂s_ij = p_ij (∂p_ij − Σ_j ∂p_ij p_ij) · scale.
          products(gi, transposed, depth: valueDepth, keys: keys, visible: visible, row)
          var sums = SIMD8<S>()
          var j = 0
          while j < visible {
            sums += lanes(row + j, count: visible - j) * lanes(p + j, count: visible - j)
            j += 8
          }
          let centre = SIMD8<S>(repeating: total(sums))
          let factor = SIMD8<S>(repeating: scale)
          j = 0
          while j < visible {
            let count = visible - j
            let scores = lanes(p + j, count: count) * (lanes(row + j, count: count) - centre)
            store(scores * factor, row + j, count: count)
            j += 8
          }
          // ∂q_i = Σ_j ∂s_ij k_j; ∂k_j += ∂s_ij q_i.
          let dqi = dq + i * depth
          dqi.initialize(repeating: 0, count: depth)
          for j in 0..<visible {
            accumulate(row[j], k + j * depth, into: dqi, count: depth)
            accumulate(row[j], q + i * depth, into: dk + j * depth, count: depth)
          }
        }
      }
    }
  }

  /// `rows × columns` at `source` written column by column at `target`.
  @inlinable @inline(__always)
  static func transpose<S>(
    _ source: UnsafePointer<S>, rows: Int, columns: Int, into target: UnsafeMutablePointer<S>
  ) {
    for r in 0..<rows {
      for c in 0..<columns { target[c * rows + r] = source[r * columns + c] }
    }
  }

  /// `row[j] = x · column j of transposed` for `j < visible`, each a chain
  /// of multiply-adds in depth order, eight columns at a time.
  @inlinable @inline(__always)
  static func products<S: KernelScalar & SIMDScalar>(
    _ x: UnsafePointer<S>, _ transposed: UnsafePointer<S>, depth: Int, keys: Int, visible: Int,
    _ row: UnsafeMutablePointer<S>
  ) {
    var j = 0
    while j < visible {
      let count = visible - j
      var sums = SIMD8<S>()
      for d in 0..<depth {
        sums.addProduct(SIMD8(repeating: x[d]), lanes(transposed + d * keys + j, count: count))
      }
      store(sums, row + j, count: count)
      j += 8
    }
  }

  /// The visible part of `row` scaled and normalized to a softmax, the
  /// rest of the row set to 0.
  @inlinable @inline(__always)
  static func scaleAndNormalize<S: KernelScalar & SIMDScalar>(
    _ row: UnsafeMutablePointer<S>, visible: Int, keys: Int, scale: S
  ) {
    let factor = SIMD8<S>(repeating: scale)
    var j = 0
    while j < visible {
      store(lanes(row + j, count: visible - j) * factor, row + j, count: visible - j)
      j += 8
    }
    if S.self == Float.self {
      let p = UnsafeMutableRawPointer(row).assumingMemoryBound(to: Float.self)
      softmaxRowFloat(p, p, length: visible, logarithm: false)
    } else {
      softmaxRow(row, row, length: visible, logarithm: false)
    }
    (row + visible).initialize(repeating: 0, count: keys - visible)
  }

  /// `out = Σ_{j < visible} weights[j] · rows[j]`, a chain over `j` for
  /// each element.
  @inlinable @inline(__always)
  static func weightedSum<S: KernelScalar & SIMDScalar>(
    _ weights: UnsafePointer<S>, _ rows: UnsafePointer<S>, visible: Int, valueDepth: Int,
    _ out: UnsafeMutablePointer<S>
  ) {
    out.initialize(repeating: 0, count: valueDepth)
    for j in 0..<visible {
      accumulate(weights[j], rows + j * valueDepth, into: out, count: valueDepth)
    }
  }

  /// `target += a · x` over `count` elements, eight at a time.
  @inlinable @inline(__always)
  static func accumulate<S: KernelScalar & SIMDScalar>(
    _ a: S, _ x: UnsafePointer<S>, into target: UnsafeMutablePointer<S>, count: Int
  ) {
    let factor = SIMD8<S>(repeating: a)
    var d = 0
    while d < count {
      var sums = lanes(UnsafePointer(target + d), count: count - d)
      sums.addProduct(factor, lanes(x + d, count: count - d))
      store(sums, target + d, count: count - d)
      d += 8
    }
  }
}

/// The sizes of an attention: `groups` groups (batch × heads) of
/// `queries` queries of `depth` scalars against `keys` keys, with values of
/// `valueDepth` scalars.
public struct AttentionShape: Sendable, Equatable {
  public var groups: Int
  public var queries: Int
  public var keys: Int
  public var depth: Int
  public var valueDepth: Int

  @inlinable
  public init(groups: Int, queries: Int, keys: Int, depth: Int, valueDepth: Int) {
    (self.groups, self.queries, self.keys) = (groups, queries, keys)
    (self.depth, self.valueDepth) = (depth, valueDepth)
  }
}
