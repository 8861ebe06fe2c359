// SMSSummaryTests.swift: the JSON of `modem sms list --json` (contract.md) built from stored PDUs.

@testable import ATModem
import Foundation
import Testing

@Suite("sms list summary")
struct SMSSummaryTests {
    static func json(_ summaries: [SMSSummary]) throws -> [[String: Any]] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(summaries)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    }

    @Test("multipart joined, 8-bit as hex, status report and undecodable PDU, in index order")
    func listShape() throws {
        let stamp = try SMSTimestamp(
            year: 2026, month: 11, day: 21, hour: 23, minute: 50, second: 0, utcOffsetMinutes: 60)
        let long = String(repeating: "Lorem ipsum ", count: 20)
        let parts = try SMSEncoder.deliverPDUs(from: "+46701234567", text: long, timestamp: stamp, concatReference: 5)
        let wap = try #require(SMSCorpus.all.first { $0.expect["data_hex"] != nil && $0.expect["concat"] == .null })
        let report = try #require(SMSCorpus.wellFormed.first { $0.expect["type"] == .string("status-report") && $0.hasSMSC && $0.quirk != true })
        let stored: [(index: Int, pdu: String)] = [
            (index: 4, pdu: parts[1]), (index: 3, pdu: parts[0]), (index: 7, pdu: "0011ZZ"),
            (index: 9, pdu: wap.pdu), (index: 11, pdu: report.pdu),
        ]
        let list = try Self.json(SMSSummary.list(stored))
        #expect(list.count == 4)
        #expect(list[0]["indexes"] as? [Int] == [3, 4])
        #expect(list[0]["sender"] as? String == "+46701234567")
        #expect(list[0]["text"] as? String == long)
        #expect(list[0]["timestamp"] as? String == "2026-11-21T23:50:00+01:00")
        #expect(list[0]["encoding"] as? String == "gsm7")
        #expect(list[0]["parts"] as? Int == 2)
        #expect(list[0]["complete"] as? Bool == true)
        #expect(Set(list[0].keys) == ["indexes", "sender", "text", "timestamp", "encoding", "parts", "complete"])
        #expect(list[1]["indexes"] as? [Int] == [7])
        #expect((list[1]["error"] as? String)?.contains("hex") == true)
        #expect(list[1]["pdu"] as? String == "0011ZZ")
        #expect(list[2]["encoding"] as? String == "8bit")
        #expect(list[2]["data"] as? String == wap.expect["data_hex"]?.string)
        #expect(list[2]["text"] == nil)
        #expect(list[3]["status"] as? Int == report.expect["status"]?.int)
    }

    @Test("an incomplete group is listed as incomplete")
    func incomplete() throws {
        let group = try #require(CorpusGroup.all.first { $0.parts[0].groupComplete == false })
        let list = SMSSummary.list(group.parts.enumerated().map { (index: $0.offset, pdu: $0.element.pdu) })
        #expect(list.count == 1)
        #expect(list.first?.complete == false)
        #expect(list.first?.parts ?? 0 > group.parts.count)
    }
}
