// PDUError.swift: the one error type of the SMS PDU codec (style point 6 and 8).
//
// ATModemError (the module error of the AT engine) wraps this one; the codec keeps its own type so that the codec
// files build alone (the fuzzing harness compiles them without the rest of the module).

/// An SMS PDU that could not be decoded or a message that could not be encoded.
///
/// Every decoding error names the TP field (3GPP TS 23.040 §9.2) that was being read and the octet offset into the
/// PDU (counted from the first octet of the string given to the decoder, the SCA length octet when present), so a
/// log line reads e.g. `truncated at TP-UDL (offset 23)`.
public struct PDUError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure. Extensible: switch over it with a `default` branch.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: Hashable, Sendable {
            case notHex, truncated, malformed, unsupported, invalidInput
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The PDU string holds a character that is not a hexadecimal digit, or an odd number of digits.
        public static let notHex = Code(.notHex)
        /// The PDU ends before a field that its earlier fields announce (incomplete input).
        public static let truncated = Code(.truncated)
        /// A field holds a value the specification does not allow (malformed input).
        public static let malformed = Code(.malformed)
        /// A well-formed feature this codec does not implement (e.g. TP-MTI 3, reserved).
        public static let unsupported = Code(.unsupported)
        /// An encoder argument is unusable (e.g. a destination that is not a phone number).
        public static let invalidInput = Code(.invalidInput)

        public var description: String {
            switch kind {
            case .notHex: "notHex"
            case .truncated: "truncated"
            case .malformed: "malformed"
            case .unsupported: "unsupported"
            case .invalidInput: "invalidInput"
            }
        }
    }

    /// What went wrong.
    public var code: Code
    /// The TP field (or other part of the PDU) being read, e.g. `TP-UDL`; `nil` for whole-input problems.
    public var field: String?
    /// Octet offset into the decoded string where the failing field starts; `nil` when not applicable.
    public var offset: Int?
    /// A human sentence naming the problem and what to do about it.
    public var message: String

    /// Creates an error; prefer the static factories.
    public init(code: Code, field: String?, offset: Int?, message: String) {
        self.code = code
        self.field = field
        self.offset = offset
        self.message = message
    }

    /// The message, prefixed so a journal line says where it comes from; it already names field and offset.
    public var description: String { "SMS PDU: \(message)" }

    // MARK: - Factories

    /// The input ends inside `field`.
    static func truncated(_ field: String, offset: Int, needed: Int, available: Int) -> PDUError {
        PDUError(
            code: .truncated, field: field, offset: offset,
            message: "truncated at \(field) (offset \(offset)): needs \(needed) octet(s), \(available) left; "
                + "the PDU is cut short or corrupt - pass the whole PDU line (and hasSMSC: false only for a bare TPDU)"
        )
    }

    /// `field` holds a value that the specification forbids.
    static func malformed(_ field: String, offset: Int?, _ detail: String) -> PDUError {
        PDUError(
            code: .malformed, field: field, offset: offset,
            message: "malformed \(field)\(offset.map { " (offset \($0))" } ?? ""): \(detail)"
        )
    }

    /// An encoder argument is unusable.
    static func invalidInput(_ field: String, _ detail: String) -> PDUError {
        PDUError(code: .invalidInput, field: field, offset: nil, message: "\(field): \(detail)")
    }
}
