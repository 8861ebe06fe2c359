import ATModem

/// One device event source (the udev monitor, or the rescans where no udev daemon runs) shared by the parts of the
/// daemon that follow devices (`modem.port`, `console.device`): one monitor thread and one rescan timer, however
/// many keys are watched. Every part gets every event, in order, starting with the first full device list.
struct DeviceEventFanOut: Sendable {
    /// One stream per part, in the order asked.
    let streams: [AsyncStream<DeviceEvent>]
    private let continuations: [AsyncStream<DeviceEvent>.Continuation]
    private let source: AsyncStream<DeviceEvent>

    /// - Parameters:
    ///   - source: the events.
    ///   - count: how many parts follow them.
    init(_ source: AsyncStream<DeviceEvent>, count: Int) {
        self.source = source
        var streams: [AsyncStream<DeviceEvent>] = []
        var continuations: [AsyncStream<DeviceEvent>.Continuation] = []
        for _ in 0..<count {
            let (stream, continuation) = AsyncStream.makeStream(of: DeviceEvent.self, bufferingPolicy: .bufferingNewest(256))
            streams.append(stream)
            continuations.append(continuation)
        }
        self.streams = streams
        self.continuations = continuations
    }

    /// Hands every event of the source to every stream until the source ends (or the task is cancelled), then
    /// finishes the streams.
    func run() async {
        for await event in source {
            for c in continuations { c.yield(event) }
        }
        for c in continuations { c.finish() }
    }
}

extension AgentConfiguration.Modem.Port {
    /// `"auto"` or a device match: followed through device events.
    var followsDevices: Bool {
        if case .path = self { return false }
        return true
    }
}
