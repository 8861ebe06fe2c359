// Meanings of the numeric error codes of +CME ERROR (3GPP TS 27.007 §9.2) and +CMS ERROR (3GPP TS 27.005 §3.2.5),
// with a fix for the ones an operator of a remote box meets.

/// `+CME ERROR: <err>` values of 3GPP TS 27.007 §9.2.1 and §9.2.2.
public enum CMEErrorTable {
    /// The meaning of a `+CME ERROR` code, or "unknown error n".
    public static func meaning(_ n: Int) -> String {
        switch n {
        case 0: return "phone failure"
        case 1: return "no connection to phone"
        case 2: return "phone-adaptor link reserved"
        case 3: return "operation not allowed"
        case 4: return "operation not supported"
        case 5: return "PH-SIM PIN required"
        case 6: return "PH-FSIM PIN required"
        case 7: return "PH-FSIM PUK required"
        case 10: return "SIM not inserted"
        case 11: return "SIM PIN required"
        case 12: return "SIM PUK required"
        case 13: return "SIM failure"
        case 14: return "SIM busy"
        case 15: return "SIM wrong"
        case 16: return "incorrect password"
        case 17: return "SIM PIN2 required"
        case 18: return "SIM PUK2 required"
        case 20: return "memory full"
        case 21: return "invalid index"
        case 22: return "not found"
        case 23: return "memory failure"
        case 24: return "text string too long"
        case 25: return "invalid characters in text string"
        case 26: return "dial string too long"
        case 27: return "invalid characters in dial string"
        case 30: return "no network service"
        case 31: return "network timeout"
        case 32: return "network not allowed, emergency calls only"
        case 40: return "network personalisation PIN required"
        case 41: return "network personalisation PUK required"
        case 42: return "network subset personalisation PIN required"
        case 43: return "network subset personalisation PUK required"
        case 44: return "service provider personalisation PIN required"
        case 45: return "service provider personalisation PUK required"
        case 46: return "corporate personalisation PIN required"
        case 47: return "corporate personalisation PUK required"
        case 50: return "incorrect parameters"
        case 100: return "unknown error"
        case 103: return "illegal MS"
        case 106: return "illegal ME"
        case 107: return "GPRS services not allowed"
        case 111: return "PLMN not allowed"
        case 112: return "location area not allowed"
        case 113: return "roaming not allowed in this location area"
        case 132: return "service option not supported"
        case 133: return "requested service option not subscribed"
        case 134: return "service option temporarily out of order"
        case 148: return "unspecified GPRS error"
        case 149: return "PDP authentication failure"
        case 150: return "invalid mobile class"
        default: return "unknown error \(n)"
        }
    }

    static func classify(_ n: Int?, text: String) -> (ATModemError.Code, String) {
        let lower = text.lowercased()
        switch n {
        case 10, 13, 15: return (.simNotInserted, "insert a working SIM card (check it sits right) and restart the modem")
        case 11: return (.simPINRequired, "set the SIM PIN ([modem] pin in the config, or --pin)")
        case 12: return (.simPUKRequired, "the SIM is blocked: unlock it with its PUK in a phone; the agent never enters a PUK")
        case 16: return (.wrongPIN, "the configured PIN is wrong: correct [modem] pin; do not retry blindly, 3 wrong PINs block the SIM")
        case 14: return (.commandFailed, "the SIM is busy (still starting up): retry in a few seconds")
        case 20: return (.storageFull, "delete messages from the modem's storage")
        case 30, 31, 32: return (.commandFailed, "check the antenna, the signal and the SIM's subscription")
        case 3, 4: return (.unsupported, "this modem does not allow it in its current state")
        case nil:
            if lower.contains("sim pin required") { return (.simPINRequired, "set the SIM PIN ([modem] pin in the config, or --pin)") }
            if lower.contains("puk") { return (.simPUKRequired, "the SIM is blocked: unlock it with its PUK in a phone") }
            if lower.contains("incorrect password") { return (.wrongPIN, "the configured PIN is wrong: correct [modem] pin") }
            if lower.contains("not inserted") { return (.simNotInserted, "insert a working SIM card") }
            return (.commandFailed, "see the modem's manual for this error")
        default: return (.commandFailed, "see 3GPP TS 27.007 §9.2 for this error")
        }
    }
}

/// `+CMS ERROR: <err>` values of 3GPP TS 27.005 §3.2.5 (0…127 are TS 24.011 RP causes, 128…255 TS 23.040 TP-FCS).
public enum CMSErrorTable {
    /// The meaning of a `+CMS ERROR` code, or "unknown error n".
    public static func meaning(_ n: Int) -> String {
        switch n {
        case 1: return "unassigned (unallocated) number"
        case 8: return "operator determined barring"
        case 10: return "call barred"
        case 21: return "short message transfer rejected"
        case 27: return "destination out of service"
        case 28: return "unidentified subscriber"
        case 29: return "facility rejected"
        case 30: return "unknown subscriber"
        case 38: return "network out of order"
        case 41: return "temporary failure"
        case 42: return "congestion"
        case 47: return "resources unavailable, unspecified"
        case 50: return "requested facility not subscribed"
        case 69: return "requested facility not implemented"
        case 81: return "invalid short message transfer reference value"
        case 95: return "invalid message, unspecified"
        case 96: return "invalid mandatory information"
        case 97: return "message type non-existent or not implemented"
        case 98: return "message not compatible with short message protocol state"
        case 99: return "information element non-existent or not implemented"
        case 111: return "protocol error, unspecified"
        case 127: return "interworking, unspecified"
        case 128: return "telematic interworking not supported"
        case 129: return "short message type 0 not supported"
        case 130: return "cannot replace short message"
        case 143: return "unspecified TP-PID error"
        case 144: return "data coding scheme (alphabet) not supported"
        case 145: return "message class not supported"
        case 159: return "unspecified TP-DCS error"
        case 160: return "command cannot be actioned"
        case 161: return "command unsupported"
        case 175: return "unspecified TP-Command error"
        case 176: return "TPDU not supported"
        case 192: return "SC busy"
        case 193: return "no SC subscription"
        case 194: return "SC system failure"
        case 195: return "invalid SME address"
        case 196: return "destination SME barred"
        case 197: return "SM rejected, duplicate SM"
        case 198: return "TP-VPF not supported"
        case 199: return "TP-VP not supported"
        case 208: return "SIM SMS storage full"
        case 209: return "no SMS storage capability in SIM"
        case 210: return "error in MS"
        case 211: return "memory capacity exceeded"
        case 212: return "SIM Application Toolkit busy"
        case 213: return "SIM data download error"
        case 255: return "unspecified error cause"
        case 300: return "ME failure"
        case 301: return "SMS service of ME reserved"
        case 302: return "operation not allowed"
        case 303: return "operation not supported"
        case 304: return "invalid PDU mode parameter"
        case 305: return "invalid text mode parameter"
        case 310: return "SIM not inserted"
        case 311: return "SIM PIN required"
        case 312: return "PH-SIM PIN required"
        case 313: return "SIM failure"
        case 314: return "SIM busy"
        case 315: return "SIM wrong"
        case 316: return "SIM PUK required"
        case 317: return "SIM PIN2 required"
        case 318: return "SIM PUK2 required"
        case 320: return "memory failure"
        case 321: return "invalid memory index"
        case 322: return "memory full"
        case 330: return "SMSC address unknown"
        case 331: return "no network service"
        case 332: return "network timeout"
        case 340: return "no +CNMA acknowledgement expected"
        case 500: return "unknown error"
        default: return "unknown error \(n)"
        }
    }

    static func classify(_ n: Int?, text: String) -> (ATModemError.Code, String) {
        switch n {
        case 310, 313, 315: return (.simNotInserted, "insert a working SIM card and restart the modem")
        case 311, 312: return (.simPINRequired, "set the SIM PIN ([modem] pin in the config, or --pin)")
        case 316: return (.simPUKRequired, "the SIM is blocked: unlock it with its PUK in a phone; the agent never enters a PUK")
        case 314: return (.commandFailed, "the SIM is busy (still starting up): retry in a few seconds")
        case 208, 211, 322: return (.storageFull, "delete messages from the modem's storage (oob-agent deletes every SMS it processed)")
        case 321: return (.commandFailed, "no message at that index: list the messages first")
        case 330: return (.commandFailed, "the SIM has no SMS centre number: set it with AT+CSCA=\"+<number>\",145")
        case 331, 332, 38, 41, 42, 47: return (.commandFailed, "check the antenna, the signal and the registration; retry later")
        case 1, 8, 10, 21, 27, 28, 29, 30, 50, 195, 196: return (.commandFailed, "check the number and that the SIM's plan allows sending SMS")
        case 302, 303: return (.unsupported, "this modem does not allow it in its current mode")
        case 304, 305: return (.commandFailed, "the modem rejected the message's format (a bug: report it with the PDU)")
        case nil: return CMEErrorTable.classify(nil, text: text)
        default: return (.commandFailed, "see 3GPP TS 27.005 §3.2.5 for this error")
        }
    }
}
