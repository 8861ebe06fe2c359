import ATModem
import Foundation
import Logging
import ModemEmulator
import SerialIO
import Testing

let quietLogger = Logger(label: "test.modem", factory: { _ in SwiftLogNoOpLogHandler() })

/// A PDU as a modem stores it: SMS-DELIVER from +46701234567, "Hello" (GSM 7-bit), 2026-11-21 23:50:00 +01:00.
let helloPDU = "07916407058099F9040B916407214365F7000062111232050040" + "05C8329BFD06"

/// Opens a Modem on the emulator with short timeouts (tests must not wait for the production defaults).
func openModem(_ emulator: ModemEmulator, pin: String? = nil, commandTimeout: Duration = .seconds(3),
               listTimeout: Duration = .seconds(3), resetWhenListingHangs: Bool = false) async throws -> Modem {
    let path = try #require(emulator.devicePath)
    var options = Modem.Options(pin: pin, commandTimeout: commandTimeout, listTimeout: listTimeout,
                                sendTimeout: .seconds(5), resetTimeout: .seconds(10))
    options.resetWhenListingHangs = resetWhenListingHangs
    options.engine = ATCommandEngine.Options(resyncAttempts: 2, resyncTimeout: .milliseconds(500))
    return try await Modem.open(path: path, options: options, logger: quietLogger,
                                locate: { [emulator] in emulator.devicePath })
}

/// The first unsolicited event that matches, or nil after `seconds` (a test never hangs on a missing event).
func firstEvent(_ modem: Modem, within seconds: Double = 5,
                where match: @escaping @Sendable (UnsolicitedEvent) -> Bool) async -> UnsolicitedEvent? {
    await withTaskGroup(of: UnsolicitedEvent?.self) { group in
        group.addTask {
            for await event in modem.unsolicited where match(event) { return event }
            return nil
        }
        group.addTask {
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

@Suite("Modem against the emulator on a real pty", .serialized, .timeLimit(.minutes(3)))
struct ModemEmulatorTests {
    @Test("initialises a stick with echo on: echo off, PDU mode, SM storage, +CNMI")
    func initialise() async throws {
        let emulator = try ModemEmulator()
        defer { emulator.stop() }
        let modem = try await openModem(emulator)
        let report = try await modem.initialize()
        await modem.close()
        #expect(report.mode == .pdu)
        #expect(report.enteredPIN == false)
        #expect(report.notifications)
        #expect(report.storage?.receiving?.total == 25)
        let commands = emulator.receivedCommands
        #expect(commands.contains("ATE0"))
        #expect(commands.contains("AT+CMEE=1"))
        #expect(commands.contains("AT+CMGF=0"))
        #expect(commands.contains { $0.hasPrefix("AT+CNMI=") })
    }

    @Test("identity, signal in dBm, registration with operator, network time with zone")
    func information() async throws {
        let emulator = try ModemEmulator(configuration: .init(noise: .insideResponses, rssi: 17))
        defer { emulator.stop() }
        let modem = try await openModem(emulator)
        try await modem.initialize()
        let id = try await modem.identity()
        #expect(id.manufacturer == "huawei")
        #expect(id.model == "E1752")
        #expect(id.imei == "353143038123456")
        #expect(id.imsi == "240011234567890")
        #expect(try await modem.signal().dBm == -79)
        let reg = try await modem.registration()
        #expect(reg.status == .home)
        #expect(reg.operatorName == "Telia")
        #expect(try await modem.networkTime().iso8601 == "2026-11-21T23:50:00+01:00")
        await modem.close()
    }

    @Test("lists, reads and deletes with echo on and noise inside responses (PDU lines split by ^RSSI)")
    func listReadDeleteWithNoise() async throws {
        let emulator = try ModemEmulator(configuration: .init(noise: .insideResponses, noiseInterval: .milliseconds(50)))
        defer { emulator.stop() }
        for _ in 0..<6 { emulator.deliver(pdu: helloPDU) }
        let modem = try await openModem(emulator)
        // Keep echo on for the listing: initialise, then turn echo back on by hand.
        try await modem.initialize()
        _ = try await modem.command("ATE1")
        for _ in 0..<5 {
            let list = try await modem.listMessages()
            #expect(list.map(\.index) == Array(0..<6))
            #expect(list.allSatisfy { $0.pdu == helloPDU })
        }
        // The ^RSSI lines that split the PDU lines went to the unsolicited stream.
        let signal = await firstEvent(modem) { if case .signal = $0 { true } else { false } }
        #expect(signal == .signal(SignalQuality(rssi: 20)))
        #expect(try await modem.readMessage(index: 3)?.pdu == helloPDU)
        try await modem.deleteMessage(index: 3)
        #expect(try await modem.readMessage(index: 3) == nil)
        #expect(emulator.storedMessages.count == 5)
        await modem.close()
    }

    @Test("a delivery is announced: +CMTI becomes .newMessage on the unsolicited stream")
    func newMessageEvent() async throws {
        let emulator = try ModemEmulator(configuration: .init(noise: .betweenReplies, noiseInterval: .milliseconds(30)))
        defer { emulator.stop() }
        let modem = try await openModem(emulator)
        try await modem.initialize()
        let index = emulator.deliver(pdu: helloPDU)
        let found = await firstEvent(modem) { if case .newMessage = $0 { true } else { false } }
        #expect(found == .newMessage(storage: "SM", index: try #require(index)))
        await modem.close()
    }

    @Test("SIM PIN: entered when configured, a clear error when missing, never retried when wrong")
    func pin() async throws {
        let emulator = try ModemEmulator(configuration: .init(pin: "4321"))
        defer { emulator.stop() }
        do {
            let modem = try await openModem(emulator)
            await #expect(throws: ATModemError.self) { try await modem.initialize() }
            do { try await modem.initialize() } catch let e as ATModemError {
                #expect(e.code == .simPINRequired)
                #expect(e.message.contains("[modem] pin"))
            }
            await modem.close()
        }
        do {
            let modem = try await openModem(emulator, pin: "0000")
            do {
                try await modem.initialize()
                Issue.record("a wrong PIN was accepted")
            } catch let e as ATModemError {
                #expect(e.code == .wrongPIN)
                #expect(!e.description.contains("0000"))
            }
            #expect(emulator.receivedCommands.filter { $0.hasPrefix("AT+CPIN=") }.count == 1)
            await modem.close()
        }
        do {
            let modem = try await openModem(emulator, pin: "4321")
            let report = try await modem.initialize()
            #expect(report.enteredPIN)
            #expect(try await modem.simState() == "READY")
            await modem.close()
        }
    }

    @Test("a blocked SIM asks for the PUK: reported, never answered")
    func puk() async throws {
        let emulator = try ModemEmulator(configuration: .init(pin: "4321"))
        defer { emulator.stop() }
        let modem = try await openModem(emulator)
        for _ in 0..<3 { _ = try await modem.command("AT+CPIN=\"1111\"") }
        do {
            try await modem.initialize()
            Issue.record("initialised with a blocked SIM")
        } catch let e as ATModemError {
            #expect(e.code == .simPUKRequired)
            #expect(e.message.contains("PUK"))
        }
        await modem.close()
    }

    @Test("a modem that refuses PDU mode falls back to text mode")
    func textModeFallback() async throws {
        let emulator = try ModemEmulator(configuration: .init(textModeOnly: true))
        defer { emulator.stop() }
        let modem = try await openModem(emulator)
        let report = try await modem.initialize()
        #expect(report.mode == .text)
        #expect(emulator.receivedCommands.contains("AT+CMGF=1"))
        await modem.close()
    }

    @Test("a +CMGL that never finishes times out, the engine resynchronises, the modem still answers")
    func listingHang() async throws {
        let emulator = try ModemEmulator()
        defer { emulator.stop() }
        emulator.deliver(pdu: helloPDU)
        let modem = try await openModem(emulator, listTimeout: .seconds(1))
        try await modem.initialize()
        emulator.hang(.listing)
        do {
            _ = try await modem.listMessages()
            Issue.record("the listing answered")
        } catch let e as ATModemError {
            #expect(e.code == .timedOut)
            #expect(e.command == "AT+CMGL=4")
            #expect(e.message.contains("Huawei"))
        }
        #expect(try await modem.signal().rssi == 20)
        await modem.close()
    }

    @Test("a Huawei that stops answering +CMGL is reset and listed again, by default")
    func listingHangRecovered() async throws {
        let emulator = try ModemEmulator()
        defer { emulator.stop() }
        emulator.deliver(pdu: helloPDU)
        let modem = try await openModem(emulator, listTimeout: .seconds(1), resetWhenListingHangs: true)
        try await modem.initialize()
        emulator.hang(.listing)
        let list = try await modem.listMessages()
        #expect(list.map(\.pdu) == [helloPDU])
        #expect(emulator.reboots == 1)
        await modem.close()
    }

    @Test("a silent modem is reported hung, fails fast, and reset() brings it back on its new path")
    func hungAndReset() async throws {
        let emulator = try ModemEmulator()
        defer { emulator.stop() }
        emulator.deliver(pdu: helloPDU)
        let modem = try await openModem(emulator, commandTimeout: .seconds(1))
        try await modem.initialize()
        let firstPath = emulator.devicePath
        emulator.hang(.everything)
        do {
            _ = try await modem.signal()
            Issue.record("a hung modem answered")
        } catch let e as ATModemError {
            #expect(e.code == .hung)
        }
        // The next caller is not blocked: it gets .hung after one short probe.
        await #expect(throws: ATModemError.self) { try await modem.signal() }
        let report = try await modem.reset()
        #expect(report.mode == .pdu)
        #expect(emulator.reboots == 1)
        // The pty was replaced (the kernel may hand out the same number again, as USB may the same ttyUSB name).
        #expect(firstPath != nil)
        #expect(modem.engine.path == emulator.devicePath)
        #expect(try await modem.listMessages().count == 1)
        await modem.close()
    }

    @Test("the device vanishes: the command fails with .deviceVanished; reopen() finds it again")
    func vanishAndReopen() async throws {
        let emulator = try ModemEmulator()
        defer { emulator.stop() }
        let modem = try await openModem(emulator)
        try await modem.initialize()
        let path = try #require(emulator.devicePath)
        emulator.vanish()
        // The engine notices the hang-up by itself, without a command.
        let gone = await firstEvent(modem) { if case .deviceVanished = $0 { true } else { false } }
        #expect(gone == .deviceVanished(path: path))
        do {
            _ = try await modem.signal()
            Issue.record("a vanished modem answered")
        } catch let e as ATModemError {
            #expect(e.code == .deviceVanished || e.code == .closed)
        }
        emulator.reappear()
        try await modem.reopen(timeout: .seconds(5))
        try await modem.initialize()
        #expect(try await modem.signal().dBm == -73)
        await modem.close()
    }

    @Test("slow replies within the timeout work; beyond it they time out and the engine recovers")
    func slowReplies() async throws {
        let emulator = try ModemEmulator(configuration: .init(replyDelay: .milliseconds(300)))
        defer { emulator.stop() }
        let modem = try await openModem(emulator)
        try await modem.initialize()
        #expect(try await modem.signal().rssi == 20)
        do {
            _ = try await modem.command("AT+CSQ", timeout: .milliseconds(100))
            Issue.record("answered before its delay")
        } catch let e as ATModemError {
            #expect(e.code == .timedOut)
        }
        // The late reply of the timed-out command is not taken for the next one's.
        let r = try await modem.command("AT+CGMM")
        #expect(r.lines == ["E1752"])
        await modem.close()
    }

    @Test("the storage fills at 25: the 26th delivery is lost and ^SMMEMFULL is reported")
    func storageFull() async throws {
        let emulator = try ModemEmulator()
        defer { emulator.stop() }
        let modem = try await openModem(emulator)
        try await modem.initialize()
        for i in 0..<25 { #expect(emulator.deliver(pdu: helloPDU) == i) }
        #expect(emulator.deliver(pdu: helloPDU) == nil)
        #expect(emulator.lostMessages == 1)
        let status = try await modem.storageStatus()
        #expect(status.isFull)
        let full = await firstEvent(modem) { if case .storageFull = $0 { true } else { false } }
        #expect(full == .storageFull(storage: "SM"))
        try await modem.deleteMessage(index: 0)
        #expect(emulator.deliver(pdu: helloPDU) == 0)
        await modem.close()
    }

    @Test("a busy port is refused with the holder named")
    func busyPort() async throws {
        let emulator = try ModemEmulator()
        defer { emulator.stop() }
        let modem = try await openModem(emulator)
        do {
            _ = try await openModem(emulator)
            Issue.record("a second open succeeded")
        } catch let e as ATModemError {
            #expect(e.code == .serialPort)
            #expect(e.message.contains("busy"))
        }
        await modem.close()
    }

    @Test("a modem left at the > prompt by a crashed sender is brought back by ESC during resynchronisation")
    func leftAtPrompt() async throws {
        let emulator = try ModemEmulator()
        defer { emulator.stop() }
        do {
            let port = try SerialPort(path: try #require(emulator.devicePath))
            try port.writeAll(Array("ATE0\rAT+CMGS=23\r".utf8))
            try await Task.sleep(for: .milliseconds(200))
            port.close()
        }
        let modem = try await openModem(emulator)
        let report = try await modem.initialize()
        #expect(report.mode == .pdu)
        #expect(emulator.outbox.isEmpty)
        await modem.close()
    }

    @Test("withOpened closes the port when the body is done, so it can be opened again")
    func scoped() async throws {
        let emulator = try ModemEmulator()
        defer { emulator.stop() }
        let path = try #require(emulator.devicePath)
        let model = try await Modem.withOpened(path: path, logger: quietLogger) { modem in
            try await modem.initialize()
            return try await modem.identity().model
        }
        #expect(model == "E1752")
        let again = try await Modem.withOpened(path: path, logger: quietLogger) { try await $0.signal().dBm }
        #expect(again == -73)
    }

    @Test("many concurrent callers: one command in flight, every caller gets its own answer")
    func concurrentCallers() async throws {
        let emulator = try ModemEmulator(configuration: .init(noise: .insideResponses, noiseInterval: .milliseconds(20)))
        defer { emulator.stop() }
        emulator.deliver(pdu: helloPDU)
        let modem = try await openModem(emulator)
        try await modem.initialize()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<30 {
                group.addTask {
                    switch i % 3 {
                    case 0:
                        let rssi = try await modem.signal().rssi
                        #expect(rssi == 20)
                    case 1:
                        let model = try await modem.identity().model
                        #expect(model == "E1752")
                    default:
                        let pdus = try await modem.listMessages().map(\.pdu)
                        #expect(pdus == [helloPDU])
                    }
                }
            }
            try await group.waitForAll()
        }
        await modem.close()
    }

    @Test("bad command lines are refused before they reach the modem")
    func badCommands() async throws {
        let emulator = try ModemEmulator()
        defer { emulator.stop() }
        let modem = try await openModem(emulator)
        for bad in ["CSQ", "AT+CSQ\rATZ", "AT\u{1A}"] {
            do {
                _ = try await modem.command(bad)
                Issue.record("sent \(bad)")
            } catch let e as ATModemError {
                #expect(e.code == .invalidArgument)
            }
        }
        await modem.close()
    }
}
