/// The last `capacity` bytes the console printed, replayed to a client when it attaches.
///
/// A fixed ring: appending never allocates once the ring is full, and the oldest bytes fall off.
public struct Scrollback: Sendable {
    private var storage: [UInt8]
    private var head = 0  // index of the oldest byte
    private var used = 0
    /// The most bytes kept.
    public let capacity: Int

    /// Creates an empty ring.
    /// - Parameter capacity: the most bytes kept (0 keeps nothing).
    public init(capacity: Int) {
        precondition(capacity >= 0)
        self.capacity = capacity
        self.storage = []
        storage.reserveCapacity(capacity)
    }

    /// How many bytes are kept now.
    public var count: Int { used }

    /// Adds bytes the console printed.
    public mutating func append(_ bytes: some Collection<UInt8>) {
        guard capacity > 0, !bytes.isEmpty else { return }
        var slice = bytes[...]
        if slice.count >= capacity {
            slice = slice.dropFirst(slice.count - capacity)
            storage = Array(slice)
            head = 0
            used = capacity
            return
        }
        if storage.count < capacity {
            // Still filling: the ring has not wrapped yet, so head is 0.
            let room = capacity - storage.count
            let first = slice.prefix(room)
            storage.append(contentsOf: first)
            used = storage.count
            slice = slice.dropFirst(first.count)
            if slice.isEmpty { return }
        }
        // Full: overwrite the oldest bytes, starting at head.
        for byte in slice {
            storage[head] = byte
            head += 1
            if head == capacity { head = 0 }
        }
        used = capacity
    }

    /// The newest `limit` bytes (all of them when fewer are kept), oldest first.
    public func suffix(_ limit: Int) -> [UInt8] {
        let n = min(limit, used)
        guard n > 0 else { return [] }
        if storage.count < capacity {
            return Array(storage[(storage.count - n)...])
        }
        // Full ring: logical order is storage[head...] + storage[..<head].
        let start = (head + capacity - n) % capacity
        if start + n <= capacity {
            return Array(storage[start..<(start + n)])
        }
        return Array(storage[start...]) + Array(storage[..<((start + n) - capacity)])
    }
}
