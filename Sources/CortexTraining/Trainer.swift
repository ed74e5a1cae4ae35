import CortexCore
import CortexData
import CortexNN
import Foundation

/// Training and evaluating a classifier: one optimizer step per batch with
/// softmax cross-entropy, and accuracy with a confusion matrix.
public final class Trainer<Scalar: TensorScalar> {
  public let model: any Layer<Scalar>
  public let optimizer: any Optimizer<Scalar>
  /// All the model's parameters, trainable or not, in the order of
  /// ``Layer/namedParameters``: the list the optimizer updates. Each step
  /// trains those trainable at that step, so setting
  /// ``Parameter/isTrainable`` at any time freezes a parameter (no gradient
  /// is computed for it and the optimizer leaves it and its state as they
  /// are) or unfreezes it (the optimizer creates its state at its first
  /// update) from the next step on.
  public let parameters: [Parameter<Scalar>]

  public init(model: any Layer<Scalar>, optimizer: any Optimizer<Scalar>) {
    self.model = model
    self.optimizer = optimizer
    self.parameters = model.namedParameters.map(\.parameter)
  }

  /// One step of gradient descent on a batch. Returns the batch's mean
  /// loss and how many of its examples the model classified correctly
  /// before the step.
  ///
  /// A model with `[N, ..., classes]` outputs, such as a language model's
  /// `[N, tokens, vocabulary]`, has an example at every position: the loss
  /// averages over all of them and each counts as classified correctly or
  /// not.
  ///
  /// - Parameters:
  ///   - inputs: `[N, ...]`, the model's input.
  ///   - labels: one class index per example, in row-major order: `N`, or
  ///     `N · tokens` for `[N, tokens, classes]` outputs.
  @discardableResult
  public func step(inputs: Tensor<Scalar>, labels: [Int]) -> (loss: Double, correct: Int) {
    var logits: Tensor<Scalar>?
    let trainable = parameters.filter(\.isTrainable)
    let (loss, trainableGradients) = withLearningPhase(.training) {
      valueWithGradient(for: trainable) {
        let output = model(inputs)
        logits = output.withoutDerivative
        return softmaxCrossEntropy(logits: output, labels: labels)
      }
    }
    update(trainableGradients: trainableGradients)
    let predictions = logits!.argmax(alongAxis: -1)
    return (Double(loss.scalar), zip(predictions, labels).filter { $0 == $1 }.count)
  }

  /// Applies the optimizer to ``parameters`` given the gradients of those
  /// trainable now, in order.
  func update(trainableGradients: [Tensor<Scalar>]) {
    // The optimizer skips a frozen parameter without reading its gradient,
    // so the parameter's own value stands in: the right shape, and nothing
    // to allocate or fill.
    var next = trainableGradients.makeIterator()
    let gradients = parameters.map { $0.isTrainable ? next.next()! : $0.value }
    precondition(next.next() == nil, "Trainer: more gradients than trainable parameters")
    optimizer.update(parameters, gradients: gradients)
  }

  /// The model's predictions for `inputs`, in inference mode and without
  /// recording, `batchSize` examples at a time.
  public func predict(_ inputs: Tensor<Scalar>, batchSize: Int = 500) -> [Int] {
    let count = inputs.shape[0]
    var predictions: [Int] = []
    predictions.reserveCapacity(count)
    withLearningPhase(.inference) {
      withoutRecording {
        for start in stride(from: 0, to: count, by: batchSize) {
          let batch = inputs.sliced(
            alongAxis: 0, range: start..<Swift.min(start + batchSize, count))
          predictions += model(batch).argmax(alongAxis: 1)
        }
      }
    }
    return predictions
  }

  /// Accuracy and confusion matrix on a labelled set.
  public func evaluate(_ inputs: Tensor<Scalar>, labels: [Int], classes: Int, batchSize: Int = 500)
    -> Evaluation
  {
    Evaluation(predictions: predict(inputs, batchSize: batchSize), labels: labels, classes: classes)
  }
}

/// How a classifier did on a labelled set.
public struct Evaluation: CustomStringConvertible, Sendable {
  /// `confusion[truth][prediction]` counts examples.
  public let confusion: [[Int]]

  public init(predictions: [Int], labels: [Int], classes: Int) {
    precondition(
      predictions.count == labels.count,
      "evaluate: \(predictions.count) predictions for \(labels.count) labels")
    var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
    for (prediction, label) in zip(predictions, labels) where (0..<classes).contains(label) {
      confusion[label][Swift.min(Swift.max(prediction, 0), classes - 1)] += 1
    }
    self.confusion = confusion
  }

  public var total: Int { confusion.map { $0.reduce(0, +) }.reduce(0, +) }
  public var correct: Int { confusion.indices.map { confusion[$0][$0] }.reduce(0, +) }
  /// The fraction classified correctly.
  public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }

  /// The confusion matrix as a table, rows the true class.
  public var description: String {
    let width = Swift.max(5, String(confusion.flatMap { $0 }.max() ?? 0).count + 1)
    func cell(_ text: String) -> String {
      String(repeating: " ", count: Swift.max(0, width - text.count)) + text
    }
    var lines = ["true\\pred" + confusion.indices.map { cell(String($0)) }.joined()]
    for (label, row) in confusion.enumerated() {
      lines.append(
        cell(String(label)).padding(toLength: 9, withPad: " ", startingAt: 0)
          + row.map { cell(String($0)) }.joined())
    }
    return lines.joined(separator: "\n")
  }
}
