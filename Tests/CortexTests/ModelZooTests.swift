import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Every zoo model's parameter count equals the published one exactly, and
/// its shapes validate for its input.
@Suite struct ModelZooTests {
  @Test(
    arguments: [
      (ModelName.lenet5, 61_706, [10]),
      (.alexnet, 61_100_840, [1000]),
      (.zfnet, 107_627_624, [1000]),
      (.vgg16, 138_357_544, [1000]),
      (.resnet18, 11_689_512, [1000]),
      (.googlenet, 6_624_904, [1000]),
      (.convnetjsMNIST, 5_994, [10]),
      (.convnetjsCIFAR10, 22_466, [10]),
      (.maxoutMNIST, 1_233_610, [10]),
      (.fashionCNN, 449_338, [10]),
      (.alphaGoPolicy, 3_882_433, [361]),
      (.gptTiny, 120_704, [64, 128]),
    ])
  func parameterCountAndOutputShape(model: ModelName, parameters: Int, output: [Int]) throws {
    let built = model.build(Float.self)
    #expect(built.parameterCount == parameters)
    #expect(try built.outputShape(for: [2] + model.inputShape) == [2] + output)
    let summary = try built.summary(inputShape: model.inputShape)
    #expect(summary.totalParameters == parameters)
    #expect(summary.description.hasSuffix("Total parameters: \(grouped(parameters))"))
  }

  @Test func vgg16SummaryMatchesTheNotesRowByRow() throws {
    let vgg: Sequential<Float> = try Zoo.vgg16()
    let summary = try vgg.summary(inputShape: [3, 224, 224])
    let stored = summary.rows.filter { $0.activations > 0 }.map(\.activations)
    // The notes' VGG16 table: input, then each CONV/POOL/FC output.
    let expected = [
      150_528, 3_211_264, 3_211_264, 802_816, 1_605_632, 1_605_632, 401_408, 802_816, 802_816,
      802_816, 200_704, 401_408, 401_408, 401_408, 100_352, 100_352, 100_352, 100_352, 25_088,
      4096, 4096, 1000,
    ]
    #expect(stored == expected)
    #expect(summary.totalActivations == 15_237_608)
    #expect(summary.rows[1].outputShape == [64, 224, 224])
    #expect(ModelSummary.volume(summary.rows[1].outputShape) == "224×224×64")
  }

  /// ZFNet's spatial sizes are those of its paper's figure.
  @Test func zfNetHasThePapersSizes() throws {
    let summary = try ModelName.zfnet.summary()
    let sides = summary.rows.filter { $0.outputShape.count == 3 && $0.activations > 0 }
      .map { $0.outputShape[1] }
    #expect(sides == [224, 110, 55, 26, 13, 13, 13, 13, 6])
    #expect(summary.rows.map(\.outputShape).contains([512, 6, 6]))
  }

  /// A summary from shapes alone is the summary of the built model, row by
  /// row, for every zoo model.
  @Test(arguments: ModelName.allCases)
  func summaryFromShapesMatchesTheBuiltModel(model: ModelName) throws {
    let built = try withRandomSeed(1) { model.build(Float.self) }.summary(
      inputShape: model.inputShape)
    #expect(try model.summary().description == built.description)
  }

  @Test func alphaGoPolicyKeepsTheBoardSize() throws {
    let model = try Zoo.alphaGoPolicy(filters: 8) as Sequential<Float>
    let shape = try model.layers[0].outputShape(for: [1, 48, 19, 19])
    #expect(shape == [1, 8, 19, 19])
  }

  @Test func parametersAreNamedLikeAStateDict() throws {
    let lenet: Sequential<Float> = try Zoo.lenet5()
    let names = lenet.namedParameters.map(\.name)
    #expect(
      names == [
        "0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight", "9.bias",
        "11.weight", "11.bias",
      ])
    let resnet = try Zoo.resNet18() as Sequential<Float>
    let resnetNames = resnet.namedParameters.map(\.name)
    #expect(resnetNames.contains("1.running_mean"))
    #expect(resnetNames.contains("6.shortcut.0.weight") == false)
    #expect(resnetNames.contains("8.shortcut.0.weight"))
  }

  @Test func aModelThatDoesNotFitNamesTheLayer() throws {
    let model = try Sequential<Float> {
      try Conv2D(inputChannels: 1, outputChannels: 2, filterSize: 3, stride: 3)
    }
    #expect(throws: ShapeError.self) { try model.outputShape(for: [1, 1, 7, 7]) }
    do {
      _ = try model.outputShape(for: [1, 1, 7, 7])
    } catch {
      #expect(error.message.hasPrefix("layer 0 (Conv2D): "))
      #expect(error.message.contains("2.33"))
    }
  }
}
