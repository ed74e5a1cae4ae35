/// Softmax and log-softmax along the last axis, forward and backward, one
/// pass over each row: the row's maximum, the exponentials and their sum,
/// then the scaling, where the composed form writes a tensor at each step.
/// Rows run in contiguous chunks across the pool's threads. In single
/// precision the exponentials are the vector `exp` of VectorMath, in
/// registers of 16 lanes for rows of 16 or more (one AVX-512 register, two
/// AVX2 ones); sums run over the lanes added in a fixed order, so every
/// set that fuses multiply-adds gives the same bits.

extension KernelSet {
  /// Each row of `x` (`rows` rows of `length`) mapped to its softmax, or
  /// to its log-softmax when `logarithm`: `yⱼ = e^(xⱼ − m) / s` or
  /// `(xⱼ − m) − ln s`, with `m` the row's maximum and `s = Σ e^(xₖ − m)`.
  @inlinable
  static func softmaxRows<S: KernelScalar>(
    _ x: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, rows: Int, length: Int,
    logarithm: Bool
  ) {
    forEachChunk(of: rows, costPerItem: 8 * length) { _, range in
      if S.self == Float.self && length >= 16 {
        let (x, out) = (
          UnsafeRawPointer(x).assumingMemoryBound(to: Float.self),
          UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self)
        )
        // A constant `logarithm` in each call, so that no loop tests it.
        if logarithm {
          softmaxRowsFloat(SIMD16<Float>.self, x, out, rows: range, length: length, logarithm: true)
        } else {
          softmaxRowsFloat(
            SIMD16<Float>.self, x, out, rows: range, length: length, logarithm: false)
        }
        return
      }
      for row in range {
        let (source, target) = (x + row * length, out + row * length)
        if S.self == Float.self {
          softmaxRowFloat(
            UnsafeRawPointer(source).assumingMemoryBound(to: Float.self),
            UnsafeMutableRawPointer(target).assumingMemoryBound(to: Float.self), length: length,
            logarithm: logarithm)
        } else {
          softmaxRow(source, target, length: length, logarithm: logarithm)
        }
      }
    }
  }

  /// The gradient through ``softmaxRows(_:_:rows:length:logarithm:)``
  /// given its output `y` and the upstream gradient `g`:
  /// `yⱼ·(gⱼ − Σₖ gₖyₖ)` for the softmax, `gⱼ − e^(yⱼ)·Σₖ gₖ` for the
  /// log-softmax.
  @inlinable
  static func softmaxRowsGradient<S: KernelScalar>(
    _ y: UnsafePointer<S>, _ g: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, rows: Int,
    length: Int, logarithm: Bool
  ) {
    forEachChunk(of: rows, costPerItem: 4 * length) { _, range in
      if S.self == Float.self && length >= 16 {
        let (y, g, out) = (
          UnsafeRawPointer(y).assumingMemoryBound(to: Float.self),
          UnsafeRawPointer(g).assumingMemoryBound(to: Float.self),
          UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self)
        )
        if logarithm {
          softmaxRowsGradientFloat(
            SIMD16<Float>.self, y, g, out, rows: range, length: length, logarithm: true)
        } else {
          softmaxRowsGradientFloat(
            SIMD16<Float>.self, y, g, out, rows: range, length: length, logarithm: false)
        }
        return
      }
      for row in range {
        let offset = row * length
        if S.self == Float.self {
          softmaxRowGradientFloat(
            UnsafeRawPointer(y + offset).assumingMemoryBound(to: Float.self),
            UnsafeRawPointer(g + offset).assumingMemoryBound(to: Float.self),
            UnsafeMutableRawPointer(out + offset).assumingMemoryBound(to: Float.self),
            length: length, logarithm: logarithm)
        } else {
          softmaxRowGradient(
            y + offset, g + offset, out + offset, length: length, logarithm: logarithm)
        }
      }
    }
  }

  /// One row in single precision: rows of 16 or more in registers of 16
  /// lanes (two of eight where the set has no wider ones, with the same
  /// sums), shorter rows in registers of eight.
  @inlinable @inline(__always)
  static func softmaxRowFloat(
    _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, length: Int, logarithm: Bool
  ) {
    if length >= 16 {
      softmaxRowFloat(SIMD16<Float>.self, x, out, length: length, logarithm: logarithm)
    } else if length >= 8 {
      softmaxRowFloat(SIMD8<Float>.self, x, out, length: length, logarithm: logarithm)
    } else {
      softmaxShortRowFloat(x, out, length: length, logarithm: logarithm)
    }
  }

  /// A row of at least `V.scalarCount`: whole registers, then the row's
  /// last register, of which the `fresh` lanes are the ones the whole
  /// registers did not cover. Only those count in sums; the last register
  /// is stored whole, its other lanes holding the bits the whole registers
  /// gave them. (`out` may be `x`.) Returns the row's maximum and the sum
  /// of its shifted exponentials (for the log-softmax, its logarithm).
  @inlinable @inline(__always) @discardableResult
  static func softmaxRowFloat<V: FloatLanes>(
    _: V.Type, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, length: Int,
    logarithm: Bool
  ) -> (largest: Float, total: Float) {
    let largest = rowMaximum(V.self, x, length: length)
    let total =
      logarithm
      ? rowLogTotal(V.self, x, length: length, largest: largest)
      : rowExponentials(V.self, x, out, length: length, largest: largest)
    finishRow(V.self, x, out, length: length, largest: largest, total: total, logarithm: logarithm)
    return (largest, total)
  }

  /// Rows `range` of `x`, each of at least `V.scalarCount`, in groups of
  /// four taken a step at a time: the four maxima, then the four rows'
  /// exponentials, then their scaling. Each row's steps are those of
  /// ``softmaxRowFloat(_:_:_:length:logarithm:)``; grouping them lets one
  /// row's reduction overlap the next row's work.
  @inlinable @inline(__always)
  static func softmaxRowsFloat<V: FloatLanes>(
    _: V.Type, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
    rows range: Range<Int>,
    length: Int, logarithm: Bool
  ) {
    var row = range.lowerBound
    while row + 4 <= range.upperBound {
      let (x0, x1, x2, x3) = (
        x + row * length, x + (row + 1) * length, x + (row + 2) * length, x + (row + 3) * length
      )
      let (o0, o1, o2, o3) = (
        out + row * length, out + (row + 1) * length, out + (row + 2) * length,
        out + (row + 3) * length
      )
      let m0 = rowMaximum(V.self, x0, length: length)
      let m1 = rowMaximum(V.self, x1, length: length)
      let m2 = rowMaximum(V.self, x2, length: length)
      let m3 = rowMaximum(V.self, x3, length: length)
      @inline(__always) func total(
        _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ largest: Float
      ) -> Float {
        logarithm
          ? rowLogTotal(V.self, x, length: length, largest: largest)
          : rowExponentials(V.self, x, out, length: length, largest: largest)
      }
      let (s0, s1) = (total(x0, o0, m0), total(x1, o1, m1))
      let (s2, s3) = (total(x2, o2, m2), total(x3, o3, m3))
      finishRow(V.self, x0, o0, length: length, largest: m0, total: s0, logarithm: logarithm)
      finishRow(V.self, x1, o1, length: length, largest: m1, total: s1, logarithm: logarithm)
      finishRow(V.self, x2, o2, length: length, largest: m2, total: s2, logarithm: logarithm)
      finishRow(V.self, x3, o3, length: length, largest: m3, total: s3, logarithm: logarithm)
      row += 4
    }
    for row in row..<range.upperBound {
      softmaxRowFloat(
        V.self, x + row * length, out + row * length, length: length, logarithm: logarithm)
    }
  }

  /// The largest of a row's values.
  @inlinable @inline(__always)
  static func rowMaximum<V: FloatLanes>(_: V.Type, _ x: UnsafePointer<Float>, length: Int) -> Float
  {
    let width = V.scalarCount
    let whole = length / width * width
    var maxima = V(repeating: -.infinity)
    var j = 0
    while j < whole {
      let v: V = load(x + j)
      maxima = maxima.replacing(with: v, where: .!V.lanes(v, atMost: maxima))
      j &+= width
    }
    let lastValues: V = load(x + (length &- width))
    maxima = maxima.replacing(with: lastValues, where: .!V.lanes(lastValues, atMost: maxima))
    return laneMaximum(maxima)
  }

  /// `Σ e^(xⱼ − largest)` over a row, each exponential stored in `out`.
  @inlinable @inline(__always)
  static func rowExponentials<V: FloatLanes>(
    _: V.Type, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, length: Int,
    largest: Float
  ) -> Float {
    let rest = length % V.scalarCount
    let whole = length &- rest
    // The last register's values are read before the whole registers are
    // written, so `out` may be `x`.
    if endsInHighHalf(V.self, rest) {
      let lastValues: SIMD8<Float> = load(x + (length - 8))
      let sums = wholeExponentials(V.self, x, out, whole: whole, largest)
      let e = lastExponentials(lastValues, largest)
      let fresh = lastLanes(SIMD8<Float>.self, rest)
      store(e, out + (length - 8))
      return laneSum(sums, highHalfPlus: e.replacing(with: 0, where: .!fresh))
    }
    let lastValues: V = load(x + (length - V.scalarCount))
    var sums = wholeExponentials(V.self, x, out, whole: whole, largest)
    if rest > 0 {
      let e = lastExponentials(lastValues, largest)
      let fresh = lastLanes(V.self, rest)
      store(e, out + (length - V.scalarCount))
      sums += e.replacing(with: 0, where: .!fresh)
    }
    return laneSum(sums)
  }

  /// `ln Σ e^(xⱼ − largest)` over a row, for the log-softmax (nothing is
  /// stored). The sum is the one ``rowExponentials(_:_:_:length:largest:)``
  /// takes, lane for lane. Below 2 it holds exactly one term of 1, the
  /// largest's, and is taken as `ln(1 + others)` through `log1p` with the
  /// other terms summed apart: in `1 + others` a dominant logit's row
  /// rounds them away (to 0 below 6e-8), and its log-probability with
  /// them.
  @inlinable @inline(__always)
  static func rowLogTotal<V: FloatLanes>(
    _: V.Type, _ x: UnsafePointer<Float>, length: Int, largest: Float
  ) -> Float {
    let rest = length % V.scalarCount
    let m = V(repeating: largest)
    var (sums, others) = (V(), V())
    var j = 0
    while j < length &- rest {
      let shifted = load(x + j) - m
      let e = exponentialOfNonpositive(shifted)
      sums += e
      others += e.replacing(with: 0, where: .!V.lanes(shifted, differentFrom: V()))
      j &+= V.scalarCount
    }
    if rest > 0 {
      let values: V = load(x + (length - V.scalarCount))
      let e = lastExponentials(values, largest)
      let fresh = lastLanes(V.self, rest)
      sums += e.replacing(with: 0, where: .!fresh)
      others += e.replacing(
        with: 0, where: .!(fresh .& V.lanes(values - m, differentFrom: V())))
    }
    return logarithmOfTotal(laneSum(sums), others: laneSum(others))
  }

  /// `ln total` for a row's sum of `e^(xⱼ − largest)`, given also `others`,
  /// the sum of its terms other than the largest's: below 2 the sum holds
  /// exactly one term of 1, and `log1p(others)` keeps what `1 + others`
  /// rounded away.
  @inlinable @inline(__always)
  static func logarithmOfTotal<S: KernelScalar>(_ total: S, others: S) -> S {
    total < 2 ? S.log1p(others) : S.log(total)
  }

  /// `e^(xⱼ − largest)` for the register that ends a row. On sets of
  /// eight-lane registers each eight lanes go through a function of their
  /// own: inlined into the row, that arithmetic came out in pieces of two
  /// lanes, and so did sixteen lanes passed to a function.
  @inlinable @inline(__always)
  static func lastExponentials<V: FloatLanes>(_ values: V, _ largest: Float) -> V {
    if FloatVector.scalarCount != 8 {
      return exponentialOfNonpositive(values - V(repeating: largest))
    }
    if V.scalarCount == 8 {
      return unsafeBitCast(
        lastExponentials(unsafeBitCast(values, to: SIMD8<Float>.self), largest), to: V.self)
    }
    let halves = unsafeBitCast(values, to: SIMD16<Float>.self)
    return unsafeBitCast(
      SIMD16(
        lowHalf: lastExponentials(halves.lowHalf, largest),
        highHalf: lastExponentials(halves.highHalf, largest)), to: V.self)
  }

  @inlinable @inline(never)
  static func lastExponentials(_ values: SIMD8<Float>, _ largest: Float) -> SIMD8<Float> {
    exponentialOfNonpositive(values - SIMD8(repeating: largest))
  }

  /// The lane sums of `e^(xⱼ − largest)` over the whole registers before
  /// `whole`, each stored in `out`.
  @inlinable @inline(__always)
  static func wholeExponentials<V: FloatLanes>(
    _: V.Type, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, whole: Int,
    _ largest: Float
  ) -> V {
    let m = V(repeating: largest)
    var sums = V()
    var j = 0
    while j < whole {
      let e = exponentialOfNonpositive(load(x + j) - m)
      store(e, out + j)
      sums += e
      j &+= V.scalarCount
    }
    return sums
  }

  /// The row's last step: the stored exponentials divided by their
  /// `total`, or `(x − largest) − total` for the log-softmax, whose
  /// `total` is the sum's logarithm. (The last register's values are read
  /// before anything of it is written, so `out` may be `x`.)
  @inlinable @inline(__always)
  static func finishRow<V: FloatLanes>(
    _: V.Type, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, length: Int,
    largest: Float, total: Float, logarithm: Bool
  ) {
    let rest = length % V.scalarCount
    let whole = length &- rest
    @inline(__always) func finishWhole() {
      var j = 0
      while j < whole {
        store(finished(V.self, x + j, out + j, largest, total, logarithm), out + j)
        j &+= V.scalarCount
      }
    }
    if rest == 0 {
      finishWhole()
    } else if endsInHighHalf(V.self, rest) {
      let last = length &- 8
      let values = finished(SIMD8<Float>.self, x + last, out + last, largest, total, logarithm)
      finishWhole()
      store(values, out + last)
    } else {
      let last = length &- V.scalarCount
      let values = finished(V.self, x + last, out + last, largest, total, logarithm)
      finishWhole()
      store(values, out + last)
    }
  }

  /// A register of the finished row at `out`: `(x − largest) − ln total`
  /// for the log-softmax (`divisor` is `ln total`), the stored
  /// exponentials divided by `divisor` (their total) for the softmax. The
  /// log-softmax subtracts the largest first: `x − largest` is exact near
  /// the largest, so a log-probability near 0 keeps its relative
  /// accuracy, where `x − (largest + ln total)` would round it to a
  /// multiple of the largest's ulp.
  @inlinable @inline(__always)
  static func finished<W: FloatLanes>(
    _: W.Type, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ largest: Float,
    _ divisor: Float, _ logarithm: Bool
  ) -> W {
    logarithm
      ? (load(x) - W(repeating: largest)) - W(repeating: divisor)
      : load(UnsafePointer(out)) / W(repeating: divisor)
  }

  /// The last `count` lanes of a register of `V`: in a register that ends
  /// where the row does, the lanes past the row's last whole register.
  @inlinable @inline(__always)
  static func lastLanes<V: FloatLanes>(_: V.Type, _ count: Int) -> SIMDMask<V.MaskStorage> {
    let width = V.scalarCount
    var index = V()
    for lane in 0..<width { index[lane] = Float(lane) }
    return V.lanes(V(repeating: Float(width &- count)), atMost: index)
  }

  /// Whether the `rest` lanes past a row's whole registers of sixteen all
  /// fall in the high half of the register that ends the row, on a set
  /// whose registers hold eight. That half then ends the row on its own,
  /// as a register of eight at `length − 8`: the same lanes of the same
  /// sums, in one register where there were two. (Where registers hold
  /// sixteen there is nothing to save, and eight-lane code compiled for
  /// them came out in pieces of two lanes.)
  @inlinable @inline(__always)
  static func endsInHighHalf<V: FloatLanes>(_: V.Type, _ rest: Int) -> Bool {
    V.scalarCount == 16 && FloatVector.scalarCount == 8 && rest <= 8
  }

  /// A register's lanes at `p`.
  @inlinable @inline(__always)
  static func load<V: FloatLanes>(_ p: UnsafePointer<Float>) -> V {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
  }

  /// A register's lanes stored at `p`.
  @inlinable @inline(__always)
  static func store<V: FloatLanes>(_ v: V, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
  }

  /// The sum of 8 or 16 lanes in a fixed order: 16 as the sum of their
  /// halves, so that two registers of eight give the same bits.
  @inlinable @inline(__always)
  static func laneSum<V: FloatLanes>(_ v: V) -> Float {
    if V.scalarCount == 16 {
      let lanes = unsafeBitCast(v, to: SIMD16<Float>.self)
      return total(lanes.lowHalf + lanes.highHalf)
    }
    return total(unsafeBitCast(v, to: SIMD8<Float>.self))
  }

  /// ``laneSum(_:)`` of 16 lanes with `last` added to their high half
  /// first.
  @inlinable @inline(__always)
  static func laneSum<V: FloatLanes>(_ v: V, highHalfPlus last: SIMD8<Float>) -> Float {
    let lanes = unsafeBitCast(v, to: SIMD16<Float>.self)
    return total(lanes.lowHalf + (lanes.highHalf + last))
  }

  /// The largest of 8 or 16 lanes: halves of the register compared until
  /// one lane remains. NaN lanes may or may not win; either way a row
  /// with one ends all NaN.
  @inlinable @inline(__always)
  static func laneMaximum<V: FloatLanes>(_ v: V) -> Float {
    @inline(__always) func larger(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
      a.replacing(with: b, where: .!(b .<= a))
    }
    var eight: SIMD8<Float>
    if V.scalarCount == 16 {
      let lanes = unsafeBitCast(v, to: SIMD16<Float>.self)
      eight = larger(lanes.lowHalf, lanes.highHalf)
    } else {
      eight = unsafeBitCast(v, to: SIMD8<Float>.self)
    }
    // Then halves of halves, in registers: a branch on each of the last
    // lanes was mispredicted about once a row.
    let four = larger(eight, SIMD8(lowHalf: eight.highHalf, highHalf: eight.lowHalf)).lowHalf
    let two = four.lowHalf.replacing(with: four.highHalf, where: .!(four.highHalf .<= four.lowHalf))
    return two[1] <= two[0] ? two[0] : two[1]
  }

  /// A row of fewer than eight, in one partial register.
  @inlinable
  static func softmaxShortRowFloat(
    _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, length: Int, logarithm: Bool
  ) {
    let values = lanes(x, count: length, fill: -.infinity)
    var largest = values[0]
    for lane in 1..<8 where !(values[lane] <= largest) { largest = values[lane] }
    let e = exponential(values - SIMD8(repeating: largest))
    let total = total(e)
    if logarithm {
      let others = Self.total(e.replacing(with: 0, where: values .== SIMD8(repeating: largest)))
      let logTotal = logarithmOfTotal(total, others: others)
      store((values - SIMD8(repeating: largest)) - SIMD8(repeating: logTotal), out, count: length)
      return
    }
    let result = e / SIMD8(repeating: total)
    store(result, out, count: length)
  }

  /// The gradient of one row in single precision, in registers as
  /// ``softmaxRowFloat(_:_:length:logarithm:)`` runs it.
  @inlinable @inline(__always)
  static func softmaxRowGradientFloat(
    _ y: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
    length: Int, logarithm: Bool
  ) {
    if length >= 16 {
      softmaxRowGradientFloat(SIMD16<Float>.self, y, g, out, length: length, logarithm: logarithm)
    } else if length >= 8 {
      softmaxRowGradientFloat(SIMD8<Float>.self, y, g, out, length: length, logarithm: logarithm)
    } else {
      let (values, upstream) = (lanes(y, count: length), lanes(g, count: length))
      let total = SIMD8<Float>(repeating: total(logarithm ? upstream : upstream * values))
      let gradient =
        logarithm ? upstream - exponential(values) * total : values * (upstream - total)
      store(gradient, out, count: length)
    }
  }

  /// A row of at least `V.scalarCount`, as in the forward pass: whole
  /// registers, then the row's last register, of which only the `fresh`
  /// lanes count in the sum.
  @inlinable @inline(__always)
  static func softmaxRowGradientFloat<V: FloatLanes>(
    _: V.Type, _ y: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
    _ out: UnsafeMutablePointer<Float>, length: Int, logarithm: Bool
  ) {
    let total = rowGradientTotal(V.self, y, g, length: length, logarithm: logarithm)
    finishRowGradient(V.self, y, g, out, length: length, total: total, logarithm: logarithm)
  }

  /// Rows `range` of the gradient in groups of four, the four totals
  /// before the four rows' gradients, as ``softmaxRowsFloat`` groups the
  /// forward pass.
  @inlinable @inline(__always)
  static func softmaxRowsGradientFloat<V: FloatLanes>(
    _: V.Type, _ y: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
    _ out: UnsafeMutablePointer<Float>, rows range: Range<Int>, length: Int, logarithm: Bool
  ) {
    var row = range.lowerBound
    while row + 4 <= range.upperBound {
      let (a, b, c, d) = (row * length, (row + 1) * length, (row + 2) * length, (row + 3) * length)
      let ta = rowGradientTotal(V.self, y + a, g + a, length: length, logarithm: logarithm)
      let tb = rowGradientTotal(V.self, y + b, g + b, length: length, logarithm: logarithm)
      let tc = rowGradientTotal(V.self, y + c, g + c, length: length, logarithm: logarithm)
      let td = rowGradientTotal(V.self, y + d, g + d, length: length, logarithm: logarithm)
      finishRowGradient(
        V.self, y + a, g + a, out + a, length: length, total: ta, logarithm: logarithm)
      finishRowGradient(
        V.self, y + b, g + b, out + b, length: length, total: tb, logarithm: logarithm)
      finishRowGradient(
        V.self, y + c, g + c, out + c, length: length, total: tc, logarithm: logarithm)
      finishRowGradient(
        V.self, y + d, g + d, out + d, length: length, total: td, logarithm: logarithm)
      row += 4
    }
    for row in row..<range.upperBound {
      let offset = row * length
      softmaxRowGradientFloat(
        V.self, y + offset, g + offset, out + offset, length: length, logarithm: logarithm)
    }
  }

  /// `Σₖ gₖyₖ` over a row for the softmax, `Σₖ gₖ` for the log-softmax.
  @inlinable @inline(__always)
  static func rowGradientTotal<V: FloatLanes>(
    _: V.Type, _ y: UnsafePointer<Float>, _ g: UnsafePointer<Float>, length: Int,
    logarithm: Bool
  ) -> Float {
    let rest = length % V.scalarCount
    let whole = length &- rest
    var sums = V()
    var j = 0
    while j < whole {
      sums += gradientTerms(V.self, y + j, g + j, logarithm)
      j &+= V.scalarCount
    }
    if rest == 0 { return laneSum(sums) }
    if endsInHighHalf(V.self, rest) {
      let terms = gradientTerms(SIMD8<Float>.self, y + (length - 8), g + (length - 8), logarithm)
      return laneSum(
        sums, highHalfPlus: terms.replacing(with: 0, where: .!lastLanes(SIMD8<Float>.self, rest)))
    }
    let last = length &- V.scalarCount
    sums += gradientTerms(V.self, y + last, g + last, logarithm)
      .replacing(with: 0, where: .!lastLanes(V.self, rest))
    return laneSum(sums)
  }

  /// A register of the gradient total's terms: `gₖyₖ`, or `gₖ` for the
  /// log-softmax.
  @inlinable @inline(__always)
  static func gradientTerms<W: FloatLanes>(
    _: W.Type, _ y: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ logarithm: Bool
  ) -> W {
    let upstream: W = load(g)
    return logarithm ? upstream : upstream * load(y)
  }

  /// A row's gradient given its ``rowGradientTotal``. The last register
  /// is computed before anything is written, so `out` may be `g` or `y`.
  @inlinable @inline(__always)
  static func finishRowGradient<V: FloatLanes>(
    _: V.Type, _ y: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
    _ out: UnsafeMutablePointer<Float>, length: Int, total: Float, logarithm: Bool
  ) {
    let rest = length % V.scalarCount
    let whole = length &- rest
    @inline(__always) func finishWhole() {
      var j = 0
      while j < whole {
        store(rowGradient(V.self, y + j, g + j, total, logarithm), out + j)
        j &+= V.scalarCount
      }
    }
    if rest == 0 {
      finishWhole()
    } else if endsInHighHalf(V.self, rest) {
      let last = length &- 8
      let gradient = rowGradient(SIMD8<Float>.self, y + last, g + last, total, logarithm)
      finishWhole()
      store(gradient, out + last)
    } else {
      let last = length &- V.scalarCount
      let gradient = rowGradient(V.self, y + last, g + last, total, logarithm)
      finishWhole()
      store(gradient, out + last)
    }
  }

  /// A register of a row's gradient given its total: `yⱼ·(gⱼ − total)`,
  /// or `gⱼ − e^(yⱼ)·total` for the log-softmax (whose `yⱼ` are at most 0).
  @inlinable @inline(__always)
  static func rowGradient<W: FloatLanes>(
    _: W.Type, _ y: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ total: Float,
    _ logarithm: Bool
  ) -> W {
    let (values, upstream): (W, W) = (load(y), load(g))
    let broadcastTotal = W(repeating: total)
    return logarithm
      ? upstream - exponentialOfNonpositive(values) * broadcastTotal
      : values * (upstream - broadcastTotal)
  }

  /// One row in any precision, through the C library's `exp` and `log`.
  @inlinable
  static func softmaxRow<S: KernelScalar>(
    _ x: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, length: Int, logarithm: Bool
  ) {
    var largest = -S.infinity
    for j in 0..<length where !(x[j] <= largest) { largest = x[j] }
    var (total, others): (S, S) = (0, 0)
    for j in 0..<length {
      let e = S.exp(x[j] - largest)
      if !logarithm { out[j] = e }
      total += e
      if x[j] != largest { others += e }
    }
    if logarithm {
      let logTotal = logarithmOfTotal(total, others: others)
      for j in 0..<length { out[j] = (x[j] - largest) - logTotal }
    } else {
      for j in 0..<length { out[j] /= total }
    }
  }

  @inlinable
  static func softmaxRowGradient<S: KernelScalar>(
    _ y: UnsafePointer<S>, _ g: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, length: Int,
    logarithm: Bool
  ) {
    var total: S = 0
    for j in 0..<length { total += logarithm ? g[j] : g[j] * y[j] }
    for j in 0..<length {
      out[j] = logarithm ? g[j] - S.exp(y[j]) * total : y[j] * (g[j] - total)
    }
  }
}
