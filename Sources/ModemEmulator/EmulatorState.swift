import ATModem
import SerialIO

/// A stored message of the emulated SIM.
struct StoredPDU: Sendable {
    var pdu: String
    /// `<stat>`: 0 received unread, 1 received read, 2 stored unsent, 3 stored sent.
    var status: Int
}

/// Everything the emulated modem knows, behind the emulator's mutex. Pure logic: bytes in, bytes out (with due
/// times); the emulator's thread moves them to and from the pty.
struct EmulatorState: Sendable {
    enum SIM: Sendable { case ready, pinRequired, pukRequired }
    enum Prompt: Sendable {
        case pdu(length: Int)
        case text(recipient: String)
    }

    var configuration: ModemEmulator.Configuration
    var path: String
    var present = true
    var stopRequested = false
    var stopped = false
    var vanishRequested = false
    var reappearAt: Int64?
    var rebootAt: Int64?
    var reboots = 0

    var echo = true
    var cmee = 0
    var textMode = false
    /// `AT+CSDH=1`: text-mode headers carry the details (type of address, first octet, …).
    var showTextDetails = false
    var newMessageIndication = 0
    var cregMode = 0
    var sim: SIM
    var pinAttempts = 3
    var hang: ModemEmulator.Hang = .none

    var storage: [Int: StoredPDU] = [:]
    var outbox: [ModemEmulator.SentMessage] = []
    var received: [String] = []
    var lost = 0
    var memoryFullAnnounced = false
    var nextReference = 1

    var input: [UInt8] = []
    var prompt: Prompt?
    var pendingOutput: [(due: Int64, bytes: [UInt8])] = []
    var noiseCounter = 0
    var nextIdleNoise: Int64 = 0

    init(configuration: ModemEmulator.Configuration, path: String) {
        self.configuration = configuration
        self.path = path
        sim = configuration.pin == nil ? .ready : .pinRequired
    }

    /// After a reboot or a replug: volatile settings back to their defaults; the SIM storage stays.
    mutating func powerOn() {
        echo = true
        cmee = 0
        textMode = false
        showTextDetails = false
        newMessageIndication = 0
        cregMode = 0
        sim = configuration.pin == nil ? .ready : .pinRequired
        hang = .none
        prompt = nil
        input.removeAll()
        pendingOutput.removeAll()
        emit("\r\n^SYSSTART\r\n", delay: .milliseconds(50))
    }

    // MARK: - Output

    mutating func emit(_ text: String, delay: Duration? = nil) {
        emit(Array(text.utf8), delay: delay)
    }

    mutating func emit(_ bytes: [UInt8], delay: Duration? = nil) {
        let now = Monotonic.now()
        var due = now + nanoseconds(delay ?? configuration.replyDelay)
        // Keep the order of output even when delays differ.
        if let last = pendingOutput.last, last.due > due { due = last.due }
        pendingOutput.append((due, bytes))
    }

    mutating func takeDueOutput(now: Int64) -> [UInt8] {
        var out: [UInt8] = []
        while let first = pendingOutput.first, first.due <= now {
            out += first.bytes
            pendingOutput.removeFirst()
        }
        if configuration.noise != .off, prompt == nil, hang != .everything, pendingOutput.isEmpty, present {
            if now >= nextIdleNoise {
                if nextIdleNoise != 0 { out += Array(noiseLine().utf8) }
                nextIdleNoise = now + nanoseconds(configuration.noiseInterval)
            }
        }
        if let r = rebootAt, pendingOutput.isEmpty, now >= r {
            rebootAt = nil
            reboots += 1
            vanishRequested = true
            reappearAt = now + nanoseconds(configuration.rebootTime)
        }
        return out
    }

    mutating func noiseLine() -> String {
        noiseCounter += 1
        if noiseCounter % 5 == 0 { return "\r\n^BOOT:37478870,0,0,0,77\r\n" }
        return "\r\n^RSSI:\(configuration.rssi)\r\n"
    }

    /// A reply: information lines then a final result, with noise where configured.
    mutating func reply(_ lines: [String], final: String = "OK") {
        var text = ""
        if configuration.noise != .off {
            noiseCounter += 1
            if noiseCounter % 2 == 0 { text += noiseLine() }
        }
        if !lines.isEmpty {
            var body: [String] = []
            for (i, line) in lines.enumerated() {
                if configuration.noise == .insideResponses && i > 0 {
                    noiseCounter += 1
                    if noiseCounter % 3 == 0 { body.append("^RSSI:\(configuration.rssi)") }
                }
                if configuration.noise == .insideResponses, line.count >= 40, line.allSatisfy(\.isHexDigit) {
                    noiseCounter += 1
                    if noiseCounter % 2 == 0 {
                        // Huawei: the URC lands in the middle of a PDU line; the PDU goes on after it.
                        let cut = line.index(line.startIndex, offsetBy: line.count / 2)
                        body.append(String(line[..<cut]))
                        body.append(noiseCounter % 4 == 0 ? "^BOOT:37478870,0,0,0,77" : "^RSSI:\(configuration.rssi)")
                        body.append(String(line[cut...]))
                        continue
                    }
                }
                body.append(line)
            }
            text += "\r\n" + body.joined(separator: "\r\n") + "\r\n"
        }
        text += "\r\n\(final)\r\n"
        emit(text)
    }

    mutating func error(cme n: Int) {
        switch cmee {
        case 0: reply([], final: "ERROR")
        case 2: reply([], final: "+CME ERROR: \(CMEErrorTable.meaning(n))")
        default: reply([], final: "+CME ERROR: \(n)")
        }
    }

    mutating func error(cms n: Int) {
        switch cmee {
        case 0: reply([], final: "ERROR")
        case 2: reply([], final: "+CMS ERROR: \(CMSErrorTable.meaning(n))")
        default: reply([], final: "+CMS ERROR: \(n)")
        }
    }

    // MARK: - Input

    mutating func receive(_ bytes: [UInt8]) {
        if hang == .everything {
            // Deaf, but a reboot command still gets through to the firmware's watchdog.
            input += bytes
            while let cr = input.firstIndex(of: 0x0D) {
                let line = String(decoding: input[..<cr], as: UTF8.self).trimmingCharacters()
                input.removeSubrange(...cr)
                received.append(line)
                if line.uppercased() == "AT+CFUN=1,1" { rebootAt = Monotonic.now() }
            }
            if input.count > 4096 { input.removeAll() }
            return
        }
        for b in bytes {
            if prompt != nil {
                promptByte(b)
                continue
            }
            if echo { emit([b], delay: .zero) }
            switch b {
            case 0x0D:
                let line = String(decoding: input, as: UTF8.self).trimmingCharacters()
                input.removeAll()
                if !line.isEmpty { command(line) }
            case 0x0A:
                break
            case 0x08:
                if !input.isEmpty { input.removeLast() }
            case 0x00..<0x20:
                break  // ESC and other control characters mean nothing in command mode
            default:
                if input.count < 4096 { input.append(b) }
            }
        }
    }

    mutating func promptByte(_ b: UInt8) {
        if echo && b != 0x1A && b != 0x1B { emit([b], delay: .zero) }
        switch b {
        case 0x1A:
            let body = String(decoding: input, as: UTF8.self)
            input.removeAll()
            let p = prompt!
            prompt = nil
            submit(body, p)
        case 0x1B:
            input.removeAll()
            prompt = nil
            reply([])
        case 0x0D where textModePrompt:
            input.append(0x0A)
            emit("\r\n> ", delay: .zero)
        default:
            if input.count < 4096 { input.append(b) }
        }
    }

    var textModePrompt: Bool {
        if case .text = prompt { return true }
        return false
    }

    mutating func submit(_ body: String, _ p: Prompt) {
        let reference = nextReference
        nextReference = nextReference % 255 + 1
        switch p {
        case .pdu(let length):
            let hex = body.filter { !$0.isWhitespace }
            guard hex.count % 2 == 0, hex.allSatisfy(\.isHexDigit), let sca = Int(hex.prefix(2), radix: 16),
                  hex.count / 2 == length + sca + 1
            else {
                error(cms: 304)
                return
            }
            var sent = ModemEmulator.SentMessage(pdu: hex.uppercased(), tpduLength: length, recipient: nil, text: nil,
                                                 reference: reference)
            if let decoded = EmulatorCodec.decodeSubmit(hex) {
                sent.recipient = decoded.recipient
                sent.text = decoded.text
            }
            outbox.append(sent)
        case .text(let recipient):
            outbox.append(ModemEmulator.SentMessage(pdu: nil, tpduLength: nil, recipient: recipient, text: body,
                                                    reference: reference))
        }
        reply(["+CMGS: \(reference)"])
    }

    // MARK: - Delivery

    mutating func deliver(pdu: String) -> Int? {
        guard let slot = (0..<configuration.storageCapacity).first(where: { storage[$0] == nil }) else {
            lost += 1
            if !memoryFullAnnounced {
                memoryFullAnnounced = true
                emit("\r\n^SMMEMFULL: \"SM\"\r\n", delay: .zero)
            }
            return nil
        }
        storage[slot] = StoredPDU(pdu: pdu, status: 0)
        if newMessageIndication == 1 || newMessageIndication == 2 {
            emit("\r\n+CMTI: \"SM\",\(slot)\r\n", delay: .zero)
        }
        return slot
    }

    // MARK: - Commands

    mutating func command(_ line: String) {
        received.append(line)
        let upper = line.uppercased()
        guard upper.hasPrefix("AT") else {
            reply([], final: "ERROR")
            return
        }
        if hang == .listing && upper.hasPrefix("AT+CMGL") { return }
        let body = String(line.dropFirst(2))
        let ubody = String(upper.dropFirst(2))

        switch ubody {
        case "", "Z", "&F", "V1", "Q0", "^CURC=1", "+CSCS=\"GSM\"", "+CSCS=\"IRA\"", "+CSCS=\"UCS2\"":
            reply([])
            return
        case "E0", "E1", "E":
            echo = ubody == "E1"
            reply([])
            return
        case "^CURC=0":
            configuration.noise = .off
            reply([])
            return
        case "I":
            reply(["Manufacturer: \(configuration.manufacturer)", "Model: \(configuration.model)",
                   "Revision: \(configuration.revision)", "IMEI: \(configuration.imei)", "+GCAP: +CGSM,+DS,+ES"])
            return
        case "+CGMI", "+GMI": reply([configuration.manufacturer]); return
        case "+CGMM", "+GMM": reply([configuration.model]); return
        case "+CGMR", "+GMR": reply([configuration.revision]); return
        case "+CGSN", "+GSN": reply([configuration.imei]); return
        case "+CIMI":
            if sim != .ready { error(cme: sim == .pinRequired ? 11 : 12) } else { reply([configuration.imsi]) }
            return
        case "+CSQ": reply(["+CSQ: \(configuration.rssi),99"]); return
        case "+CMEE?": reply(["+CMEE: \(cmee)"]); return
        case "+CPIN?":
            switch sim {
            case .ready: reply(["+CPIN: READY"])
            case .pinRequired: reply(["+CPIN: SIM PIN"])
            case .pukRequired: reply(["+CPIN: SIM PUK"])
            }
            return
        case "+CREG?":
            if cregMode == 2 {
                reply(["+CREG: 2,\(configuration.registrationStatus),\"2AF5\",\"0B88E350\""])
            } else {
                reply(["+CREG: \(cregMode),\(configuration.registrationStatus)"])
            }
            return
        case "+COPS?":
            if configuration.registrationStatus == 1 || configuration.registrationStatus == 5 {
                reply(["+COPS: 0,0,\"\(configuration.operatorName)\",2"])
            } else {
                reply(["+COPS: 0"])
            }
            return
        case "+CCLK?":
            reply(["+CCLK: \"\(Self.clockString(configuration.networkTime))\""])
            return
        case "+CFUN?": reply(["+CFUN: 1"]); return
        case "+CFUN=1", "+CFUN=1,0": reply([]); return
        case "+CFUN=1,1":
            reply([])
            rebootAt = Monotonic.now() + 50_000_000
            return
        case "+CMGF?": reply(["+CMGF: \(textMode ? 1 : 0)"]); return
        case "+CMGF=?": reply([configuration.textModeOnly ? "+CMGF: (1)" : "+CMGF: (0-1)"]); return
        case "+CPMS=?": reply(["+CPMS: (\"SM\",\"ME\"),(\"SM\",\"ME\"),(\"SM\",\"ME\")"]); return
        case "+CNMI=?": reply(["+CNMI: (0,1,2),(0,1,2,3),(0,2),(0,1,2),(0,1)"]); return
        default: break
        }

        if ubody.hasPrefix("+CMEE=") {
            guard let n = Int(ubody.dropFirst(6)), (0...2).contains(n) else { return reply([], final: "ERROR") }
            cmee = n
            return reply([])
        }
        if ubody.hasPrefix("+CPIN=") {
            enterPIN(String(body.dropFirst(6)).trimmingCharacters(in: "\" "))
            return
        }
        if ubody.hasPrefix("+CREG=") {
            guard let n = Int(ubody.dropFirst(6)), (0...2).contains(n) else { return reply([], final: "ERROR") }
            cregMode = n
            return reply([])
        }

        // Everything below needs the SIM.
        let smsCommands = ["+CMGF", "+CPMS", "+CNMI", "+CMGL", "+CMGR", "+CMGD", "+CMGS", "+CSCA"]
        if smsCommands.contains(where: { ubody.hasPrefix($0) }) && sim != .ready {
            return error(cms: sim == .pinRequired ? 311 : 316)
        }
        if ubody.hasPrefix("+CMGF=") {
            switch ubody.dropFirst(6) {
            case "0":
                if configuration.textModeOnly { return reply([], final: "ERROR") }
                textMode = false
            case "1": textMode = true
            default: return reply([], final: "ERROR")
            }
            return reply([])
        }
        if ubody.hasPrefix("+CSDH=") {
            switch ubody.dropFirst(6) {
            case "0": showTextDetails = false
            case "1": showTextDetails = true
            default: return reply([], final: "ERROR")
            }
            return reply([])
        }
        if ubody.hasPrefix("+CPMS=") {
            let names = ATParameters.split(String(ubody.dropFirst(6)))
            guard names.allSatisfy({ $0 == "SM" || $0 == "ME" || $0 == "MT" }) else { return error(cms: 302) }
            let used = storage.count
            let total = configuration.storageCapacity
            return reply(["+CPMS: \(used),\(total),\(used),\(total),\(used),\(total)"])
        }
        if ubody == "+CPMS?" {
            let used = storage.count
            let total = configuration.storageCapacity
            return reply(["+CPMS: \"SM\",\(used),\(total),\"SM\",\(used),\(total),\"SM\",\(used),\(total)"])
        }
        if ubody.hasPrefix("+CNMI=") {
            let f = ATParameters.split(String(ubody.dropFirst(6)))
            guard f.count >= 2, let mt = Int(f[1]), (0...3).contains(mt) else { return reply([], final: "ERROR") }
            newMessageIndication = mt
            return reply([])
        }
        if ubody == "+CNMI?" { return reply(["+CNMI: 2,\(newMessageIndication),0,0,0"]) }
        if ubody == "+CSCA?" { return reply(["+CSCA: \"\(configuration.smsc ?? "")\",145"]) }
        if ubody.hasPrefix("+CMGL") { return list(String(ubody.dropFirst(5))) }
        if ubody.hasPrefix("+CMGR=") {
            guard let i = Int(ubody.dropFirst(6)) else { return reply([], final: "ERROR") }
            return read(i)
        }
        if ubody.hasPrefix("+CMGD=") {
            let f = ATParameters.split(String(ubody.dropFirst(6)))
            guard let i = Int(f[0]) else { return reply([], final: "ERROR") }
            let flag = f.count > 1 ? Int(f[1]) ?? 0 : 0
            guard (0..<configuration.storageCapacity).contains(i) else { return error(cms: 321) }
            if flag == 0, configuration.undeletableIndexes.contains(i) { return error(cms: 321) }
            switch flag {
            case 4: storage.removeAll()
            case 1: storage = storage.filter { $0.value.status != 1 }
            default: storage[i] = nil
            }
            if storage.count < configuration.storageCapacity { memoryFullAnnounced = false }
            return reply([])
        }
        if ubody.hasPrefix("+CMGS=") {
            let arg = String(body.dropFirst(6))
            if textMode {
                let recipient = ATParameters.split(arg).first ?? ""
                guard !recipient.isEmpty else { return error(cms: 305) }
                prompt = .text(recipient: recipient)
            } else {
                guard let n = Int(arg.trimmingCharacters(in: " ")), n > 0, n <= 176 else { return error(cms: 304) }
                prompt = .pdu(length: n)
            }
            input.removeAll()
            emit(configuration.barePrompt ? "\r\n>" : "\r\n> ")
            return
        }
        reply([], final: "ERROR")
    }

    mutating func enterPIN(_ pin: String) {
        switch sim {
        case .ready: error(cme: 3)
        case .pukRequired: error(cme: 12)
        case .pinRequired:
            if pin == configuration.pin {
                sim = .ready
                pinAttempts = 3
                reply([])
                emit("\r\n^SIMST:1\r\n", delay: .milliseconds(20))
            } else {
                pinAttempts -= 1
                if pinAttempts <= 0 { sim = .pukRequired }
                error(cme: 16)
            }
        }
    }

    mutating func list(_ argument: String) {
        var arg = argument
        if arg.hasPrefix("=") { arg.removeFirst() }
        arg = arg.trimmingCharacters(in: " ")
        let wanted: Int
        if textMode {
            switch arg.trimmingCharacters(in: "\"") {
            case "", "REC UNREAD": wanted = 0
            case "REC READ": wanted = 1
            case "STO UNSENT": wanted = 2
            case "STO SENT": wanted = 3
            case "ALL": wanted = 4
            default: return error(cms: 302)
            }
        } else {
            guard let n = arg.isEmpty ? 0 : Int(arg), (0...4).contains(n) else { return error(cms: 302) }
            wanted = n
        }
        var lines: [String] = []
        for index in storage.keys.sorted() {
            guard var m = storage[index], wanted == 4 || m.status == wanted else { continue }
            lines += entry(index: index, m, list: true)
            if m.status == 0 {
                m.status = 1
                storage[index] = m
            }
        }
        reply(lines)
    }

    mutating func read(_ index: Int) {
        guard (0..<configuration.storageCapacity).contains(index) else { return error(cms: 321) }
        guard var m = storage[index] else { return reply([]) }
        reply(entry(index: index, m, list: false))
        if m.status == 0 {
            m.status = 1
            storage[index] = m
        }
    }

    func entry(index: Int, _ m: StoredPDU, list: Bool) -> [String] {
        let head = list ? "+CMGL: \(index)," : "+CMGR: "
        if textMode {
            let stat = ["REC UNREAD", "REC READ", "STO UNSENT", "STO SENT"][min(3, max(0, m.status))]
            if let t = EmulatorCodec.textModeView(m.pdu) {
                let scts = t.timestamp.map { ",\"\($0)\"" } ?? ""
                // TS 27.005 §3.4.2/§3.4.3 with +CSDH=1: +CMGL adds <tooa>,<length>; +CMGR adds
                // <tooa>,<fo>,<pid>,<dcs>,<sca>,<tosca>,<length>.
                var details = ""
                if showTextDetails, let toa = t.typeOfAddress {
                    details = list
                        ? ",\(toa),\(t.text.count)"
                        : ",\(toa),\(t.firstOctet),0,\(t.dataCoding),\"\(configuration.smsc ?? "")\",145,\(t.text.count)"
                }
                return ["\(head)\"\(stat)\",\"\(t.address)\",\(scts)\(details)", t.text]
            }
            return ["\(head)\"\(stat)\",\"\",", ""]
        }
        let sca = Int(m.pdu.prefix(2), radix: 16) ?? 0
        let length = max(0, m.pdu.count / 2 - sca - 1)
        return ["\(head)\(m.status),,\(length)", m.pdu]
    }

    static func clockString(_ c: ModemClock) -> String {
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        var s = "\(two(c.year % 100))/\(two(c.month))/\(two(c.day)),\(two(c.hour)):\(two(c.minute)):\(two(c.second))"
        if let o = c.utcOffsetMinutes {
            s += (o < 0 ? "-" : "+") + two(abs(o) / 15)
        }
        return s
    }
}

extension String {
    func trimmingCharacters(in set: String = " \t\r\n") -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
