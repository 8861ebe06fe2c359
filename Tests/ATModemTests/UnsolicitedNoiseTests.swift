import ATModem
import ModemEmulator
import Testing

/// A Huawei stick repeats `^RSSI` and `^BOOT` every few seconds; an idle daemon must not wake up for each.
@Suite("Modem.unsolicited passes on no Huawei noise", .serialized, .timeLimit(.minutes(2)))
struct UnsolicitedNoiseTests {
    @Test("^BOOT heartbeats never, a repeated ^RSSI once, a changed ^RSSI again; other events as they come")
    func noiseFiltered() async throws {
        let emulator = try ModemEmulator()
        defer { emulator.stop() }
        let modem = try await openModem(emulator)
        try await modem.initialize()
        let lines = [
            "^RSSI:20", "^BOOT:37478870,0,0,0,77", "^RSSI:20", "^RSSI:20", "^BOOT:37478870,0,0,0,77", "+CMTI: \"SM\",3",
            "^RSSI:12", "^RSSI:12", "^RSSI:20", "RING",
        ]
        for line in lines { emulator.emitUnsolicited(line) }
        // RING comes last: when it arrives, every line before it has been through the filter.
        let events = await withTaskGroup(of: [UnsolicitedEvent].self) { group in
            group.addTask {
                var seen: [UnsolicitedEvent] = []
                for await event in modem.unsolicited {
                    seen.append(event)
                    if event == .ring { break }
                }
                return seen
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(10))
                return []
            }
            let first = await group.next() ?? []
            group.cancelAll()
            return first
        }
        await modem.close()
        #expect(
            events == [
                .signal(SignalQuality(rssi: 20)), .newMessage(storage: "SM", index: 3), .signal(SignalQuality(rssi: 12)),
                .signal(SignalQuality(rssi: 20)), .ring,
            ])
    }
}
