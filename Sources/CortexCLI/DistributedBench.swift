import Cortex
import Foundation

extension BenchRow {
  /// The rows that time communication between the processes of an MPI job;
  /// outside one (or with one process) they are skipped with a note.
  ///
  /// - `allreduce_lenet5`, `allreduce_cifar` (the ConvNetJS CIFAR-10 net):
  ///   one blocking all-reduce of a model's gradients (all its trainable
  ///   scalars).
  /// - `allreduce_lenet5_overlap`, `allreduce_lenet5_serial` and the same
  ///   for `cifar`: a whole data-parallel training step at global batch 64,
  ///   its gradients in buckets of 16,384 scalars, reduced while the
  ///   backward pass goes on or after it.
  static func allReduceRows(threads: Int) -> [BenchRow] {
    let group = DistributedRun.group.flatMap { $0.size > 1 ? $0 : nil }
    var rows: [BenchRow] = []
    for (label, model, input) in [
      ("lenet5", ModelName.lenet5, [64, 1, 28, 28]),
      ("cifar", ModelName.convnetjsCIFAR10, [64, 3, 32, 32]),
    ] {
      let scalars = model.build(Float.self).parameterCount
      let ranks = group.map { ", " + counted($0.size, "rank") } ?? ""
      rows.append(
        BenchRow(
          name: "allreduce_\(label)", shape: "\(scalars) floats\(ranks)", threads: threads,
          flops: nil, isCollective: true, skipNote: group == nil ? notUnderMPI : nil
        ) {
          var gradients = Tensor<Float>.randomUniform([scalars], lower: -1, upper: 1, seed: 1)
          return { group!.allReduce(&gradients) }
        })
      for overlap in [true, false] {
        rows.append(
          BenchRow(
            name: "allreduce_\(label)_\(overlap ? "overlap" : "serial")",
            shape: "step, batch \(input.map(String.init).joined(separator: "x"))",
            threads: threads, flops: nil, isCollective: true,
            skipNote: group == nil ? notUnderMPI : nil
          ) {
            let network = model.build(Float.self)
            let trainer = Trainer(
              model: network, optimizer: SGD<Float>(learningRate: 0.01, momentum: 0.9))
            let parallel = DataParallel(
              model: network, group: group!, bucketCapacity: 16_384, overlapsBackward: overlap)
            let share = DistributedSampler(
              count: input[0], batchSize: input[0], rank: group!.rank, size: group!.size
            ).shares(seed: 1)[0]
            let local = [share.indices.count] + input.dropFirst()
            let x = Tensor<Float>.randomUniform(local, lower: 0, upper: 1, seed: 1)
            let labels = share.indices.map { $0 % 10 }
            return {
              parallel.step(trainer, inputs: x, labels: labels, batchCount: input[0])
            }
          })
      }
    }
    // ResNet-18's gradients, for the scaling estimate of larger models, and
    // the compute of one of its steps at 32 images per process: seconds per
    // run, so it runs only when a filter names it.
    let resNet = 11_689_512
    rows.append(
      BenchRow(
        name: "allreduce_resnet18",
        shape: "\(resNet) floats\(group.map { ", " + counted($0.size, "rank") } ?? "")",
        threads: threads, flops: nil, isCollective: true,
        skipNote: group == nil ? notUnderMPI : nil
      ) {
        var gradients = Tensor<Float>.randomUniform([resNet], lower: -1, upper: 1, seed: 1)
        return { group!.allReduce(&gradients) }
      })
    var step = BenchRow(
      name: "resnet18_step_b32", shape: "batch 32x3x224x224", threads: threads, flops: nil
    ) {
      trainingStep(
        name: "", model: ModelName.resnet18.build(), input: [32, 3, 224, 224], threads: threads
      ).prepare()
    }
    step.runsOnlyWhenNamed = true
    rows.append(step)
    return rows
  }

  static let notUnderMPI = "skipped: run under mpirun -np 2 or more"
}
