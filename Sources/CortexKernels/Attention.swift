/// Scaled dot-product attention, forward and backward, one group (a batch
/// entry's head) at a time: the group's keys (and values, backward) are
/// transposed once into a small buffer, and each query's row of scores is
/// computed, normalized and used while it is in cache, where the composed
/// form writes the scores, their exponentials, their sums and the weights
/// as whole tensors. The causal mask is a bound on the keys each query
/// visits, never a tensor. Groups run in contiguous chunks across the
/// pool's threads.
///
/// The products are register-blocked: four rows of the result at a time,
/// eight or sixteen columns in registers, each operand loaded once per
/// four multiply-adds. Every element is still a chain of multiply-adds in
/// a fixed order (over the depth for a score, over the keys or queries for
/// a weighted sum of rows), and a row's total is eight lanes added in a
/// fixed order, so every set that fuses multiply-adds gives the same bits.

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
    let visible: (Int) -> Int = { causal ? Swift.min($0 + 1, keys) : keys }
    forEachChunk(of: shape.groups, costPerItem: queries * keys * (depth + valueDepth + 8)) {
      _, range in
      let transposed = UnsafeMutablePointer<S>.allocate(capacity: Swift.max(depth * keys, 1))
      defer { transposed.deallocate() }
      for group in range {
        let p = weights + group * queries * keys
        transpose(key + group * keys * depth, rows: keys, columns: depth, into: transposed)
        products(
          query + group * queries * depth, transposed, rows: queries, depth: depth,
          columns: keys, visible: visible, scale: scale, into: p)
        for i in 0..<queries { normalize(p + i * keys, visible: visible(i), keys: keys) }
        weightedRows(
          p, rowStride: keys, innerStride: 1, rows: queries, inner: 0..<keys,
          visible: visible, value + group * keys * valueDepth, depth: valueDepth,
          into: output + group * queries * valueDepth)
      }
    }
  }

  /// The gradients of ``attention(query:key:value:output:weights:_:scale:causal:)``
  /// with respect to the query, key and value, from the upstream gradient
  /// of its output and the weights it kept, one group at a time:
  /// `∂p = g·vᵀ`, `∂s = P ⊙ (∂p − Σⱼ ∂p ⊙ P)·scale`, `∂q = ∂s·k`,
  /// `∂k = ∂sᵀ·q` and `∂v = Pᵀ·g`.
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
    let visible: (Int) -> Int = { causal ? Swift.min($0 + 1, keys) : keys }
    // A key is seen by the queries from its own index on when causal.
    let seenFrom: (Int) -> Int = { causal ? Swift.min($0, queries) : 0 }
    let cost = queries * keys * (2 * depth + 2 * valueDepth + 8)
    forEachChunk(of: shape.groups, costPerItem: cost) { _, range in
      let transposed = UnsafeMutablePointer<S>.allocate(capacity: Swift.max(valueDepth * keys, 1))
      let scores = UnsafeMutablePointer<S>.allocate(capacity: Swift.max(queries * keys, 1))
      defer {
        transposed.deallocate()
        scores.deallocate()
      }
      for group in range {
        let g = upstream + group * queries * valueDepth
        let q = query + group * queries * depth
        let k = key + group * keys * depth
        let p = weights + group * queries * keys
        transpose(
          value + group * keys * valueDepth, rows: keys, columns: valueDepth, into: transposed)
        products(
          g, transposed, rows: queries, depth: valueDepth, columns: keys, visible: visible,
          scale: 1, into: scores)
        for i in 0..<queries {
          softmaxScoreGradient(
            p + i * keys, scores + i * keys, visible: visible(i), keys: keys, scale: scale)
        }
        weightedRows(
          UnsafePointer(scores), rowStride: keys, innerStride: 1, rows: queries, inner: 0..<keys,
          visible: visible, k, depth: depth, into: queryGradient + group * queries * depth)
        weightedRowsOfTransposed(
          UnsafePointer(scores), keys: keys, queries: queries, seenFrom: seenFrom, q,
          depth: depth, into: keyGradient + group * keys * depth)
        weightedRowsOfTransposed(
          p, keys: keys, queries: queries, seenFrom: seenFrom, g, depth: valueDepth,
          into: valueGradient + group * keys * valueDepth)
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

  /// `out[r][c] = (Σ_d a[r][d] · transposed[d][c]) · scale` for the
  /// columns `c < visible(r)` of each row (`out` rows are `columns` long;
  /// the columns past a row's `visible` but within its block's may be
  /// written too). Each sum is a chain over `d` in order.
  @inlinable @inline(__always)
  static func products<S: KernelScalar & SIMDScalar>(
    _ a: UnsafePointer<S>, _ transposed: UnsafePointer<S>, rows: Int, depth: Int, columns: Int,
    visible: (Int) -> Int, scale: S, into out: UnsafeMutablePointer<S>
  ) {
    if S.self == Float.self {
      productsFloat(
        UnsafeRawPointer(a).assumingMemoryBound(to: Float.self),
        UnsafeRawPointer(transposed).assumingMemoryBound(to: Float.self), rows: rows,
        depth: depth, columns: columns, visible: visible, scale: Float(scale),
        into: UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self))
      return
    }
    for r in 0..<rows {
      for c in 0..<visible(r) {
        var sum: S = 0
        for d in 0..<depth {
          sum = sum.addingProduct(a[r * depth + d], transposed[d * columns + c])
        }
        out[r * columns + c] = sum * scale
      }
    }
  }

  @inlinable
  static func productsFloat(
    _ a: UnsafePointer<Float>, _ transposed: UnsafePointer<Float>, rows: Int, depth: Int,
    columns: Int, visible: (Int) -> Int, scale: Float, into out: UnsafeMutablePointer<Float>
  ) {
    let factor = SIMD8<Float>(repeating: scale)
    var r = 0
    while r < rows {
      let count = Swift.min(4, rows - r)
      // The rows of a block past the last repeat it; only real rows are stored.
      let (a0, a1, a2, a3) = (
        a + r * depth, a + (r + Swift.min(1, count - 1)) * depth,
        a + (r + Swift.min(2, count - 1)) * depth, a + (r + count - 1) * depth
      )
      let limit = visible(r + count - 1)
      var c = 0
      // Sixteen columns at a time: eight independent chains of multiply-adds.
      while c < limit {
        let (width, second) = (limit - c, limit - c - 8)
        var (s0, s1, s2, s3) = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
        var (t0, t1, t2, t3) = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
        for d in 0..<depth {
          let column = transposed + d * columns + c
          let b = lanes(column, count: width)
          let b2 = second > 0 ? lanes(column + 8, count: second) : SIMD8<Float>()
          let (x0, x1, x2, x3) = (
            SIMD8(repeating: a0[d]), SIMD8(repeating: a1[d]), SIMD8(repeating: a2[d]),
            SIMD8(repeating: a3[d])
          )
          s0.addProduct(x0, b)
          s1.addProduct(x1, b)
          s2.addProduct(x2, b)
          s3.addProduct(x3, b)
          t0.addProduct(x0, b2)
          t1.addProduct(x1, b2)
          t2.addProduct(x2, b2)
          t3.addProduct(x3, b2)
        }
        storeTile(
          (s0 * factor, s1 * factor, s2 * factor, s3 * factor),
          (t0 * factor, t1 * factor, t2 * factor, t3 * factor), out + r * columns + c,
          rowStride: columns, rows: count, width: width)
        c += 16
      }
      r += 4
    }
  }

  /// `out[r] = Σ_{j ∈ inner, j < visible(r)} w(r, j) · m[j]` for each row
  /// `r`, with `w(r, j) = weights[r·rowStride + j·innerStride]` and the
  /// rows `m[j]` of `depth` scalars; each element a chain over `j` in
  /// order. Terms past a row's `visible` within its block's are added with
  /// their weights, which are 0.
  @inlinable @inline(__always)
  static func weightedRows<S: KernelScalar & SIMDScalar>(
    _ weights: UnsafePointer<S>, rowStride: Int, innerStride: Int, rows: Int, inner: Range<Int>,
    visible: (Int) -> Int, _ m: UnsafePointer<S>, depth: Int, into out: UnsafeMutablePointer<S>
  ) {
    if S.self == Float.self {
      weightedRowsFloat(
        UnsafeRawPointer(weights).assumingMemoryBound(to: Float.self), rowStride: rowStride,
        innerStride: innerStride, rows: rows, inner: inner, visible: visible,
        UnsafeRawPointer(m).assumingMemoryBound(to: Float.self), depth: depth,
        into: UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self))
      return
    }
    for r in 0..<rows {
      for d in 0..<depth {
        var sum: S = 0
        for j in inner where j < visible(r) {
          sum = sum.addingProduct(weights[r * rowStride + j * innerStride], m[j * depth + d])
        }
        out[r * depth + d] = sum
      }
    }
  }

  @inlinable
  static func weightedRowsFloat(
    _ w: UnsafePointer<Float>, rowStride: Int, innerStride: Int, rows: Int, inner: Range<Int>,
    visible: (Int) -> Int, _ m: UnsafePointer<Float>, depth: Int,
    into out: UnsafeMutablePointer<Float>
  ) {
    var r = 0
    while r < rows {
      let count = Swift.min(4, rows - r)
      let (w0, w1, w2, w3) = (
        w + r * rowStride, w + (r + Swift.min(1, count - 1)) * rowStride,
        w + (r + Swift.min(2, count - 1)) * rowStride, w + (r + count - 1) * rowStride
      )
      let end = Swift.min(inner.upperBound, visible(r + count - 1))
      var d = 0
      while d < depth {
        let (width, second) = (depth - d, depth - d - 8)
        var (s0, s1, s2, s3) = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
        var (t0, t1, t2, t3) = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
        var j = inner.lowerBound
        while j < end {
          let row = m + j * depth + d
          let b = lanes(row, count: width)
          let b2 = second > 0 ? lanes(row + 8, count: second) : SIMD8<Float>()
          let offset = j * innerStride
          let (x0, x1, x2, x3) = (
            SIMD8(repeating: w0[offset]), SIMD8(repeating: w1[offset]),
            SIMD8(repeating: w2[offset]), SIMD8(repeating: w3[offset])
          )
          s0.addProduct(x0, b)
          s1.addProduct(x1, b)
          s2.addProduct(x2, b)
          s3.addProduct(x3, b)
          t0.addProduct(x0, b2)
          t1.addProduct(x1, b2)
          t2.addProduct(x2, b2)
          t3.addProduct(x3, b2)
          j += 1
        }
        storeTile(
          (s0, s1, s2, s3), (t0, t1, t2, t3), out + r * depth + d, rowStride: depth,
          rows: count, width: width)
        d += 16
      }
      r += 4
    }
  }

  /// The first `rows` rows of a register tile of four rows by sixteen
  /// columns (`s` the first eight of each row, `t` the next eight), stored
  /// `rowStride` apart; only the first `width` columns are written.
  @inlinable @inline(__always)
  static func storeTile(
    _ s: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>),
    _ t: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>),
    _ target: UnsafeMutablePointer<Float>, rowStride: Int, rows: Int, width: Int
  ) {
    func row(_ first: SIMD8<Float>, _ second: SIMD8<Float>, _ index: Int) {
      let start = target + index * rowStride
      store(first, start, count: width)
      if width > 8 { store(second, start + 8, count: width - 8) }
    }
    row(s.0, t.0, 0)
    if rows > 1 { row(s.1, t.1, 1) }
    if rows > 2 { row(s.2, t.2, 2) }
    if rows > 3 { row(s.3, t.3, 3) }
  }

  /// `out[j] = Σ_{i ≥ seenFrom(j)} w[i][j] · m[i]` for each of `keys` rows
  /// `j`, with `w` `[queries, keys]` and the rows `m[i]` of `depth`
  /// scalars: a product by the transpose of `w`, each element a chain over
  /// `i` in order.
  @inlinable @inline(__always)
  static func weightedRowsOfTransposed<S: KernelScalar & SIMDScalar>(
    _ w: UnsafePointer<S>, keys: Int, queries: Int, seenFrom: (Int) -> Int,
    _ m: UnsafePointer<S>, depth: Int, into out: UnsafeMutablePointer<S>
  ) {
    var j = 0
    while j < keys {
      let count = Swift.min(4, keys - j)
      weightedRows(
        w + j, rowStride: 1, innerStride: keys, rows: count, inner: seenFrom(j)..<queries,
        visible: { _ in queries }, m, depth: depth, into: out + j * depth)
      j += 4
    }
  }

  /// The visible part of `row` normalized to a softmax, the rest of the
  /// row set to 0.
  @inlinable @inline(__always)
  static func normalize<S: KernelScalar & SIMDScalar>(
    _ row: UnsafeMutablePointer<S>, visible: Int, keys: Int
  ) {
    if S.self == Float.self {
      let p = UnsafeMutableRawPointer(row).assumingMemoryBound(to: Float.self)
      softmaxRowFloat(p, p, length: visible, logarithm: false)
    } else {
      softmaxRow(row, row, length: visible, logarithm: false)
    }
    (row + visible).initialize(repeating: 0, count: keys - visible)
  }

  /// A row of `∂p` turned in place into the row of `∂s`:
  /// `pⱼ (∂pⱼ − Σₖ ∂pₖ pₖ) · scale` over the visible keys, 0 past them.
  @inlinable @inline(__always)
  static func softmaxScoreGradient<S: KernelScalar & SIMDScalar>(
    _ p: UnsafePointer<S>, _ row: UnsafeMutablePointer<S>, visible: Int, keys: Int, scale: S
  ) {
    var sums = SIMD8<S>()
    var j = 0
    while j < visible {
      sums += lanes(UnsafePointer(row + j), count: visible - j) * lanes(p + j, count: visible - j)
      j += 8
    }
    let (centre, factor) = (SIMD8<S>(repeating: total(sums)), SIMD8<S>(repeating: scale))
    j = 0
    while j < visible {
      let count = visible - j
      let gradient =
        lanes(p + j, count: count) * (lanes(UnsafePointer(row + j), count: count) - centre)
      store(gradient * factor, row + j, count: count)
      j += 8
    }
    (row + visible).initialize(repeating: 0, count: keys - visible)
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
