import Foundation
import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

/// Seeded mutation fuzzing of the readers: every input must either parse
/// or throw a `DataError`; a crash would end the test run. Each reader
/// (IDX images, IDX labels, CIFAR-10, safetensors) sees 10,000 inputs:
/// truncations, flipped and replaced bytes, extreme 32-bit words in the
/// header (huge sizes, sizes with the sign bit set), inserted and deleted
/// bytes, and for safetensors, lies in the JSON header (negative, huge and
/// non-integer numbers, wrong names) with right and wrong length prefixes.
@Suite struct DataFuzzTests {
  typealias Support = DataTestSupport
  static let iterations = 10_000

  /// Values that break naive size arithmetic.
  static let extremeWords: [UInt32] = [
    0, 1, 2, 3, 0x7F, 0xFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF_FFFE, 0x0001_0000,
  ]

  /// One random mutation of `bytes`: truncation, flipped or replaced
  /// bytes, an extreme 32-bit word at a random or header position,
  /// inserted or deleted bytes.
  func mutate(_ bytes: [UInt8], headerWords: Int, using generator: inout SeededGenerator)
    -> [UInt8]
  {
    var result = bytes
    func index(_ count: Int) -> Int { Int(generator.next() % UInt64(Swift.max(count, 1))) }
    switch generator.next() % 7 {
    case 0:
      result = Array(result.prefix(index(result.count + 1)))
    case 1:
      for _ in 0...index(4) where !result.isEmpty {
        result[index(result.count)] ^= UInt8(1 << index(8))
      }
    case 2:
      for _ in 0...index(8) where !result.isEmpty {
        result[index(result.count)] = UInt8(truncatingIfNeeded: generator.next())
      }
    case 3, 4:
      let word = Self.extremeWords[index(Self.extremeWords.count)]
      let offset = generator.next() % 2 == 0 ? 4 * index(headerWords) : index(result.count)
      for (i, byte) in Support.bigEndian(word).enumerated() where offset + i < result.count {
        result[offset + i] = byte
      }
    case 5:
      let extra = (0...index(16)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
      result.insert(contentsOf: extra, at: index(result.count + 1))
    default:
      let start = index(result.count + 1)
      result.removeSubrange(start..<Swift.min(result.count, start + 1 + index(16)))
    }
    return result
  }

  /// A place in a header to overwrite with a lie.
  struct Target: Hashable {
    var range: Range<Int>
    var isNumber: Bool
  }

  /// The numbers in JSON text `bytes`: runs of ASCII digits not preceded
  /// by a letter, each with its minus sign.
  func numberRanges(in bytes: [UInt8]) -> [Range<Int>] {
    var result: [Range<Int>] = []
    var start: Int?
    func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }
    for (index, byte) in bytes.enumerated() {
      let inWord = index > 0 && (bytes[index - 1] >= UInt8(ascii: "A") || isDigit(bytes[index - 1]))
      if isDigit(byte), start == nil, !inWord {
        start = index > 0 && bytes[index - 1] == UInt8(ascii: "-") ? index - 1 : index
      } else if !isDigit(byte), let begin = start {
        result.append(begin..<index)
        start = nil
      }
    }
    if let begin = start { result.append(begin..<bytes.count) }
    return result
  }

  /// Where `needle` occurs in `bytes`.
  func ranges(of needle: [UInt8], in bytes: [UInt8]) -> [Range<Int>] {
    guard bytes.count >= needle.count else { return [] }
    return (0...bytes.count - needle.count).filter { start in
      bytes[start..<start + needle.count].elementsEqual(needle)
    }.map { $0..<$0 + needle.count }
  }

  /// Runs `decode` on each input; counts successes, fails on any error
  /// that is not a `DataError`.
  func run(_ inputs: [[UInt8]], _ decode: (Data) throws -> Void) -> (parsed: Int, rejected: Int) {
    var parsed = 0
    var rejected = 0
    for input in inputs {
      do {
        try decode(Data(input))
        parsed += 1
      } catch is DataError {
        rejected += 1
      } catch {
        Issue.record("unexpected error type: \(error)")
      }
    }
    return (parsed, rejected)
  }

  @Test func idxReader() {
    var generator = SeededGenerator(seed: 2024)
    let pixels = (0..<2 * 3 * 4).map { UInt8($0 * 9) }
    let images = Support.idx(magic: 0x803, sizes: [2, 3, 4], payload: pixels)
    let labels = Support.idx(magic: 0x801, sizes: [5], payload: [0, 9, 3, 4, 1])
    var imageInputs: [[UInt8]] = []
    var labelInputs: [[UInt8]] = []
    for i in 0..<DataFuzzTests.iterations {
      // Alternate: mutate the raw file, gzip a mutated raw file (a valid
      // stream that lies), or mutate the gzip stream itself.
      let rawImages = mutate(images, headerWords: 4, using: &generator)
      let rawLabels = mutate(labels, headerWords: 2, using: &generator)
      switch i % 3 {
      case 0:
        imageInputs.append(rawImages)
        labelInputs.append(rawLabels)
      case 1:
        imageInputs.append(Support.gzip(rawImages))
        labelInputs.append(Support.gzip(rawLabels))
      default:
        imageInputs.append(mutate(Support.gzip(images), headerWords: 0, using: &generator))
        labelInputs.append(mutate(Support.gzip(labels), headerWords: 0, using: &generator))
      }
    }
    let imageOutcome = run(imageInputs) { data in
      let tensor = try MNIST.decodeImages(data)
      #expect(tensor.rank == 4 && tensor.shape[1] == 1)
      #expect(tensor.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    }
    let labelOutcome = run(labelInputs) { data in
      let decoded = try MNIST.decodeLabels(data)
      #expect(decoded.allSatisfy { (0...9).contains($0) })
    }
    #expect(imageOutcome.parsed + imageOutcome.rejected == DataFuzzTests.iterations)
    #expect(labelOutcome.parsed + labelOutcome.rejected == DataFuzzTests.iterations)
    #expect(imageOutcome.parsed > 0 && imageOutcome.rejected > 1000)
    #expect(labelOutcome.parsed > 0 && labelOutcome.rejected > 1000)
  }

  @Test func cifar10Reader() {
    var generator = SeededGenerator(seed: 10)
    var file = [UInt8](repeating: 0, count: CIFAR10.recordLength)
    for i in file.indices { file[i] = UInt8(truncatingIfNeeded: i &* 31) }
    file[0] = 7
    let inputs = (0..<DataFuzzTests.iterations).map { _ in
      mutate(file, headerWords: 1, using: &generator)
    }
    let outcome = run(inputs) { data in
      let dataset = try CIFAR10.decode(data)
      #expect(dataset.images.shape == [data.count / CIFAR10.recordLength, 3, 32, 32])
    }
    #expect(outcome.parsed + outcome.rejected == DataFuzzTests.iterations)
    #expect(outcome.parsed > 1000 && outcome.rejected > 1000)
  }

  @Test func safetensorsReader() throws {
    var generator = SeededGenerator(seed: 77)
    let valid = [UInt8](
      try Checkpoint.encode(
        [
          "conv1.weight": Tensor<Float>.randomNormal([2, 1, 3, 3], seed: 5),
          "conv1.bias": Tensor<Float>([0.5, -0.5]),
          "fc.weight": Tensor<Float>.zeros([0, 4]),
        ], metadata: ["format": "pt", "epoch": "1"]))
    let headerLength = Int(valid[0]) | Int(valid[1]) << 8
    let header = Array(valid[8..<8 + headerLength])
    let data = Array(valid[(8 + headerLength)...])
    let lies = [
      "-1", "0", "1", "3", "4294967296", "9223372036854775807", "9223372036854775808",
      "-9223372036854775808", "1e3", "0.5", "\"2\"", "null", "[]", "{}",
    ].map { Array($0.utf8) }
    let tokens = [
      "F32", "F64", "I64", "F16", "BOOL", "shape", "data_offsets", "dtype", "__metadata__",
    ].map { Array($0.utf8) }

    let targets =
      numberRanges(in: header).map { Target(range: $0, isNumber: true) }
      + tokens.flatMap { ranges(of: $0, in: header) }.map { Target(range: $0, isNumber: false) }
    var inputs: [[UInt8]] = []
    for i in 0..<DataFuzzTests.iterations {
      switch i % 3 {
      case 0:
        // Byte-level mutations, length prefix included.
        inputs.append(mutate(valid, headerWords: 2, using: &generator))
      default:
        // Header lies: replace numbers and names in the JSON text, then
        // give a consistent or an inconsistent length prefix.
        var bytes = header
        let picks = (0...generator.next() % 3).map { _ in
          targets[Int(generator.next() % UInt64(targets.count))]
        }
        // Right to left, so that earlier ranges stay valid.
        for target in Set(picks).sorted(by: { $0.range.lowerBound > $1.range.lowerBound }) {
          let choices = target.isNumber ? lies : tokens
          bytes.replaceSubrange(
            target.range, with: choices[Int(generator.next() % UInt64(choices.count))])
        }
        var length = UInt64(bytes.count)
        if i % 3 == 2 {
          length =
            [0, 1, 7, UInt64(bytes.count) + 1, UInt64.max, 1 << 40][Int(generator.next() % 6)]
        }
        inputs.append(withUnsafeBytes(of: length.littleEndian) { Array($0) } + bytes + data)
      }
    }
    let outcome = run(inputs) { data in
      let tensors = try Checkpoint.decode(data)
      #expect(tensors.count <= 3)
    }
    #expect(outcome.parsed + outcome.rejected == DataFuzzTests.iterations)
    #expect(outcome.parsed > 0 && outcome.rejected > 1000)
  }
}
