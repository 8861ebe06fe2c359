/// An unsolicited result code, understood.
public enum UnsolicitedEvent: Hashable, Sendable {
    /// `+CMTI: <mem>,<index>`: a new SMS was stored (TS 27.005 §3.4.1).
    case newMessage(storage: String, index: Int)
    /// `+CDSI: <mem>,<index>`: a status report was stored.
    case newStatusReport(storage: String, index: Int)
    /// `+CMT`: an SMS routed straight to this program instead of the storage; the PDU (or text) line.
    case messageRouted(body: String)
    /// `+CDS`: a status report routed straight to this program; its PDU.
    case statusReportRouted(body: String)
    /// `^RSSI` (Huawei): the signal changed.
    case signal(SignalQuality)
    /// `+CREG: <stat>…`: the registration changed.
    case registration(Registration)
    /// `^SYSSTART`: the modem (re)started; its settings (echo, PDU mode, `+CNMI`, the SIM PIN) are gone.
    case boot
    /// `^BOOT:…`: Huawei's periodic heartbeat (despite its name, not a reboot): ignore it.
    case heartbeat
    /// `^SMMEMFULL` (Huawei): the SMS storage is full; new messages are lost until some are deleted.
    case storageFull(storage: String)
    /// `RING` / `+CRING`: an incoming call.
    case ring
    /// `+CUSD`: a USSD answer (raw parameters).
    case ussd(String)
    /// The device went away (unplugged, rebooting): commands fail until `Modem.reopen()` or `reset()` finds it.
    case deviceVanished(path: String)
    /// Anything else, as received.
    case other(UnsolicitedLine)

    /// Understands a raw unsolicited line.
    public init(_ u: UnsolicitedLine) {
        let f = ATParameters.split(u.parameters)
        switch u.name {
        case "+CMTI":
            if f.count >= 2, let i = Int(f[1]) { self = .newMessage(storage: f[0], index: i); return }
        case "+CDSI":
            if f.count >= 2, let i = Int(f[1]) { self = .newStatusReport(storage: f[0], index: i); return }
        case "+CMT":
            if let b = u.body { self = .messageRouted(body: b); return }
        case "+CDS":
            if let b = u.body { self = .statusReportRouted(body: b); return }
        case "^RSSI":
            if let s = SignalQuality.parse(huaweiRSSI: u.line) { self = .signal(s); return }
        case "+CREG":
            if let r = Registration.parse(cregUnsolicited: u.line) { self = .registration(r); return }
        case "^SYSSTART":
            self = .boot
            return
        case "^BOOT":
            self = .heartbeat
            return
        case "^SMMEMFULL":
            self = .storageFull(storage: f.first ?? "")
            return
        case "RING", "+CRING":
            self = .ring
            return
        case "+CUSD":
            self = .ussd(u.parameters)
            return
        default: break
        }
        self = .other(u)
    }
}
