// SMSReassemblerTests.swift: joining concatenated messages (corpus groups and the reassembler's rules).

@testable import ATModem
import Testing

/// A corpus group, named for the test list.
struct CorpusGroup: Hashable, Sendable, CustomTestStringConvertible {
    var name: String
    var parts: [PDUVector]
    var testDescription: String { name }

    static var all: [CorpusGroup] {
        SMSCorpus.groups.map { CorpusGroup(name: $0.key, parts: $0.value) }.sorted { $0.name < $1.name }
    }
}

@Suite("SMS reassembly")
struct SMSReassemblerTests {
    static func fragments(_ group: CorpusGroup) throws -> [SMSReassembler.Fragment] {
        try group.parts.enumerated().map { index, vector in
            let decoded = try PDUDecoder.decode(hex: vector.pdu, hasSMSC: vector.hasSMSC)
            return try #require(SMSReassembler.Fragment(decoded, index: index))
        }
    }

    @Test("the corpus has its 16 groups")
    func groupCount() {
        #expect(CorpusGroup.all.count == 16)
        #expect(CorpusGroup.all.filter { $0.parts.first?.groupComplete == true }.count == 12)
    }

    @Test("a corpus group joins in any order (complete) or keeps waiting (incomplete)", arguments: CorpusGroup.all)
    func corpusGroup(_ group: CorpusGroup) throws {
        let fragments = try Self.fragments(group)
        let complete = group.parts[0].groupComplete == true
        // Reverse order, then rotated, so that the first part never comes first when there are several.
        for order in [Array(fragments.reversed()), Array(fragments.dropFirst() + fragments.prefix(1))] {
            var reassembler = SMSReassembler(timeout: .seconds(60))
            var out: [SMSMessage] = []
            for (step, fragment) in order.enumerated() {
                out += reassembler.add(fragment, now: .seconds(step))
            }
            if complete {
                #expect(out.count == 1)
                let message = try #require(out.first)
                #expect(message.isComplete)
                if let text = group.parts[0].groupText { #expect(message.text == text) }
                if let hex = group.parts[0].groupDataHex { #expect(PDUHex.encode(message.data) == hex) }
                #expect(reassembler.pendingGroupCount == 0)
            } else {
                #expect(out.isEmpty, "an incomplete group must not be handed on before the timeout")
                #expect(reassembler.pendingGroupCount == 1)
                #expect(reassembler.expire(now: .seconds(30)).isEmpty)
                let partial = reassembler.expire(now: .seconds(61))
                #expect(partial.count == 1)
                #expect(partial.first?.isComplete == false)
                #expect(partial.first?.partsPresent == fragments.count)
            }
            // Never twice: the same parts again are dropped.
            for fragment in order { #expect(reassembler.add(fragment, now: .seconds(100)).isEmpty) }
            #expect(reassembler.expire(now: .seconds(1000)).isEmpty)
        }
        // The one-shot join (used by `sms list`) agrees.
        let joined = SMSReassembler.join(fragments)
        #expect(joined.count == 1)
        #expect(joined.first?.isComplete == complete)
        #expect(joined.first?.indexes.sorted() == Array(0..<fragments.count))
    }

    static let stamp = try! SMSTimestamp(
        year: 2026, month: 11, day: 21, hour: 23, minute: 50, second: 0, utcOffsetMinutes: 60)

    static func parts(_ text: String, from sender: String = "+46701234567", reference: UInt8) throws
        -> [SMSReassembler.Fragment]
    {
        try SMSEncoder.deliverPDUs(from: sender, text: text, timestamp: stamp, concatReference: reference)
            .enumerated().map { index, hex in
                try #require(SMSReassembler.Fragment(PDUDecoder.decode(hex: hex), index: index))
            }
    }

    @Test("parts of different senders with the same reference stay apart")
    func keyedBySender() throws {
        let a = try Self.parts(String(repeating: "a", count: 200), from: "+111", reference: 7)
        let b = try Self.parts(String(repeating: "b", count: 200), from: "+222", reference: 7)
        var reassembler = SMSReassembler()
        var out: [SMSMessage] = []
        for fragment in [a[0], b[1], b[0], a[1]] { out += reassembler.add(fragment, now: .zero) }
        #expect(out.map(\.sender) == ["+222", "+111"])
        #expect(out.map(\.text) == [String(repeating: "b", count: 200), String(repeating: "a", count: 200)])
    }

    @Test("a reused reference with new content is a new message; a re-delivered part is not")
    func referenceReuse() throws {
        let first = try Self.parts(String(repeating: "x", count: 200), reference: 9)
        let second = try Self.parts(String(repeating: "y", count: 200), reference: 9)
        var reassembler = SMSReassembler()
        #expect(reassembler.add(first[0], now: .seconds(0)).isEmpty)
        #expect(reassembler.add(first[1], now: .seconds(1)).count == 1)
        #expect(reassembler.add(first[1], now: .seconds(2)).isEmpty)  // re-delivered duplicate
        #expect(reassembler.add(second[1], now: .seconds(3)).isEmpty)
        let again = reassembler.add(second[0], now: .seconds(4))
        #expect(again.first?.text == String(repeating: "y", count: 200))
    }

    @Test("a single-part duplicate is handed on once; memory is bounded")
    func singlesAndBounds() throws {
        var reassembler = SMSReassembler(maximumPendingGroups: 2, maximumRemembered: 3)
        let single = try Self.parts("hello", reference: 1)[0]
        #expect(reassembler.add(single, now: .zero).count == 1)
        #expect(reassembler.add(single, now: .seconds(1)).isEmpty)
        // Three waiting groups with a bound of two: the oldest is handed on, partial.
        var evicted: [SMSMessage] = []
        for reference: UInt8 in 10...12 {
            evicted += reassembler.add(try Self.parts(String(repeating: "z", count: 300), reference: reference)[0], now: .zero)
        }
        #expect(evicted.count == 1)
        #expect(evicted.first?.isComplete == false)
        #expect(reassembler.pendingGroupCount == 2)
    }

    @Test("an escape pair and a surrogate pair split across parts by another encoder still join")
    func splitPairsFromOtherEncoders() throws {
        // Build parts by hand, each ending in the middle of a pair, as some phones do.
        func deliver(_ payload: [UInt8], encoding: SMSEncoding, sequence: Int) throws -> SMSReassembler.Fragment {
            var writer = PDUWriter()
            writer.writeOctets([0x00, 0x44])
            PDUAddress.writeTPAddress(try PDUAddress.encode("+1", field: "s", allowAlphanumeric: false), to: &writer)
            writer.writeOctets([0x00, encoding == .gsm7 ? 0x00 : 0x08])
            Self.stamp.write(to: &writer)
            UserData.write(
                header: .concatenating(reference: 3, total: 2, sequence: sequence), encoding: encoding,
                payload: payload, to: &writer)
            return try #require(SMSReassembler.Fragment(PDUDecoder.decode(bytes: writer.bytes), index: sequence))
        }
        var reassembler = SMSReassembler()
        _ = reassembler.add(try deliver([0x41, 0x1B], encoding: .gsm7, sequence: 1), now: .zero)
        let gsm = reassembler.add(try deliver([0x65, 0x42], encoding: .gsm7, sequence: 2), now: .zero)
        #expect(gsm.first?.text == "A€B")
        let emoji = UCS2.encode("a😀b")  // 0061 D83D DE00 0062
        var second = SMSReassembler()
        _ = second.add(try deliver(Array(emoji[0..<4]), encoding: .ucs2, sequence: 1), now: .zero)
        let ucs = second.add(try deliver(Array(emoji[4...]), encoding: .ucs2, sequence: 2), now: .zero)
        #expect(ucs.first?.text == "a😀b")
    }
}
