import CortexCore

/// Research models built programmatically, layer by layer as in their
/// papers (and, where noted, as in torchvision, so that parameter counts
/// and weight names line up with PyTorch's `nn.Sequential` numbering).

/// The models `cortex` can build by name.
public enum ModelName: String, CaseIterable, Sendable {
  case lenet5 = "lenet5"
  case alexnet = "alexnet"
  case zfnet = "zfnet"
  case vgg16 = "vgg16"
  case resnet18 = "resnet18"
  case googlenet = "googlenet"
  case convnetjsMNIST = "convnetjs-mnist"
  case convnetjsCIFAR10 = "convnetjs-cifar10"
  case maxoutMNIST = "maxout-mnist"
  case fashionCNN = "fashion-cnn"
  case alphaGoPolicy = "alphago-policy"
  case vitMNIST = "vit-mnist"
  case gptTiny = "gpt-tiny"

  /// The input shape `[C, H, W]` (or `[features]`, or `[tokens]` of token
  /// ids for a language model) the model is built for.
  public var inputShape: [Int] {
    switch self {
    case .gptTiny: return [64]
    case .lenet5, .maxoutMNIST, .fashionCNN, .vitMNIST: return [1, 28, 28]
    case .alexnet, .zfnet, .vgg16, .resnet18, .googlenet: return [3, 224, 224]
    case .convnetjsMNIST: return [1, 24, 24]
    case .convnetjsCIFAR10: return [3, 32, 32]
    case .alphaGoPolicy: return [48, 19, 19]
    }
  }

  /// Builds the model with freshly initialized weights.
  public func build<Scalar: TensorScalar>(_: Scalar.Type = Scalar.self) -> Sequential<Scalar> {
    // The zoo's default hyperparameters are valid: building cannot throw.
    try! buildThrowing()
  }

  /// The model's layer table for one input of `inputShape` (its own
  /// ``inputShape`` by default), from shapes alone: the model is built
  /// with undrawn weights (see ``withUndrawnWeights(_:)``), so a summary
  /// of VGG16 takes milliseconds and no memory for its weights.
  public func summary(inputShape: [Int]? = nil) throws(ShapeError) -> ModelSummary {
    let model: Sequential<Float> = withUndrawnWeights { build() }
    return try model.summary(inputShape: inputShape ?? self.inputShape)
  }

  private func buildThrowing<Scalar: TensorScalar>() throws -> Sequential<Scalar> {
    switch self {
    case .lenet5: return try Zoo.lenet5()
    case .alexnet: return try Zoo.alexNet()
    case .zfnet: return try Zoo.zfNet()
    case .vgg16: return try Zoo.vgg16()
    case .resnet18: return try Zoo.resNet18()
    case .googlenet: return try Zoo.googLeNet()
    case .convnetjsMNIST: return try Zoo.convNetJSMNIST()
    case .convnetjsCIFAR10: return try Zoo.convNetJSCIFAR10()
    case .maxoutMNIST: return try Zoo.maxoutMNIST()
    case .fashionCNN: return try Zoo.fashionCNN()
    case .alphaGoPolicy: return try Zoo.alphaGoPolicy()
    case .vitMNIST: return try Zoo.visionTransformerMNIST()
    case .gptTiny: return try Zoo.gptTiny()
    }
  }

  /// Whether the model is a language model: it takes `[tokens]` of token
  /// ids and predicts the next token at every position, where the others
  /// classify images (or board positions).
  public var isLanguageModel: Bool { self == .gptTiny }
}

/// Constructors of the zoo's models.
public enum Zoo {
  /// LeNet-5 for 28×28 MNIST digits (padding 2 stands in for the paper's
  /// 32×32 input): conv 5×5 → 6, tanh, pool 2×2, conv 5×5 → 16, tanh,
  /// pool 2×2, then 400 → 120 → 84 → 10. 61,706 parameters.
  public static func lenet5<Scalar: TensorScalar>(classes: Int = 10) throws -> Sequential<Scalar> {
    try Sequential {
      try Conv2D(inputChannels: 1, outputChannels: 6, filterSize: 5, padding: 2)  // 28×28×6
      Tanh()
      try MaxPool2D(size: 2, stride: 2)  // 14×14×6
      try Conv2D(inputChannels: 6, outputChannels: 16, filterSize: 5)  // 10×10×16
      Tanh()
      try MaxPool2D(size: 2, stride: 2)  // 5×5×16
      Flatten()
      try Dense(inputSize: 400, outputSize: 120)
      Tanh()
      try Dense(inputSize: 120, outputSize: 84)
      Tanh()
      try Dense(inputSize: 84, outputSize: classes)
    }
  }

  /// AlexNet in torchvision's single-tower layout, for 224×224×3 input
  /// (the first convolution floors, as in PyTorch). 61,100,840 parameters.
  public static func alexNet<Scalar: TensorScalar>(classes: Int = 1000) throws -> Sequential<Scalar>
  {
    try Sequential {
      try Conv2D(
        inputChannels: 3, outputChannels: 64, filterSize: 11, stride: 4, padding: 2,
        rounding: .floor)
      ReLU()
      try MaxPool2D(size: 3, stride: 2)
      try Conv2D(inputChannels: 64, outputChannels: 192, filterSize: 5, padding: 2)
      ReLU()
      try MaxPool2D(size: 3, stride: 2)
      try Conv2D(inputChannels: 192, outputChannels: 384, filterSize: 3, padding: 1)
      ReLU()
      try Conv2D(inputChannels: 384, outputChannels: 256, filterSize: 3, padding: 1)
      ReLU()
      try Conv2D(inputChannels: 256, outputChannels: 256, filterSize: 3, padding: 1)
      ReLU()
      try MaxPool2D(size: 3, stride: 2)  // 6×6×256
      try alexNetClassifier(inputs: 256 * 6 * 6, classes: classes)
    }
  }

  /// AlexNet's classifier: flatten, then dropout, 4096, ReLU, dropout,
  /// 4096, ReLU, and the class scores.
  static func alexNetClassifier<Scalar: TensorScalar>(inputs: Int, classes: Int) throws
    -> [any Layer<Scalar>]
  {
    [
      Flatten<Scalar>(),
      try Dropout<Scalar>(probability: 0.5),
      try Dense<Scalar>(inputSize: inputs, outputSize: 4096),
      ReLU<Scalar>(),
      try Dropout<Scalar>(probability: 0.5),
      try Dense<Scalar>(inputSize: 4096, outputSize: 4096),
      ReLU<Scalar>(),
      try Dense<Scalar>(inputSize: 4096, outputSize: classes),
    ]
  }

  /// ZFNet (Zeiler & Fergus): AlexNet's layout with CONV1 as 96 7×7
  /// filters at stride 2 and CONV3, 4, 5 with 512, 1024 and 512 filters,
  /// for 224×224×3 input. The spatial sizes are the paper's figure's,
  /// 224 → 110 → 55 → 26 → 13 → 13 → 13 → 13 → 6, which takes a flooring
  /// first convolution and pooling that rounds up (PyTorch's `ceil_mode`).
  /// 107,627,624 parameters.
  public static func zfNet<Scalar: TensorScalar>(classes: Int = 1000) throws -> Sequential<Scalar> {
    try Sequential {
      try Conv2D(
        inputChannels: 3, outputChannels: 96, filterSize: 7, stride: 2, padding: 1,
        rounding: .floor)  // 110×110×96
      ReLU()
      try MaxPool2D(size: 3, stride: 2, rounding: .ceil)  // 55×55×96
      try Conv2D(inputChannels: 96, outputChannels: 256, filterSize: 5, stride: 2)  // 26×26×256
      ReLU()
      try MaxPool2D(size: 3, stride: 2, rounding: .ceil)  // 13×13×256
      try Conv2D(inputChannels: 256, outputChannels: 512, filterSize: 3, padding: 1)
      ReLU()
      try Conv2D(inputChannels: 512, outputChannels: 1024, filterSize: 3, padding: 1)
      ReLU()
      try Conv2D(inputChannels: 1024, outputChannels: 512, filterSize: 3, padding: 1)
      ReLU()
      try MaxPool2D(size: 3, stride: 2)  // 6×6×512
      try alexNetClassifier(inputs: 512 * 6 * 6, classes: classes)
    }
  }

  /// VGG16 (configuration D): only 3×3 stride 1 pad 1 convolutions and
  /// 2×2 stride 2 pooling. 138,357,544 parameters.
  public static func vgg16<Scalar: TensorScalar>(classes: Int = 1000) throws -> Sequential<Scalar> {
    let stages = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]
    var layers: [any Layer<Scalar>] = []
    var channels = 3
    for stage in stages {
      for width in stage {
        layers.append(
          try Conv2D<Scalar>(
            inputChannels: channels, outputChannels: width, filterSize: 3, padding: 1))
        layers.append(ReLU<Scalar>())
        channels = width
      }
      layers.append(try MaxPool2D<Scalar>(size: 2, stride: 2))
    }
    return try Sequential {
      layers
      Flatten()
      try Dense(inputSize: 512 * 7 * 7, outputSize: 4096)
      ReLU()
      try Dropout(probability: 0.5)
      try Dense(inputSize: 4096, outputSize: 4096)
      ReLU()
      try Dropout(probability: 0.5)
      try Dense(inputSize: 4096, outputSize: classes)
    }
  }

  /// A ResNet basic block: two 3×3 convolutions with batch norm, added to
  /// the input (projected by a 1×1 convolution when the shape changes),
  /// then ReLU.
  static func basicBlock<Scalar: TensorScalar>(_ input: Int, _ output: Int, stride: Int) throws
    -> [any Layer<Scalar>]
  {
    let block: Residual<Scalar>
    let body: () throws -> [any Layer<Scalar>] = {
      [
        try Conv2D<Scalar>(
          inputChannels: input, outputChannels: output, filterSize: 3, stride: stride, padding: 1,
          useBias: false,
          rounding: .floor, weightInitializer: .heNormal),
        try BatchNorm2D<Scalar>(channels: output),
        ReLU<Scalar>(),
        try Conv2D<Scalar>(
          inputChannels: output, outputChannels: output, filterSize: 3, padding: 1, useBias: false,
          weightInitializer: .heNormal),
        try BatchNorm2D<Scalar>(channels: output),
      ]
    }
    if stride != 1 || input != output {
      block = try Residual(body) {
        try Conv2D<Scalar>(
          inputChannels: input, outputChannels: output, filterSize: 1, stride: stride,
          useBias: false,
          rounding: .floor, weightInitializer: .heNormal)
        try BatchNorm2D<Scalar>(channels: output)
      }
    } else {
      block = try Residual(body)
    }
    return [block, ReLU<Scalar>()]
  }

  /// ResNet-18: a 7×7 stem, four stages of two basic blocks (64, 128, 256,
  /// 512 channels), global average pooling and one dense layer.
  /// 11,689,512 parameters.
  public static func resNet18<Scalar: TensorScalar>(classes: Int = 1000) throws -> Sequential<
    Scalar
  > {
    var blocks: [any Layer<Scalar>] = []
    var channels = 64
    for (stage, width) in [64, 128, 256, 512].enumerated() {
      blocks += try basicBlock(channels, width, stride: stage == 0 ? 1 : 2)
      blocks += try basicBlock(width, width, stride: 1)
      channels = width
    }
    return try Sequential {
      try Conv2D(
        inputChannels: 3, outputChannels: 64, filterSize: 7, stride: 2, padding: 3, useBias: false,
        rounding: .floor, weightInitializer: .heNormal)
      try BatchNorm2D(channels: 64)
      ReLU()
      try MaxPool2D(size: 3, stride: 2, padding: 1, rounding: .floor)
      blocks
      GlobalAvgPool2D()
      Flatten()
      try Dense(inputSize: 512, outputSize: classes)
    }
  }

  /// torchvision's BasicConv2d: convolution without bias, batch norm, ReLU.
  static func convBN<Scalar: TensorScalar>(
    _ input: Int, _ output: Int, _ size: Int, stride: Int = 1, padding: Int = 0
  ) throws -> [any Layer<Scalar>] {
    [
      try Conv2D<Scalar>(
        inputChannels: input, outputChannels: output, filterSize: size, stride: stride,
        padding: padding,
        useBias: false, rounding: .floor),
      try BatchNorm2D<Scalar>(channels: output, epsilon: 0.001),
      ReLU<Scalar>(),
    ]
  }

  /// An Inception module: 1×1, 1×1→3×3, 1×1→3×3 (torchvision's stand-in
  /// for 5×5) and pool→1×1 branches, concatenated along channels.
  static func inception<Scalar: TensorScalar>(
    _ input: Int, _ c1: Int, _ c3reduce: Int, _ c3: Int, _ c5reduce: Int, _ c5: Int, _ pool: Int
  ) throws -> Branches<Scalar> {
    try Branches([
      Sequential(try convBN(input, c1, 1)),
      Sequential(try convBN(input, c3reduce, 1) + convBN(c3reduce, c3, 3, padding: 1)),
      Sequential(try convBN(input, c5reduce, 1) + convBN(c5reduce, c5, 3, padding: 1)),
      Sequential(
        [try MaxPool2D<Scalar>(size: 3, stride: 1, padding: 1, rounding: .floor)]
          + convBN(input, pool, 1)),
    ])
  }

  /// GoogLeNet in torchvision's layout without the auxiliary classifiers:
  /// nine Inception modules, global average pooling instead of fully
  /// connected layers, one dense classifier. 6,624,904 parameters.
  /// (torchvision pools with `ceil_mode`; Cortex floors, which changes
  /// intermediate sizes by one at most and no parameter.)
  public static func googLeNet<Scalar: TensorScalar>(classes: Int = 1000) throws -> Sequential<
    Scalar
  > {
    try Sequential {
      try convBN(3, 64, 7, stride: 2, padding: 3)
      try MaxPool2D(size: 3, stride: 2, rounding: .floor)
      try convBN(64, 64, 1)
      try convBN(64, 192, 3, padding: 1)
      try MaxPool2D(size: 3, stride: 2, rounding: .floor)
      try inception(192, 64, 96, 128, 16, 32, 32)
      try inception(256, 128, 128, 192, 32, 96, 64)
      try MaxPool2D(size: 3, stride: 2, rounding: .floor)
      try inception(480, 192, 96, 208, 16, 48, 64)
      try inception(512, 160, 112, 224, 24, 64, 64)
      try inception(512, 128, 128, 256, 24, 64, 64)
      try inception(512, 112, 144, 288, 32, 64, 64)
      try inception(528, 256, 160, 320, 32, 128, 128)
      try MaxPool2D(size: 2, stride: 2, rounding: .floor)
      try inception(832, 256, 160, 320, 32, 128, 128)
      try inception(832, 384, 192, 384, 48, 128, 128)
      GlobalAvgPool2D()
      Flatten()
      try Dropout(probability: 0.2)
      try Dense(inputSize: 1024, outputSize: classes)
    }
  }

  /// ConvNetJS's MNIST demo: 24×24 crops, conv 5×5 → 8 (pad 2), ReLU,
  /// pool 2×2, conv 5×5 → 16 (pad 2), ReLU, pool 3×3 stride 3, dense → 10.
  /// 5,994 parameters.
  public static func convNetJSMNIST<Scalar: TensorScalar>() throws -> Sequential<Scalar> {
    try Sequential {
      try Conv2D(inputChannels: 1, outputChannels: 8, filterSize: 5, padding: 2)
      ReLU()
      try MaxPool2D(size: 2, stride: 2)
      try Conv2D(inputChannels: 8, outputChannels: 16, filterSize: 5, padding: 2)
      ReLU()
      try MaxPool2D(size: 3, stride: 3)
      Flatten()
      try Dense(inputSize: 4 * 4 * 16, outputSize: 10)
    }
  }

  /// ConvNetJS's CIFAR-10 demo: three conv 5×5 (16, 20, 20 filters, pad 2)
  /// + ReLU + pool 2×2 stages, dense → 10. 22,466 parameters.
  public static func convNetJSCIFAR10<Scalar: TensorScalar>() throws -> Sequential<Scalar> {
    try Sequential {
      try Conv2D(inputChannels: 3, outputChannels: 16, filterSize: 5, padding: 2)
      ReLU()
      try MaxPool2D(size: 2, stride: 2)
      try Conv2D(inputChannels: 16, outputChannels: 20, filterSize: 5, padding: 2)
      ReLU()
      try MaxPool2D(size: 2, stride: 2)
      try Conv2D(inputChannels: 20, outputChannels: 20, filterSize: 5, padding: 2)
      ReLU()
      try MaxPool2D(size: 2, stride: 2)
      Flatten()
      try Dense(inputSize: 4 * 4 * 20, outputSize: 10)
    }
  }

  /// A permutation-invariant maxout network for MNIST (Goodfellow et al.):
  /// two maxout layers of 240 units with 5 pieces, dense → 10.
  /// 1,233,610 parameters.
  public static func maxoutMNIST<Scalar: TensorScalar>() throws -> Sequential<Scalar> {
    try Sequential {
      Flatten()
      try Maxout(inputSize: 784, units: 240, pieces: 5)
      try Dropout(probability: 0.5)
      try Maxout(inputSize: 240, units: 240, pieces: 5)
      try Dropout(probability: 0.5)
      try Dense(inputSize: 240, outputSize: 10)
    }
  }

  /// A small VGG-style network for 28×28 gray images such as
  /// Fashion-MNIST's: a 3×3 convolution to 16 filters and one to 64, each
  /// with batch norm, ReLU and 2×2 pooling, a third 3×3 convolution to 64
  /// filters on the 7×7 maps with batch norm and ReLU, then
  /// 3136 → 128 → 10 with dropout. About 4.1 million multiply-adds per
  /// image. 449,338 parameters.
  public static func fashionCNN<Scalar: TensorScalar>(classes: Int = 10) throws -> Sequential<
    Scalar
  > {
    try Sequential {
      try Conv2D(
        inputChannels: 1, outputChannels: 16, filterSize: 3, padding: 1, useBias: false,
        weightInitializer: .heNormal)  // 28×28×16
      try BatchNorm2D(channels: 16)
      ReLU()
      try MaxPool2D(size: 2, stride: 2)  // 14×14×16
      try Conv2D(
        inputChannels: 16, outputChannels: 64, filterSize: 3, padding: 1, useBias: false,
        weightInitializer: .heNormal)  // 14×14×64
      try BatchNorm2D(channels: 64)
      ReLU()
      try MaxPool2D(size: 2, stride: 2)  // 7×7×64
      try Conv2D(
        inputChannels: 64, outputChannels: 64, filterSize: 3, padding: 1, useBias: false,
        weightInitializer: .heNormal)  // 7×7×64
      try BatchNorm2D(channels: 64)
      ReLU()
      Flatten()
      try Dense(inputSize: 7 * 7 * 64, outputSize: 128, weightInitializer: .heNormal)
      ReLU()
      try Dropout(probability: 0.3)
      try Dense(inputSize: 128, outputSize: classes)
    }
  }

  /// AlphaGo's policy network: a 19×19×48 board encoding, a 5×5
  /// convolution and eleven 3×3 ones with 192 filters, each padded by
  /// P = (F − 1)/2 so the board stays 19×19, then a 1×1 convolution to one
  /// plane and a softmax over the 361 points (applied by the loss).
  /// 3,882,433 parameters.
  public static func alphaGoPolicy<Scalar: TensorScalar>(filters: Int = 192) throws -> Sequential<
    Scalar
  > {
    var layers: [any Layer<Scalar>] = [
      try Conv2D<Scalar>(inputChannels: 48, outputChannels: filters, filterSize: 5, padding: 2),
      ReLU<Scalar>(),
    ]
    for _ in 0..<11 {
      layers.append(
        try Conv2D<Scalar>(
          inputChannels: filters, outputChannels: filters, filterSize: 3, padding: 1))
      layers.append(ReLU<Scalar>())
    }
    layers.append(try Conv2D<Scalar>(inputChannels: filters, outputChannels: 1, filterSize: 1))
    layers.append(Flatten<Scalar>())
    return Sequential(layers)
  }
}
