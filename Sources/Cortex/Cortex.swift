// The library's public API in one import: `import Cortex` gives a user
// every layer of it, from tensors and autodiff to training runs.

@_exported import CortexCore
@_exported import CortexData
@_exported import CortexNN
@_exported import CortexTraining
