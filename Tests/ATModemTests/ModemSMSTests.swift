import ATModem
import Foundation
import ModemEmulator
import Testing

/// SMS through the whole stack: the project's encoder/decoder, the Modem, a real pty, the emulator.
@Suite("SMS through the emulator", .serialized, .timeLimit(.minutes(3)))
struct ModemSMSTests {
    static let stamp = try! SMSTimestamp(year: 2026, month: 11, day: 21, hour: 23, minute: 50, second: 0,
                                         utcOffsetMinutes: 60)

    @Test("sends a short GSM 7-bit SMS: one part, decoded by the emulator")
    func sendShort() async throws {
        let emulator = try ModemEmulator()
        defer { emulator.stop() }
        let modem = try await openModem(emulator)
        try await modem.initialize()
        let refs = try await modem.sendSMS(to: "+46701234567", text: "UP until 23:50 [ok]")
        await modem.close()
        #expect(refs.count == 1)
        let out = emulator.outbox
        #expect(out.count == 1)
        #expect(out.first?.recipient == "+46701234567")
        #expect(out.first?.text == "UP until 23:50 [ok]")
        #expect(out.first?.reference == refs.first)
    }

    @Test("sends to a modem whose prompt is a bare > without the space")
    func barePrompt() async throws {
        var configuration = ModemEmulator.Configuration()
        configuration.barePrompt = true
        let emulator = try ModemEmulator(configuration: configuration)
        defer { emulator.stop() }
        let modem = try await openModem(emulator)
        try await modem.initialize()
        try await modem.sendSMS(to: "+46701234567", text: String(repeating: "y", count: 300))
        await modem.close()
        #expect(emulator.outbox.count == 2)
    }

    @Test("sends long and non-Latin texts as concatenated parts, with echo and noise on",
          arguments: [
              String(repeating: "0123456789", count: 40),
              String(repeating: "Grüße aus Göteborg – ", count: 6) + "😀",
              String(repeating: "😀", count: 34) + "x" + String(repeating: "😀", count: 3),
          ])
    func sendMultipart(_ text: String) async throws {
        let emulator = try ModemEmulator(configuration: .init(noise: .insideResponses, noiseInterval: .milliseconds(40)))
        defer { emulator.stop() }
        let modem = try await openModem(emulator)
        try await modem.initialize()
        _ = try await modem.command("ATE1")
        let refs = try await modem.sendSMS(to: "+46701234567", text: text)
        await modem.close()
        let out = emulator.outbox
        #expect(out.count == refs.count)
        #expect(out.count > 1)
        let joined = SMSSummary.list(out.enumerated().map { ($0.offset, $0.element.pdu ?? "") })
        #expect(joined.count == 1)
        #expect(joined.first?.text == text)
        #expect(joined.first?.recipient == "+46701234567")
        #expect(joined.first?.complete == true)
    }

    @Test("a multipart delivery is listed as one joined message (the shape of `sms list --json`)")
    func deliverMultipartAndList() async throws {
        let emulator = try ModemEmulator(configuration: .init(noise: .insideResponses))
        defer { emulator.stop() }
        let text = String(repeating: "Activation request, code 123456. ", count: 8)
        let indexes = try emulator.deliver(from: "+46701234567", text: text, timestamp: Self.stamp)
        emulator.deliver(pdu: helloPDU)
        let modem = try await openModem(emulator)
        try await modem.initialize()
        let summaries = SMSListing.summaries(try await modem.listMessages())
        await modem.close()
        #expect(summaries.count == 2)
        let long = try #require(summaries.first)
        #expect(long.indexes == indexes.compactMap { $0 })
        #expect(long.text == text)
        #expect(long.sender == "+46701234567")
        #expect(long.timestamp == "2026-11-21T23:50:00+01:00")
        #expect(long.parts == indexes.count)
        #expect(long.complete == true)
        #expect(summaries.last?.text == "Hello")
    }

    @Test("an undecodable stored PDU is listed as an error with its hex, the others still decode")
    func undecodable() async throws {
        let emulator = try ModemEmulator()
        defer { emulator.stop() }
        emulator.deliver(pdu: helloPDU)
        emulator.deliver(pdu: "0791FFFF")
        let modem = try await openModem(emulator)
        try await modem.initialize()
        let summaries = SMSListing.summaries(try await modem.listMessages())
        await modem.close()
        #expect(summaries.count == 2)
        #expect(summaries[0].text == "Hello")
        #expect(summaries[1].indexes == [1])
        #expect(summaries[1].pdu == "0791FFFF")
        #expect(summaries[1].error?.isEmpty == false)
    }

    @Test("text mode: lists and sends when the modem refuses PDU mode")
    func textMode() async throws {
        let emulator = try ModemEmulator(configuration: .init(textModeOnly: true))
        defer { emulator.stop() }
        try emulator.deliver(from: "+46701234567", text: "STATUS 123456", timestamp: Self.stamp)
        let modem = try await openModem(emulator)
        #expect(try await modem.initialize().mode == .text)
        let list = try await modem.listMessages()
        let summaries = SMSListing.summaries(list)
        #expect(summaries.count == 1)
        #expect(summaries.first?.sender == "+46701234567")
        #expect(summaries.first?.text == "STATUS 123456")
        #expect(summaries.first?.timestamp == "2026-11-21T23:50:00+01:00")
        try await modem.sendSMS(to: "+46701234567", text: "idle, signal -73 dBm")
        do {
            try await modem.sendSMS(to: "+46701234567", text: "Grüße 😀")
            Issue.record("text mode sent UCS-2")
        } catch let e as ATModemError {
            #expect(e.code == .unsupported)
        }
        await modem.close()
        #expect(emulator.outbox.map(\.text) == ["idle, signal -73 dBm"])
        #expect(emulator.outbox.first?.recipient == "+46701234567")
    }

    @Test("every well-formed corpus PDU survives the trip through the pty and the listing unchanged; complete groups join")
    func corpusThroughTheModem() async throws {
        let vectors = SMSCorpus.wellFormed.filter { $0.hasSMSC && $0.pdu.count % 2 == 0 }
        try #require(vectors.count > 100)
        let emulator = try ModemEmulator(configuration: .init(noise: .insideResponses))
        defer { emulator.stop() }
        let modem = try await openModem(emulator)
        try await modem.initialize()
        // Complete groups first, each in one listing, then the rest in batches of 25.
        let groups = SMSCorpus.groups.filter { $0.value.first?.groupComplete == true && $0.value.allSatisfy(\.hasSMSC) }
        var batches: [[PDUVector]] = groups.values.map { $0 }
        let grouped = Set(groups.values.flatMap { $0.map(\.id) })
        let rest = vectors.filter { !grouped.contains($0.id) }
        batches += stride(from: 0, to: rest.count, by: 25).map { Array(rest[$0..<min(rest.count, $0 + 25)]) }
        var checked = 0
        for batch in batches {
            for v in batch { #expect(emulator.deliver(pdu: v.pdu) != nil) }
            let listed = try await modem.listMessages()
            #expect(listed.map(\.pdu) == batch.map { $0.pdu.uppercased() })
            checked += listed.count
            if let text = batch.first?.groupText, batch.first?.group != nil {
                let summaries = SMSListing.summaries(listed)
                #expect(summaries.count == 1, "\(batch.first!.group!)")
                #expect(summaries.first?.text == text, "\(batch.first!.group!)")
            }
            _ = try await modem.command("AT+CMGD=0,4")
        }
        await modem.close()
        #expect(checked >= vectors.count)
    }
}
