import Foundation
import Logging
import Testing

@testable import OOBAgent

/// A datagram socket the test binds, playing systemd's notify socket.
final class NotifyListener {
    let fd: Int32
    let name: String

    init(path: String?, abstractName: String? = nil) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array((path ?? "@" + abstractName!).utf8)
        if path == nil { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (path == nil ? 0 : 1))
        let r = withUnsafePointer(to: &addr) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard r == 0 else { throw AgentError(.io, "bind failed: errno \(errno)") }
        name = path ?? "@" + abstractName!
    }

    func receive() -> String? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 2000) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }

    deinit { close(fd) }
}

extension AgentIntegrationSuites {
    @Suite("Daemon plumbing", .serialized, .timeLimit(.minutes(2)))
    struct DaemonPlumbingTests {
        @Test("systemd notify: READY, STATUS and WATCHDOG datagrams to a path socket")
        func notifyPath() throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            let listener = try NotifyListener(path: dir.file("notify"))
            let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": listener.name, "WATCHDOG_USEC": "20000000"])
            #expect(notifier.watchdogInterval == .seconds(20))
            #expect(notifier.ready(status: "idle, waiting for SMS"))
            #expect(listener.receive() == "READY=1\nSTATUS=idle, waiting for SMS")
            #expect(notifier.watchdog())
            #expect(listener.receive() == "WATCHDOG=1")
            #expect(notifier.status("active until 14:30"))
            #expect(listener.receive() == "STATUS=active until 14:30")
        }

        @Test("systemd notify: abstract socket names start with @")
        func notifyAbstract() throws {
            let name = "oob-agent-test-\(UInt32.random(in: 0...UInt32.max))"
            let listener = try NotifyListener(path: nil, abstractName: name)
            let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": "@" + name])
            #expect(notifier.stopping())
            #expect(listener.receive() == "STOPPING=1")
        }

        @Test("without NOTIFY_SOCKET nothing is sent")
        func notifyAbsent() {
            let notifier = SystemdNotifier(environment: [:])
            #expect(!notifier.ready(status: "x"))
            #expect(notifier.watchdogInterval == nil)
        }

        @Test("log lines: syslog priority prefix for journald, key=value metadata, quoting")
        func logFormat() {
            let journal = JournalLogHandler(label: "t", level: .info, journal: true)
            let event = LogEvent(level: .warning, message: "code refused", metadata: ["sms.sender": "+46701234567", "reason": "wrong code"], source: "t", file: "f", function: "g", line: 1)
            #expect(journal.format(event) == "<4>code refused reason=\"wrong code\" sms.sender=+46701234567")
            let terminal = JournalLogHandler(label: "t", level: .info, journal: false)
            let line = terminal.format(event)
            #expect(line.hasSuffix(" warning code refused reason=\"wrong code\" sms.sender=+46701234567"))
            #expect(JournalLogHandler.priority(.critical) == 2 && JournalLogHandler.priority(.info) == 6 && JournalLogHandler.priority(.debug) == 7)
        }

        @Test("control socket: JSON line request and response, mode 0660")
        func controlSocket() async throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            let path = dir.file("run/agent.sock")
            let server = try ControlServer(path: path)
            defer { server.stop() }
            #expect((try FileSystem.status(path)).permissions == 0o660)
            let answering = Task {
                for await connection in server.requests {
                    if connection.request?.command == "up" {
                        connection.respond(ControlResponse(ok: true, message: "session starting for \(connection.request?.minutes ?? 0) min"))
                    } else {
                        connection.respond(ControlResponse(ok: false, error: "unknown"))
                    }
                }
            }
            let response = try await Task.detached {
                try ControlClient.send(ControlRequest(command: "up", minutes: 15), to: path)
            }.value
            #expect(response == ControlResponse(ok: true, message: "session starting for 15 min"))
            let bad = try await Task.detached { try ControlClient.send(ControlRequest(command: "dance"), to: path) }.value
            #expect(bad.ok == false)
            server.stop()
            answering.cancel()
            let error = #expect(throws: AgentError.self) { try ControlClient.send(ControlRequest(command: "status"), to: dir.file("none.sock")) }
            #expect(error?.message.contains("no daemon is listening") == true)
        }

        @Test("status JSON keys are stable")
        func statusJSON() {
            let status = AgentStatus(
                state: "active",
                session: .init(endsAt: "2026-11-22T01:30:00Z", remainingSeconds: 600, requesters: ["+46701234567"], attempt: nil, lastError: nil),
                modem: .init(present: true, signalDBm: -71, registration: "home"), tunnel: nil, lastSession: nil, uptimeSeconds: 5,
                clock: "network", pid: 42
            )
            #expect(
                ControlJSON.line(status)
                    == #"{"clock":"network","modem":{"present":true,"registration":"home","signal_dbm":-71},"pid":42,"session":{"ends_at":"2026-11-22T01:30:00Z","remaining_seconds":600,"requesters":["+46701234567"]},"state":"active","uptime_seconds":5}"#
            )
        }

        @Test("session record: written atomically, read back; a corrupt record means 'assume everything is up'")
        func sessionRecord() throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            #expect(try SessionRecord.load(dir: dir.path) == nil)
            let record = SessionRecord(state: .active, owedSMS: ["+46701234567"], linkMode: "none", linkUp: true, tunnelStarted: true, endsAtUnix: 1_795_000_000, pid: 7, reason: "forwards listening")
            try record.save(dir: dir.path)
            #expect((try FileSystem.status(dir.file(SessionRecord.fileName))).permissions == 0o600)
            #expect(try SessionRecord.load(dir: dir.path) == record)
            dir.write(SessionRecord.fileName, "{not json")
            let worst = try #require(try SessionRecord.load(dir: dir.path))
            #expect(worst.linkUp && worst.tunnelStarted && worst.state == .tearingDown)
            try SessionRecord.remove(dir: dir.path)
            #expect(try SessionRecord.load(dir: dir.path) == nil)
        }

        @Test("clock synchronisation: the agent's answer is the kernel's (adjtimex read by another program) or timesyncd's")
        func clockSync() throws {
            // A second, independent reading: python3 calls adjtimex(2) through ctypes; STA_UNSYNC (0x40) in the status
            // word, or the TIME_ERROR return, means not synchronised.
            let script = """
                import ctypes, os
                buf = ctypes.create_string_buffer(512)
                state = ctypes.CDLL(None).adjtimex(buf)
                status = int.from_bytes(buf.raw[40:44], 'little', signed=True)
                synced = os.path.exists('/run/systemd/timesync/synchronized') or (state >= 0 and state != 5 and not status & 0x40)
                print('yes' if synced else 'no')
                """
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else {
                try Test.cancel("needs python3 to read adjtimex(2) independently (scripts/install-deps.sh installs it)")
            }
            let kernel = try shell("/usr/bin/python3", ["-c", script]).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(kernel == "yes" || kernel == "no", "\(kernel)")
            #expect(SystemClock.isSynchronized() == (kernel == "yes"), "the kernel says \(kernel)")
            #expect(SystemClock.now() > 1_600_000_000)
        }
    }
}
