// SMSCorpus.swift: loads Fixtures/corpus/sms-pdu.json (see Fixtures/corpus/CORPUS.md) for the PDU tests.

import Foundation
import Testing

/// A JSON value of the corpus (`expect` objects hold nested values).
enum JSONValue: Codable, Hashable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let v): try container.encode(v)
        case .number(let v): try container.encode(v)
        case .string(let v): try container.encode(v)
        case .array(let v): try container.encode(v)
        case .object(let v): try container.encode(v)
        }
    }

    var string: String? { if case .string(let v) = self { v } else { nil } }
    var int: Int? { if case .number(let v) = self { Int(v) } else { nil } }
    var bool: Bool? { if case .bool(let v) = self { v } else { nil } }
    var object: [String: JSONValue]? { if case .object(let v) = self { v } else { nil } }
}

/// One vector of `sms-pdu.json`.
struct PDUVector: Decodable, Hashable, Sendable, CustomTestStringConvertible {
    var id: String
    var pdu: String
    var hasSMSC: Bool
    var expect: [String: JSONValue]
    var malformed: Bool?
    var strictMayReject: Bool?
    var quirk: Bool?
    var group: String?
    var groupComplete: Bool?
    var groupText: String?
    var groupDataHex: String?

    enum CodingKeys: String, CodingKey {
        case id, pdu, expect, malformed, quirk, group
        case hasSMSC = "has_smsc"
        case strictMayReject = "strict_may_reject"
        case groupComplete = "group_complete"
        case groupText = "group_text"
        case groupDataHex = "group_data_hex"
    }

    var testDescription: String { id }
}

enum SMSCorpus {
    /// The corpus directory, found next to this file.
    static let directory: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/corpus")

    /// Every vector, in file order.
    static let all: [PDUVector] = {
        do {
            let data = try Data(contentsOf: directory.appendingPathComponent("sms-pdu.json"))
            return try JSONDecoder().decode([PDUVector].self, from: data)
        } catch {
            // Surfaced by `corpusLoads`; an empty list keeps the parameterised tests from crashing.
            return []
        }
    }()

    static var wellFormed: [PDUVector] { all.filter { $0.malformed != true } }
    static var mustFail: [PDUVector] { all.filter { $0.malformed == true && $0.expect["error"]?.bool == true } }
    static var lenient: [PDUVector] { all.filter { $0.malformed == true && $0.expect["error"]?.bool == false } }

    /// Groups of concatenated parts, by group name.
    static var groups: [String: [PDUVector]] {
        Dictionary(grouping: all.filter { $0.group != nil }, by: { $0.group! })
    }
}
