// Builds LeNet-5 and VGG16 programmatically and prints their summaries:
// output volumes, parameters and activation memory, layer by layer.
import Cortex

for name in [ModelName.lenet5, .vgg16] {
  let model = name.build(Float.self)
  print("\(name.rawValue) for input \(name.inputShape):")
  do {
    print(try model.summary(inputShape: name.inputShape))
  } catch {
    print("error: \(error)")
  }
  print()
}
