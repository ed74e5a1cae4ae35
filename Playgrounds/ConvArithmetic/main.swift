import Cortex

// The convolution arithmetic of the CS231n notes, computed by the same
// validation functions that conv2d and maxPool2d run before they compute.

/// Formats a shape [N, C, H, W] as the notes write volumes: H×W×C.
func volume(_ shape: [Int]) -> String { "\(shape[2])×\(shape[3])×\(shape[1])" }

/// Prints a line for a computation that may throw a shape error.
func show(_ label: String, _ body: () throws -> String) {
  do {
    print("\(label) → \(try body())")
  } catch let error as ShapeError {
    print("\(label) → rejected: \(error.message)")
  } catch {
    print("\(label) → unexpected error: \(error)")
  }
}

print("Output size: (N − F + 2P)/S + 1\n")

show("7×7 input, 3×3 filter, stride 1") {
  let size = try convolutionOutputSize(input: 7, filter: 3, stride: 1, padding: 0)
  return "\(size)×\(size)"
}
show("7×7 input, 3×3 filter, stride 2") {
  let size = try convolutionOutputSize(input: 7, filter: 3, stride: 2, padding: 0)
  return "\(size)×\(size)"
}
show("7×7 input, 3×3 filter, stride 3") {
  let size = try convolutionOutputSize(input: 7, filter: 3, stride: 3, padding: 0)
  return "\(size)×\(size)"
}
show("7×7 input, 3×3 filter, stride 3, rounding down") {
  let size = try convolutionOutputSize(
    input: 7, filter: 3, stride: 3, padding: 0, rounding: .floor)
  return "\(size)×\(size)"
}
show("7×7 input, 3×3 filter, stride 1, pad 1") {
  let size = try convolutionOutputSize(input: 7, filter: 3, stride: 1, padding: 1)
  return "\(size)×\(size)"
}
for f in [3, 5, 7] {
  show("32×32 input, \(f)×\(f) filter, stride 1, pad (F − 1)/2 = \((f - 1) / 2)") {
    let size = try convolutionOutputSize(input: 32, filter: f, stride: 1, padding: (f - 1) / 2)
    return "\(size)×\(size)"
  }
}

print()
show("32×32×3 input, ten 5×5 filters, stride 1, pad 2") {
  let filters = [10, 3, 5, 5]
  let shape = try conv2dOutputShape(
    input: [1, 3, 32, 32], filters: filters, bias: [10], stride: 1, padding: 2)
  let parameters = filters.reduce(1, *) + filters[0]
  return "\(volume(shape)), (5·5·3 + 1)·10 = \(parameters) parameters"
}
show("56×56×64 input, thirty-two 1×1 filters") {
  volume(try conv2dOutputShape(input: [1, 64, 56, 56], filters: [32, 64, 1, 1]))
}
show("224×224×64 input, 2×2 max pooling, stride 2") {
  volume(try pool2dOutputShape(input: [1, 64, 224, 224], size: 2, stride: 2))
}
show("6×7×3 input, filters of depth 6") {
  volume(try conv2dOutputShape(input: [1, 3, 6, 7], filters: [4, 6, 3, 3]))
}

print("\nAlexNet")
show("CONV1: 227×227×3 input, ninety-six 11×11 filters, stride 4") {
  let shape = try conv2dOutputShape(input: [1, 3, 227, 227], filters: [96, 3, 11, 11], stride: 4)
  return "\(volume(shape)), 11·11·3·96 = \(11 * 11 * 3 * 96) weights"
}
show("POOL1: 55×55×96 input, 3×3 max pooling, stride 2") {
  volume(try pool2dOutputShape(input: [1, 96, 55, 55], size: 3, stride: 2))
}

print("\nLeNet-5")
show("C1: 32×32×1 input, six 5×5 filters") {
  volume(try conv2dOutputShape(input: [1, 1, 32, 32], filters: [6, 1, 5, 5]))
}
show("S2: 28×28×6 input, 2×2 max pooling, stride 2") {
  volume(try pool2dOutputShape(input: [1, 6, 28, 28], size: 2, stride: 2))
}

print("\nA real convolution and pooling (LeNet's first layers on one image):")
let image = Tensor<Float>.randomNormal([1, 1, 32, 32], seed: 1)
let filters = Tensor<Float>.randomNormal([6, 1, 5, 5], standardDeviation: 0.2, seed: 2)
let c1 = tanh(conv2d(image, filters: filters))
let s2 = maxPool2d(c1, size: 2, stride: 2)
print("input \(image.shape) → conv2d \(c1.shape) → maxPool2d \(s2.shape)")
