import Cortex
import Foundation

/// `cortex export CHECKPOINT --onnx FILE`: the trained model as an ONNX file.
struct ExportCommand: Command {
  let name = "export"
  let abstract = "Write a checkpoint's model as an ONNX file"
  let help = """
    usage: cortex export CHECKPOINT --onnx FILE

    Writes the model saved in a checkpoint of `cortex train` as an ONNX
    model (opset 17) that ONNX Runtime and other ONNX tools run. The graph
    takes raw pixels scaled to [0, 1], float32 [N, C, H, W] with the batch
    size N free, applies the normalization the run trained with (and the
    center crop, for a model that takes smaller images than the data set
    has), and returns the logits [N, classes] under the name `logits`.

    options:
      --onnx FILE   the .onnx file to write
    """

  func run(_ arguments: [String]) throws -> Int32 {
    let options = try Arguments(arguments, valueOptions: ["onnx"], flagOptions: [])
    guard options.positional.count == 1 else {
      throw CommandLineError(
        "export takes one checkpoint path, found \(options.positional.count) arguments")
    }
    guard let path = options.string("onnx") else {
      throw CommandLineError("export needs --onnx FILE, the ONNX file to write")
    }
    let checkpoint = URL(fileURLWithPath: options.positional[0])
    try TrainingRun.exportONNX(checkpoint: checkpoint, to: URL(fileURLWithPath: path))
    let configuration = try TrainingRun.savedState(at: checkpoint).configuration
    let input = configuration.dataset.imageShape ?? configuration.model.inputShape
    try say(
      "wrote \(path): \(configuration.model.rawValue), ONNX opset 17, input pixels [N, "
        + input.map(String.init).joined(separator: ", ") + "] float32 in [0, 1], output logits")
    return 0
  }
}
