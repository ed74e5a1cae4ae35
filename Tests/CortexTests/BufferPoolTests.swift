import Testing

@testable import CortexCore
@testable import CortexData
@testable import CortexNN
@testable import CortexTraining

@Suite struct BufferPoolTests {
  @Test func freedLargeBuffersAreReusedForTheSameSize() {
    let pool = BufferPool()
    let bytes = 64 * 1024
    let first = pool.allocate(bytes: bytes)
    pool.release(first, bytes: bytes)
    #expect(pool.cachedBytes == bytes)
    let second = pool.allocate(bytes: bytes)
    #expect(second == first)
    #expect(pool.cachedBytes == 0)
    #expect(Int(bitPattern: second) % 64 == 0)
    pool.release(second, bytes: bytes)
  }

  @Test func smallBuffersAreNotCached() {
    let pool = BufferPool()
    let pointer = pool.allocate(bytes: 256)
    pool.release(pointer, bytes: 256)
    #expect(pool.cachedBytes == 0)
  }

  @Test func tensorsSurviveReuseOfTheirBuffers() {
    for round in 0..<50 {
      let a = Tensor<Float>(repeating: Float(round), shape: [64, 64])
      let b = a + 1
      #expect(b.scalars.allSatisfy { $0 == Float(round) + 1 })
    }
  }
}
