import CortexKernels
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// The im2col + GEMM convolution against a direct seven-loop convolution,
/// forward and backward, on random configurations.
@Suite struct ConvolutionReferenceTests {
  struct Config: CustomStringConvertible {
    var batch, channels, height, width, filters: Int
    var filterHeight, filterWidth: Int
    var strides: (Int, Int)
    var paddings: (Int, Int)
    var dilations: (Int, Int)
    var bias: Bool
    var rounding: ConvolutionRounding

    var inputShape: [Int] { [batch, channels, height, width] }
    var filterShape: [Int] { [filters, channels, filterHeight, filterWidth] }

    var description: String {
      "x\(inputShape) w\(filterShape) S\(strides) P\(paddings) D\(dilations) bias \(bias) \(rounding)"
    }
  }

  /// Random configurations that fit: sizes are drawn, and those the
  /// validation rejects are drawn again.
  static func randomConfigs(count: Int, seed: UInt64) -> [Config] {
    var random = SeededGenerator(seed: seed)
    var configs: [Config] = []
    while configs.count < count {
      let config = Config(
        batch: Int.random(in: 1...3, using: &random),
        channels: Int.random(in: 1...3, using: &random),
        height: Int.random(in: 1...9, using: &random),
        width: Int.random(in: 1...9, using: &random),
        filters: Int.random(in: 1...4, using: &random),
        filterHeight: Int.random(in: 1...4, using: &random),
        filterWidth: Int.random(in: 1...4, using: &random),
        strides: (Int.random(in: 1...3, using: &random), Int.random(in: 1...3, using: &random)),
        paddings: (Int.random(in: 0...2, using: &random), Int.random(in: 0...2, using: &random)),
        dilations: (Int.random(in: 1...2, using: &random), Int.random(in: 1...2, using: &random)),
        bias: Bool.random(using: &random),
        rounding: Int.random(in: 0..<4, using: &random) == 0 ? .floor : .exact)
      if (try? outputShape(config)) != nil { configs.append(config) }
    }
    return configs
  }

  static func outputShape(_ c: Config) throws -> [Int] {
    try conv2dOutputShape(
      input: c.inputShape, filters: c.filterShape, bias: c.bias ? [c.filters] : nil,
      strides: c.strides, paddings: c.paddings, dilations: c.dilations, rounding: c.rounding)
  }

  /// Calls `body(n, k, oh, ow, c, i, j, inputIndex)` for every term of the
  /// convolution whose input position lies inside the input (not in the
  /// padding), with the flat index of that input.
  static func forEachTerm(
    _ c: Config, outputHeight: Int, outputWidth: Int,
    _ body: (Int, Int, Int, Int, Int, Int, Int, Int) -> Void
  ) {
    for n in 0..<c.batch {
      for k in 0..<c.filters {
        for oh in 0..<outputHeight {
          for ow in 0..<outputWidth {
            for ch in 0..<c.channels {
              for i in 0..<c.filterHeight {
                for j in 0..<c.filterWidth {
                  let ih = oh * c.strides.0 - c.paddings.0 + i * c.dilations.0
                  let iw = ow * c.strides.1 - c.paddings.1 + j * c.dilations.1
                  guard ih >= 0 && ih < c.height && iw >= 0 && iw < c.width else { continue }
                  body(
                    n, k, oh, ow, ch, i, j, ((n * c.channels + ch) * c.height + ih) * c.width + iw)
                }
              }
            }
          }
        }
      }
    }
  }

  static func maxAbsDifference(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    return zip(a, b).map { Swift.abs($0 - $1) }.max() ?? 0
  }

  /// Checks forward and all gradients of one configuration against the
  /// direct loops.
  static func check(_ c: Config, seed: UInt64) throws {
    let shape = try outputShape(c)
    let (outputHeight, outputWidth) = (shape[2], shape[3])
    let x = Tensor<Double>.randomNormal(c.inputShape, seed: seed)
    let w = Tensor<Double>.randomNormal(c.filterShape, seed: seed + 1)
    let b = Tensor<Double>.randomNormal([c.filters], seed: seed + 2)
    let upstream = Tensor<Double>.randomNormal(shape, seed: seed + 3)
    let (y, pullback) = valueWithPullback(at: c.bias ? [x, w, b] : [x, w]) { t in
      conv2d(
        t[0], filters: t[1], bias: c.bias ? t[2] : nil, strides: c.strides, paddings: c.paddings,
        dilations: c.dilations, rounding: c.rounding)
    }
    let gradients = pullback(upstream)

    let (xs, ws, bs, gs) = (x.scalars, w.scalars, b.scalars, upstream.scalars)
    var expected = [Double](repeating: 0, count: shape.reduce(1, *))
    var dx = [Double](repeating: 0, count: xs.count)
    var dw = [Double](repeating: 0, count: ws.count)
    var db = [Double](repeating: 0, count: c.filters)
    let outputIndex = { (n: Int, k: Int, oh: Int, ow: Int) in
      ((n * c.filters + k) * outputHeight + oh) * outputWidth + ow
    }
    let filterIndex = { (k: Int, ch: Int, i: Int, j: Int) in
      ((k * c.channels + ch) * c.filterHeight + i) * c.filterWidth + j
    }
    forEachTerm(c, outputHeight: outputHeight, outputWidth: outputWidth) {
      n, k, oh, ow, ch, i, j, input in
      let o = outputIndex(n, k, oh, ow)
      let f = filterIndex(k, ch, i, j)
      expected[o] += ws[f] * xs[input]
      dx[input] += ws[f] * gs[o]
      dw[f] += xs[input] * gs[o]
    }
    for n in 0..<c.batch {
      for k in 0..<c.filters {
        for oh in 0..<outputHeight {
          for ow in 0..<outputWidth {
            let o = outputIndex(n, k, oh, ow)
            if c.bias { expected[o] += bs[k] }
            db[k] += gs[o]
          }
        }
      }
    }
    #expect(y.shape == shape, "\(c)")
    #expect(maxAbsDifference(y.scalars, expected) <= 1e-10, "forward \(c)")
    #expect(maxAbsDifference(gradients[0].scalars, dx) <= 1e-10, "input gradient \(c)")
    #expect(maxAbsDifference(gradients[1].scalars, dw) <= 1e-10, "filter gradient \(c)")
    if c.bias {
      #expect(maxAbsDifference(gradients[2].scalars, db) <= 1e-10, "bias gradient \(c)")
    }
  }

  @Test func randomConfigurationsMatchDirectLoops() throws {
    let configs = Self.randomConfigs(count: 200, seed: 2017)
    // The draw covers the cases that matter.
    #expect(configs.filter { $0.strides.0 > 1 || $0.strides.1 > 1 }.count >= 50)
    #expect(configs.filter { $0.paddings.0 > 0 || $0.paddings.1 > 0 }.count >= 50)
    #expect(configs.filter { $0.dilations.0 > 1 || $0.dilations.1 > 1 }.count >= 50)
    #expect(configs.filter { $0.filterHeight == 1 && $0.filterWidth == 1 }.count >= 3)
    #expect(configs.filter { $0.rounding == .floor }.count >= 20)
    #expect(configs.filter { $0.batch > 1 }.count >= 50)
    for (index, config) in configs.enumerated() {
      try Self.check(config, seed: UInt64(100 + 4 * index))
    }
  }

  /// Configurations with enough filters (and channels) for the filter
  /// gradient to run on the packed tile from channels-last column
  /// matrices: with dilation and stride across and down, 1×1 windows with
  /// padding, and 20 filters over 12 channels.
  @Test func manyFiltersMatchDirectLoops() throws {
    let configs = [
      Config(
        batch: 3, channels: 3, height: 7, width: 6, filters: 65, filterHeight: 3, filterWidth: 3,
        strides: (1, 1), paddings: (1, 1), dilations: (1, 1), bias: true, rounding: .exact),
      Config(
        batch: 2, channels: 2, height: 9, width: 8, filters: 64, filterHeight: 2, filterWidth: 3,
        strides: (2, 1), paddings: (1, 2), dilations: (1, 2), bias: false, rounding: .floor),
      Config(
        batch: 2, channels: 5, height: 4, width: 5, filters: 70, filterHeight: 1, filterWidth: 1,
        strides: (1, 2), paddings: (1, 1), dilations: (1, 1), bias: true, rounding: .exact),
      Config(
        batch: 2, channels: 12, height: 9, width: 10, filters: 20, filterHeight: 5,
        filterWidth: 5, strides: (1, 1), paddings: (2, 2), dilations: (1, 1), bias: true,
        rounding: .exact),
    ]
    for config in configs {
      let g = try convolutionGeometry(
        input: config.inputShape, filters: config.filterShape,
        bias: config.bias ? [config.filters] : nil, stride: Extent(config.strides),
        padding: Extent(config.paddings), dilation: Extent(config.dilations),
        rounding: config.rounding)
      #expect(g.filterGradientIsChannelsLast, "\(config)")
    }
    for (index, config) in configs.enumerated() {
      try Self.check(config, seed: UInt64(2000 + 4 * index))
    }
  }

  /// Configurations large enough to be split over the cores.
  @Test func parallelBatchesMatchDirectLoops() throws {
    let configs = [
      Config(
        batch: 5, channels: 4, height: 13, width: 11, filters: 8, filterHeight: 3, filterWidth: 3,
        strides: (1, 1), paddings: (1, 1), dilations: (1, 1), bias: true, rounding: .exact),
      Config(
        batch: 4, channels: 32, height: 10, width: 12, filters: 8, filterHeight: 1, filterWidth: 1,
        strides: (1, 1), paddings: (0, 0), dilations: (1, 1), bias: false, rounding: .exact),
      Config(
        batch: 4, channels: 4, height: 20, width: 17, filters: 6, filterHeight: 5,
        filterWidth: 4, strides: (2, 3), paddings: (2, 1), dilations: (1, 2), bias: true,
        rounding: .floor),
    ]
    for (index, config) in configs.enumerated() {
      let shape = try Self.outputShape(config)
      let work =
        config.batch * config.filters * config.channels * config.filterHeight
        * config.filterWidth * shape[2] * shape[3]
      #expect(work >= 1 << 16)
      try Self.check(config, seed: UInt64(1000 + 4 * index))
    }
  }
}
