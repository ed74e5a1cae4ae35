import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

@Suite struct DataCIFAR10Tests {
  typealias Support = DataTestSupport

  /// A record whose red, green and blue planes are filled with `red`,
  /// `green` and `blue`, except pixel (row 1, column 2) of each plane,
  /// which holds 200, 201 and 202.
  func record(label: UInt8, red: UInt8, green: UInt8, blue: UInt8) -> [UInt8] {
    var planes = [red, green, blue].flatMap { [UInt8](repeating: $0, count: 1024) }
    for channel in 0..<3 { planes[channel * 1024 + 1 * 32 + 2] = 200 + UInt8(channel) }
    return [label] + planes
  }

  @Test func decodesPlanesAndLabels() throws {
    let bytes =
      record(label: 3, red: 10, green: 20, blue: 30)
      + record(label: 9, red: 255, green: 0, blue: 128)
    let dataset = try CIFAR10.decode(Data(bytes))
    #expect(dataset.images.shape == [2, 3, 32, 32])
    #expect(dataset.labels == [3, 9])
    #expect(dataset.images[0, 0, 0, 0] == Float(10) / 255)
    #expect(dataset.images[0, 1, 31, 31] == Float(20) / 255)
    #expect(dataset.images[0, 2, 5, 7] == Float(30) / 255)
    #expect(dataset.images[0, 0, 1, 2] == Float(200) / 255)
    #expect(dataset.images[0, 2, 1, 2] == Float(202) / 255)
    #expect(dataset.images[1, 0, 0, 0] == 1)
    #expect(dataset.images[1, 1, 0, 0] == 0)
    #expect(dataset.images[1, 2, 0, 0] == Float(128) / 255)
    #expect(CIFAR10.classNames[dataset.labels[0]] == "cat")
  }

  @Test func loadsAndConcatenatesFiles() throws {
    let directory = try Support.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let first = directory.appendingPathComponent("data_batch_1.bin")
    let second = directory.appendingPathComponent("data_batch_2.bin")
    try Data(record(label: 1, red: 1, green: 2, blue: 3)).write(to: first)
    try Data(
      record(label: 2, red: 4, green: 5, blue: 6) + record(label: 0, red: 7, green: 8, blue: 9)
    )
    .write(to: second)
    let dataset = try CIFAR10.load(files: [first, second])
    #expect(dataset.labels == [1, 2, 0])
    #expect(dataset.images.shape == [3, 3, 32, 32])
    #expect((0..<3).map { dataset.images[$0, 2, 0, 0] } == [3, 6, 9].map { Float($0) / 255 })
  }

  @Test func truncatedRecord() {
    let bytes = record(label: 1, red: 0, green: 0, blue: 0) + [4] + [UInt8](repeating: 0, count: 99)
    #expect(
      Support.dataError { _ = try CIFAR10.decode(Data(bytes), source: "batch.bin") }
        == "batch.bin: ends inside record 1: 100 of its 3073 bytes are present (file is 3173 bytes)"
    )
  }

  @Test func badLabel() {
    let bytes =
      record(label: 1, red: 0, green: 0, blue: 0) + record(label: 10, red: 0, green: 0, blue: 0)
    #expect(
      Support.dataError { _ = try CIFAR10.decode(Data(bytes), source: "batch.bin") }
        == "batch.bin: record 1 has label 10, expected 0...9")
  }

  @Test func emptyAndMissingFiles() throws {
    #expect(
      Support.dataError { _ = try CIFAR10.decode(Data(), source: "batch.bin") }
        == "batch.bin: holds no records, expected 3073-byte records")
    #expect(
      Support.dataError { _ = try CIFAR10.load(files: []) }
        == "CIFAR10.load(files:): expected at least one batch file, found none")
    let directory = try Support.scratchDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    #expect(
      Support.dataError { _ = try CIFAR10.load(directory: directory, split: .test) }
        == "\(directory.path)/test_batch.bin: file not found")
    #expect(
      Support.dataError { _ = try CIFAR10.load(files: [directory]) }
        == "\(directory.path): is a folder, not a regular file")
  }
}
