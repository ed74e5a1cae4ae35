import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Max and average pooling against direct loops, forward and backward, on
/// random configurations.
@Suite struct PoolingReferenceTests {
  struct Config: CustomStringConvertible {
    var batch, channels, height, width: Int
    var sizes: (Int, Int)
    var strides: (Int, Int)
    var paddings: (Int, Int)
    var rounding: ConvolutionRounding

    var inputShape: [Int] { [batch, channels, height, width] }

    var description: String {
      "x\(inputShape) F\(sizes) S\(strides) P\(paddings) \(rounding)"
    }

    func outputShape() throws -> [Int] {
      try pool2dOutputShape(
        input: inputShape, sizes: sizes, strides: strides, paddings: paddings, rounding: rounding)
    }
  }

  static func randomConfigs(count: Int, seed: UInt64) -> [Config] {
    var random = SeededGenerator(seed: seed)
    var configs: [Config] = []
    while configs.count < count {
      let config = Config(
        batch: Int.random(in: 1...3, using: &random),
        channels: Int.random(in: 1...3, using: &random),
        height: Int.random(in: 1...9, using: &random),
        width: Int.random(in: 1...9, using: &random),
        sizes: (Int.random(in: 1...4, using: &random), Int.random(in: 1...4, using: &random)),
        strides: (Int.random(in: 1...3, using: &random), Int.random(in: 1...3, using: &random)),
        paddings: (Int.random(in: 0...2, using: &random), Int.random(in: 0...2, using: &random)),
        rounding: Int.random(in: 0..<4, using: &random) == 0 ? .floor : .exact)
      if (try? config.outputShape()) != nil { configs.append(config) }
    }
    return configs
  }

  /// Calls `body(output, inputs)` for every output element with the flat
  /// indices of the inputs in its window (padding left out), in row-major
  /// window order.
  static func forEachWindow(_ c: Config, _ body: (Int, [Int]) -> Void) throws {
    let shape = try c.outputShape()
    var output = 0
    for plane in 0..<(c.batch * c.channels) {
      for oh in 0..<shape[2] {
        for ow in 0..<shape[3] {
          var inputs: [Int] = []
          for i in 0..<c.sizes.0 {
            for j in 0..<c.sizes.1 {
              let ih = oh * c.strides.0 - c.paddings.0 + i
              let iw = ow * c.strides.1 - c.paddings.1 + j
              if ih >= 0 && ih < c.height && iw >= 0 && iw < c.width {
                inputs.append((plane * c.height + ih) * c.width + iw)
              }
            }
          }
          body(output, inputs)
          output += 1
        }
      }
    }
  }

  static func maxAbsDifference(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    return zip(a, b).map { Swift.abs($0 - $1) }.max() ?? 0
  }

  static func check(_ c: Config, seed: UInt64) throws {
    let shape = try c.outputShape()
    // Rounded values make ties common, exercising the tie rule.
    let x = Tensor<Double>.randomNormal(c.inputShape, seed: seed).map { ($0 * 2).rounded() }
    let upstream = Tensor<Double>.randomNormal(shape, seed: seed + 1)
    let (xs, gs) = (x.scalars, upstream.scalars)
    let outputCount = shape.reduce(1, *)

    var maxima = [Double](repeating: 0, count: outputCount)
    var maxGradient = [Double](repeating: 0, count: xs.count)
    var averages = [Double](repeating: 0, count: outputCount)
    var avgGradient = [Double](repeating: 0, count: xs.count)
    let area = Double(c.sizes.0 * c.sizes.1)
    try forEachWindow(c) { o, inputs in
      var best = inputs[0]
      for i in inputs where xs[i] > xs[best] { best = i }
      maxima[o] = xs[best]
      maxGradient[best] += gs[o]
      averages[o] = inputs.map { xs[$0] }.reduce(0, +) / area
      for i in inputs { avgGradient[i] += gs[o] / area }
    }

    let (maxValue, maxPullback) = valueWithPullback(at: [x]) {
      maxPool2d(
        $0[0], sizes: c.sizes, strides: c.strides, paddings: c.paddings, rounding: c.rounding)
    }
    #expect(maxValue.shape == shape, "\(c)")
    #expect(maxAbsDifference(maxValue.scalars, maxima) <= 1e-10, "max forward \(c)")
    #expect(
      maxAbsDifference(maxPullback(upstream)[0].scalars, maxGradient) <= 1e-10, "max backward \(c)")

    let (avgValue, avgPullback) = valueWithPullback(at: [x]) {
      avgPool2d(
        $0[0], sizes: c.sizes, strides: c.strides, paddings: c.paddings, rounding: c.rounding)
    }
    #expect(maxAbsDifference(avgValue.scalars, averages) <= 1e-10, "avg forward \(c)")
    #expect(
      maxAbsDifference(avgPullback(upstream)[0].scalars, avgGradient) <= 1e-10, "avg backward \(c)")
  }

  @Test func randomConfigurationsMatchDirectLoops() throws {
    let configs = Self.randomConfigs(count: 200, seed: 2012)
    #expect(configs.filter { $0.paddings.0 > 0 || $0.paddings.1 > 0 }.count >= 30)
    #expect(configs.filter { $0.sizes.0 != $0.strides.0 }.count >= 50)
    #expect(configs.filter { $0.rounding == .floor }.count >= 20)
    for (index, config) in configs.enumerated() {
      try Self.check(config, seed: UInt64(100 + 2 * index))
    }
  }

  /// Configurations large enough to be split over the cores.
  @Test func parallelPlanesMatchDirectLoops() throws {
    let configs = [
      Config(
        batch: 8, channels: 8, height: 32, width: 32, sizes: (2, 2), strides: (2, 2),
        paddings: (0, 0), rounding: .exact),
      Config(
        batch: 8, channels: 8, height: 27, width: 25, sizes: (3, 3), strides: (2, 2),
        paddings: (1, 1), rounding: .floor),
    ]
    for (index, config) in configs.enumerated() {
      try Self.check(config, seed: UInt64(1000 + 2 * index))
    }
  }
}
