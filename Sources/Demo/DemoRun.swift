#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import ATModem
import Foundation
import ModemEmulator
import OOBAgent
import Synchronization

/// What `oob-agent demo` is asked to do.
public struct DemoOptions: Sendable {
    /// The `oob-agent` binary the demo runs as the daemon and on the box (normally its own, `/proc/self/exe`).
    public var executable: String
    /// Keep the session open (2 hours) until Ctrl-C, for the person to try `ssh -p` and `oob-agent console`.
    public var interactive = false
    /// Keep the temp directory (keys, config, logs) at the end.
    public var keep = false
    /// The OpenSSH server to run as the throwaway jump host.
    public var sshd = "/usr/sbin/sshd"
    /// The owner's allow-listed number.
    public var owner = "+46701234567"
    /// The router's host name (its prompt).
    public var routerName = "gw-site1"

    /// Options with defaults for everything but the binary.
    public init(executable: String) {
        self.executable = executable
    }
}

/// Set by SIGINT/SIGTERM while the demo runs.
private let interruptSignal = Atomic<Int32>(0)

/// `oob-agent demo`: the whole lifecycle on one machine, no hardware, narrated step by step with timings.
///
/// The stage: a ``ModemEmulator`` on a pty (with `^RSSI` noise, like a real Huawei stick), a
/// ``RouterConsoleEmulator`` on a pty, a ``ThrowawayJumpHost`` (OpenSSH sshd on 127.0.0.1) as the jump host with
/// the agent's key restricted as `oob-agent jumphost-setup` prints it, a second one as the box's own sshd with an
/// "owner" key, a temp configuration (link mode `none`, 1-minute sessions) and TOTP secret. The daemon is the
/// real `oob-agent run` (the same binary, as a child process), so the demo exercises exactly what ships. The demo
/// plays the network: it delivers `UP <code>` from the allow-listed number through the emulator and reads the
/// replies from the emulator's outbox. Everything stays on loopback; every child is ended by its PID; the temp
/// directory is removed (unless `keep`).
public final class DemoRun {
    let options: DemoOptions
    let say: DemoNarrator
    let tools: OpenSSHTools
    let user: String

    // The stage.
    var dir = ""
    var modem: ModemEmulator?
    var router: RouterConsoleEmulator?
    var jumpHost: ThrowawayJumpHost?
    var boxSSHD: ThrowawayJumpHost?
    var daemon: ChildProcess?
    var relay: ChildProcess?
    var login: ChildProcess?
    var pids: [pid_t] = []
    var jumpPort = 0, boxPort = 0, forwardPort = 0
    var configPath = "", ownerKey = "", ownerKnownHosts = ""

    // What the narration has seen.
    var logOffset: UInt64 = 0
    var logPartial: [UInt8] = []
    var logLines: [String] = []
    var state = "idle"
    var states: [String] = []
    var outboxSeen = 0
    var smsTexts: [String] = []
    var authenticated = false
    var teardownComplete = false
    /// The demo sent the daemon SIGTERM: its modem closing is expected, not news.
    var daemonStopping = false
    /// SMS the daemon refused or ignored so far.
    var refusals = 0

    /// Checks that OpenSSH is installed.
    /// - Throws: ``DemoError`` `.missingTool` naming the package to install.
    public init(options: DemoOptions, narrator: DemoNarrator = DemoNarrator()) throws(DemoError) {
        self.options = options
        self.say = narrator
        self.tools = try OpenSSHTools.locate(sshd: options.sshd)
        if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name {
            user = String(cString: name)
        } else {
            user = "root"
        }
    }

    /// Runs the whole story, then tears everything down (also after a failure or Ctrl-C).
    /// - Throws: ``DemoError`` naming the step that failed and what to do.
    public func run() throws(DemoError) {
        interruptSignal.store(0, ordering: .relaxed)
        let previous = [SIGINT, SIGTERM].map { s in
            signal(s) { number in interruptSignal.store(number, ordering: .relaxed) }
        }
        let previousPipe = signal(SIGPIPE, SIG_IGN)
        defer {
            signal(SIGINT, previous[0])
            signal(SIGTERM, previous[1])
            signal(SIGPIPE, previousPipe)
        }
        var failure: DemoError?
        do {
            try story()
        } catch {
            failure = error
            say.line("")
            say.step("FAILED: \(error.message)")
            if error.code != .interrupted && error.code != .missingTool { showDaemonLogTail() }
        }
        cleanUp(succeeded: failure == nil)
        if let failure { throw failure }
    }

    // MARK: - The story

    private func story() throws(DemoError) {
        let started = Clock.milliseconds()
        say.line("oob-agent demo: the whole lifecycle on this machine, with no modem, router or server needed.")
        say.line("An emulated modem and router console on ptys, a throwaway OpenSSH jump host on 127.0.0.1,")
        say.line("and the real daemon (\(options.executable) run) in the middle.")
        try setUpStage()
        try startDaemon()
        try session()
        if options.interactive {
            try interactiveWait()
        } else {
            try waitForExpiry()
        }
        try checkTornDown()
        let seconds = Double(Clock.milliseconds() - started) / 1000
        let ending = options.interactive ? "Ctrl-C" : "expiry"
        say.heading("Done: SMS → authenticated → link → tunnel → login → router prompt → \(ending) → link-down SMS,")
        say.line("in \(String(format: "%.1f", seconds)) s. Cleaning up:")
    }

    private func setUpStage() throws(DemoError) {
        say.heading("Setting up the stage")
        var template = Array("/tmp/oob-demo-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw DemoError(.io, "cannot create a temp directory under /tmp: \(ChildProcess.errnoText()); fix: free space in /tmp")
        }
        dir = String(cString: made)
        say.step("temp directory \(dir) (keys, config, logs; removed at the end unless --keep)")

        // The modem, noisy like a real Huawei stick, its clock at the network's time.
        let offsetMinutes = TimeZone.current.secondsFromGMT() / 60
        let now = Int64(Date().timeIntervalSince1970)
        var modemConfig = ModemEmulator.Configuration(noise: .betweenReplies)
        if let t = try? SMSTimestamp(secondsSince1970: now, utcOffsetMinutes: offsetMinutes) {
            modemConfig.networkTime = ModemClock(
                year: t.year, month: t.month, day: t.day, hour: t.hour, minute: t.minute, second: t.second,
                utcOffsetMinutes: offsetMinutes)
        }
        let modem: ModemEmulator
        do {
            modem = try ModemEmulator(configuration: modemConfig)
        } catch {
            throw DemoError(.io, "cannot open a pty for the modem emulator: \(error); fix: mount devpts (/dev/pts)")
        }
        self.modem = modem
        guard let modemDevice = modem.waitForDevice() else {
            throw DemoError(.io, "the modem emulator has no pty; fix: mount devpts (/dev/pts)")
        }
        // The daemon opens the emulator's pty itself: this process made it (holds its master), which the daemon's
        // exclusivity check accepts, as it accepts socat's or any emulator's pty.
        say.step("modem: an emulated Huawei E1752 at \(modemDevice) (SIM ready, registered, ^RSSI noise on)")

        let router: RouterConsoleEmulator
        do {
            router = try RouterConsoleEmulator(hostname: options.routerName)
        } catch {
            throw DemoError(.io, "cannot open a pty for the router console: \(error); fix: mount devpts (/dev/pts)")
        }
        self.router = router
        say.step("router: an emulated router's serial console on \(router.slavePath) (powered off for now)")

        // Keys and the TOTP secret.
        let agentKey = dir + "/agent_ed25519"
        ownerKey = dir + "/owner_ed25519"
        try tools.generateKey(at: agentKey, comment: "oob-agent@demo-box")
        try tools.generateKey(at: ownerKey, comment: "owner@laptop")
        let secret = Enrollment.newSecret()
        try write(dir + "/totp.secret", secret + "\n", mode: 0o600)
        say.step("keys: the agent's \(agentKey), the owner's \(ownerKey); TOTP secret \(dir)/totp.secret")

        // Ports and the configuration.
        jumpPort = freeLoopbackPort()
        boxPort = freeLoopbackPort()
        repeat { forwardPort = freeLoopbackPort() } while forwardPort == jumpPort || forwardPort == boxPort
        configPath = dir + "/agent.toml"
        let duration = options.interactive ? "2h" : "1m"
        let config = """
            # oob-agent demo: a throwaway configuration (see etc/oob-agent/agent.toml for a real one).
            [modem]
            port = "\(modemDevice)"
            poll = "2s"

            [auth]
            senders = ["\(options.owner)"]
            totp_secret_file = "\(dir)/totp.secret"

            [link]
            mode = "none"

            [tunnel]
            host = "127.0.0.1"
            port = \(jumpPort)
            user = "\(user)"
            identity = "\(agentKey)"
            known_hosts = "\(dir)/known_hosts"
            forwards = ["127.0.0.1:\(forwardPort):127.0.0.1:\(boxPort)"]
            keepalive = "10s"

            [session]
            duration = "\(duration)"
            max = "4h"
            attempts = 2

            [console]
            device = "\(router.slavePath)"
            baud = 115200
            socket = "\(dir)/console.sock"
            log = "\(dir)/console.log"

            [state]
            dir = "\(dir)/state"
            control_socket = "\(dir)/agent.sock"

            """
        try write(configPath, config, mode: 0o600)
        say.step("config \(configPath):")
        say.detail("link mode none (this machine's own route stands in for the cellular network),")
        say.detail("\(options.interactive ? "2-hour" : "1-minute") sessions, forward 127.0.0.1:\(forwardPort) on the jump host → 127.0.0.1:\(boxPort) on the box,")
        say.detail("console \(router.slavePath), control socket \(dir)/agent.sock")

        // The jump host, with the agent's key restricted exactly as `jumphost-setup` prints it.
        let setup = try ChildProcess([options.executable, "jumphost-setup", "--config", configPath], output: .pipe)
        var setupOutput: [UInt8] = []
        let end = Clock.milliseconds() + 20_000
        while setup.isRunning && Clock.milliseconds() < end {
            setupOutput += setup.readAvailable()
            usleep(10_000)
        }
        setupOutput += setup.readAvailable()
        let setupText = String(decoding: setupOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard setup.exitCode == 0, setupText.hasPrefix("restrict") else {
            setup.terminate()
            throw DemoError(.unexpected, "`oob-agent jumphost-setup --config \(configPath)` failed: \(setupText)")
        }
        let jumpHost = try ThrowawayJumpHost(
            directory: dir, name: "jumphost", port: jumpPort, authorizedKeys: [setupText], tools: tools)
        self.jumpHost = jumpHost
        pids.append(jumpHost.pid)
        try write(dir + "/known_hosts", jumpHost.knownHostsLine() + "\n", mode: 0o644)
        say.step("jump host: OpenSSH sshd on 127.0.0.1:\(jumpPort) (pid \(jumpHost.pid)), its host key pinned in \(dir)/known_hosts")
        say.detail("the agent's key authorized as `oob-agent jumphost-setup` prints it:")
        say.detail("  " + abbreviateKey(setupText))

        // The box's own sshd: what the forward leads to, for the owner's key.
        let ownerPublic = ((try? String(contentsOfFile: ownerKey + ".pub", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let box = try ThrowawayJumpHost(
            directory: dir, name: "box", port: boxPort, authorizedKeys: [ownerPublic], tools: tools)
        self.boxSSHD = box
        pids.append(box.pid)
        ownerKnownHosts = dir + "/owner_known_hosts"
        try write(ownerKnownHosts, box.knownHostsLine(port: forwardPort) + "\n", mode: 0o644)
        say.step("the box's own sshd on 127.0.0.1:\(boxPort) (pid \(box.pid)): the owner's key authorized")
    }

    private func startDaemon() throws(DemoError) {
        say.heading("The box")
        let daemon = try ChildProcess(
            [options.executable, "run", "--config", configPath], output: .file(dir + "/daemon.log"),
            environment: ["JOURNAL_STREAM": nil, "NOTIFY_SOCKET": nil, "WATCHDOG_USEC": nil, "WATCHDOG_PID": nil])
        self.daemon = daemon
        pids.append(daemon.pid)
        say.step("daemon: oob-agent run --config \(configPath) (pid \(daemon.pid)); its log: \(dir)/daemon.log")
        try waitUntil("the daemon reported its modem ready", seconds: 30) {
            logLines.contains { $0.contains("modem ready") }
        }
        // The console relay: the daemon's own once it relays the console, else the same relay run beside it.
        let socket = dir + "/console.sock"
        let relayDeadline = Clock.milliseconds() + 3000
        while access(socket, F_OK) != 0 && Clock.milliseconds() < relayDeadline {
            pump()
            usleep(50_000)
        }
        if access(socket, F_OK) == 0 {
            say.step("console: the daemon relays the router's console on \(socket)")
        } else {
            let relay = try ChildProcess(
                [
                    options.executable, "console-relay", "--device", router!.slavePath, "--socket", socket, "--log",
                    dir + "/console.log", "--baud", "115200",
                ], output: .file(dir + "/console-relay.log"))
            self.relay = relay
            pids.append(relay.pid)
            try waitUntil("the console relay opened its socket", seconds: 15) { access(socket, F_OK) == 0 }
            say.step("console: relayed on \(socket) by `oob-agent console-relay` (pid \(relay.pid))")
            say.detail("(this build's daemon does not relay the console itself yet; the relay is the same code)")
        }
        router?.start()
        try waitUntil("the router's login prompt reached the console log", seconds: 15) {
            consoleLog().contains("login:")
        }
        let lastLine = consoleLog().split(whereSeparator: { $0.isNewline }).last.map(String.init) ?? ""
        say.step("router: powered on; boot log and login prompt on its console: \"\(lastLine.trimmingCharacters(in: .whitespaces))\"")
    }

    private func session() throws(DemoError) {
        guard let modem else { return }
        say.heading("The session")
        let secret = ((try? String(contentsOfFile: dir + "/totp.secret", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let now = Int64(Date().timeIntervalSince1970)
        let code: String
        let pdus: [String]
        do {
            code = try TOTP(base32: secret).code(at: now)
            let stamp = try SMSTimestamp(secondsSince1970: now, utcOffsetMinutes: TimeZone.current.secondsFromGMT() / 60)
            pdus = try SMSEncoder.deliverPDUs(from: options.owner, text: "UP \(code)", timestamp: stamp)
        } catch {
            throw DemoError(.unexpected, "cannot build the SMS: \(error)")
        }
        // First a stranger who guessed a code: ignored, and no reply (an SMS costs money and would reveal the box).
        let stranger = "+46709999999"
        let guess = code == "123456" ? "654321" : "123456"
        if let stamp = try? SMSTimestamp(secondsSince1970: now, utcOffsetMinutes: TimeZone.current.secondsFromGMT() / 60),
            let strangerPDUs = try? SMSEncoder.deliverPDUs(from: stranger, text: "UP \(guess)", timestamp: stamp)
        {
            for pdu in strangerPDUs { modem.deliver(pdu: pdu) }
            say.step("SMS from a stranger, \(stranger): \"UP \(guess)\" (not an allowed sender, a guessed code)")
            let seen = refusals
            try waitUntil("the daemon judged the stranger's SMS", seconds: 20) { refusals > seen }
        }
        var slot: Int?
        for pdu in pdus { slot = modem.deliver(pdu: pdu) }
        say.step("SMS delivered: \"UP \(code)\" from \(options.owner) (the allow-listed owner; \(code) is the TOTP code of now)")
        say.detail("the network stores it in SIM slot \(slot.map(String.init) ?? "?") and the modem announces it with +CMTI")
        try waitUntil("the tunnel came up (state active)", seconds: 60) { state == "active" }
        try waitUntil("the UP reply SMS was sent", seconds: 20) { smsTexts.contains { $0.hasPrefix("UP") } }
        say.line("")
        say.line("    now run: \(sshCommand())")
        say.line("")
        try scriptedLogin()
        if let status = try? ControlClient.send(
            ControlRequest(command: "status"), to: dir + "/agent.sock", timeout: .seconds(5)
        ).status {
            var text = "status (oob-agent status): \(status.state)"
            if let s = status.session, let left = s.remainingSeconds {
                text += ", until \(s.endsAt ?? "?") (\(left > 300 ? "\(left / 60) min" : "\(left) s") left)"
            }
            if let t = status.tunnel {
                text += "; tunnel \(t.bytesIn) B in, \(t.bytesOut) B out, \(t.channelsTotal) channel(s) so far"
            }
            say.step(text)
        }
        // The same SMS again, as someone who read it off the owner's phone would send it: a replay.
        let seen = refusals
        // A new message (its own timestamp), not the network delivering the old one twice.
        let later = max(Int64(Date().timeIntervalSince1970), now + 1)
        if let stamp = try? SMSTimestamp(secondsSince1970: later, utcOffsetMinutes: TimeZone.current.secondsFromGMT() / 60),
            let replay = try? SMSEncoder.deliverPDUs(from: options.owner, text: "UP \(code)", timestamp: stamp)
        {
            for pdu in replay { modem.deliver(pdu: pdu) }
        }
        say.step("SMS \"UP \(code)\" again from \(options.owner) (a replay, by someone who read it off the phone)")
        try waitUntil("the daemon judged the replayed SMS", seconds: 20) { refusals > seen }
    }

    private func scriptedLogin() throws(DemoError) {
        let remote = "'\(options.executable)' console --config '\(configPath)'"
        let login = try ChildProcess(sshArguments(batch: true) + [remote], output: .pipe, stdinPipe: true)
        self.login = login
        pids.append(login.pid)
        say.step("scripted login through the forward (ssh with the owner's key, pid \(login.pid)):")
        say.detail("ssh -p \(forwardPort) … \(user)@127.0.0.1 \"oob-agent console --config \(configPath)\"")
        let host = options.routerName
        // What the person would type at each prompt of the router's console.
        // Enter first, as a person does at a quiet console: the router answers with a fresh login prompt.
        let script: [(expect: String, send: String)] = [
            ("", "\r"), ("login: ", "admin\r"), ("Password: ", "demo\r"), ("\(host)# ", "uptime\r"), ("load average", ""),
            ("\(host)# ", "~."),
        ]
        var output: [UInt8] = []
        var cursor = 0
        var step = 0
        let end = Clock.milliseconds() + 30_000
        while login.isRunning && Clock.milliseconds() < end && interruptSignal.load(ordering: .relaxed) == 0 {
            output += login.readAvailable()
            if step < script.count, script[step].expect.isEmpty {
                login.writeInput(script[step].send)
                step += 1
            } else if step < script.count, let r = find(Array(script[step].expect.utf8), in: output, from: cursor) {
                cursor = r
                login.writeInput(script[step].send)
                step += 1
            }
            pump()
            usleep(20_000)
        }
        output += login.readAvailable()
        let exited = !login.isRunning
        if !exited { login.terminate() }
        let transcript = String(decoding: output, as: UTF8.self)
        for line in transcript.replacingOccurrences(of: "\r\n", with: "\n").split(
            separator: "\n", omittingEmptySubsequences: true)
        {
            let clean = String(line.filter { $0 != "\r" && ($0.asciiValue.map { $0 >= 0x20 } ?? true) })
            if !clean.trimmingCharacters(in: .whitespaces).isEmpty { say.detail("│ " + clean) }
        }
        try checkInterrupted()
        guard step == script.count, exited, login.exitCode == 0 else {
            throw DemoError(
                .unexpected,
                "the scripted login through the forward did not reach the router's prompt "
                    + "(step \(step) of \(script.count), ssh \(exited ? "exited \(login.exitCode ?? -1)" : "still running")); "
                    + "the box's sshd log: \(boxSSHD?.log.suffix(400) ?? "")")
        }
        say.step("login through the forward succeeded: ssh reached the box's sshd via 127.0.0.1:\(forwardPort) on the jump host")
        say.step("router prompt seen on the console: \"\(host)#\" (logged in as admin, ran uptime, detached with ~.)")
    }

    private func waitForExpiry() throws(DemoError) {
        let left = (try? ControlClient.send(ControlRequest(command: "status"), to: dir + "/agent.sock", timeout: .seconds(5)))?
            .status?.session?.remainingSeconds ?? 60
        say.step("waiting for the session to expire (about \(left) s; an EXTEND SMS would add time)…")
        try waitUntil("the session expired", seconds: left + 60) { states.contains("tearing_down") }
        try waitUntil("the daemon went idle", seconds: 45) { state == "idle" && teardownComplete }
        try waitUntil("the link-down SMS was sent", seconds: 20) { smsTexts.contains { $0.hasPrefix("DOWN") } }
    }

    private func interactiveWait() throws(DemoError) {
        let exe = options.executable
        say.heading("Your turn: the session stays open for 2 hours. From another terminal, try:")
        say.line("  \(sshCommand())")
        say.line("      the box's sshd through the jump host's forward")
        say.line("      (on a real site: ssh -J you@jump.example.net -p 31337 root@127.0.0.1)")
        say.line("  \(exe) console --config \(configPath)")
        say.line("      the router's console (its recent output first; log in as admin, any password; ~. detaches)")
        say.line("  \(exe) status --config \(configPath)")
        say.line("  \(exe) down --config \(configPath)")
        say.line("      ends the session now, as a DOWN SMS would")
        say.line("Press Ctrl-C here to end the demo: the daemon tears the session down and sends the link-down SMS.")
        while interruptSignal.load(ordering: .relaxed) == 0 {
            pump()
            if let daemon, !daemon.isRunning {
                throw DemoError(.unexpected, "the daemon exited (code \(daemon.exitCode ?? -1)) during the session")
            }
            usleep(100_000)
        }
        interruptSignal.store(0, ordering: .relaxed)
        say.line("")
        say.step("Ctrl-C: stopping the daemon with SIGTERM; it tears the session down first")
        guard let daemon else { return }
        daemonStopping = true
        kill(daemon.pid, SIGTERM)
        try waitUntil("the daemon stopped", seconds: 50, daemonMayExit: true) { !daemon.isRunning }
        pump()
        if state != "idle" && !teardownComplete && !states.contains("tearing_down") {
            say.step("the session had already ended")
        }
    }

    private func checkTornDown() throws(DemoError) {
        try waitUntil("the forward port on the jump host closed", seconds: 15, daemonMayExit: true) {
            !isLoopbackListening(forwardPort)
        }
        say.step("forward port 127.0.0.1:\(forwardPort) closed on the jump host")
        if let daemon, daemon.isRunning {
            let status = try? ControlClient.send(
                ControlRequest(command: "status"), to: dir + "/agent.sock", timeout: .seconds(5)
            ).status
            guard let status, status.state == "idle" else {
                throw DemoError(.unexpected, "the daemon is not idle after the session: \(status?.state ?? "no answer")")
            }
            say.step("daemon idle (oob-agent status: \(status.state); last session: \(status.lastSession?.reason ?? "?"))")
        }
    }

    // MARK: - Following the daemon and the network

    /// Reads the daemon's new log lines and the modem's outbox; narrates what happened.
    func pump() {
        if let bytes = readNewLog() {
            logPartial += bytes
            while let nl = logPartial.firstIndex(of: 0x0A) {
                let line = String(decoding: logPartial[..<nl], as: UTF8.self)
                logPartial.removeSubrange(...nl)
                logLines.append(line)
                narrate(logLine: line)
            }
        }
        if let modem {
            let outbox = modem.outbox
            while outboxSeen < outbox.count {
                let m = outbox[outboxSeen]
                outboxSeen += 1
                var text = m.text
                var to = m.recipient
                if let pdu = m.pdu, let decoded = try? PDUDecoder.decode(hex: pdu), case .submit(let s) = decoded.pdu {
                    text = text ?? s.userData.text
                    to = to ?? s.recipient
                }
                smsTexts.append(text ?? "")
                say.step("SMS sent by the box to \(to ?? "?"): \"\(text ?? "?")\" (read from the modem's outbox)")
            }
        }
    }

    private func narrate(logLine line: String) {
        let fields = line.split(separator: " ", maxSplits: 2).map(String.init)
        guard fields.count == 3 else { return }
        let level = fields[1]
        let rest = fields[2]
        func value(_ key: String) -> String { Self.metadata(key, in: rest) ?? "?" }
        if rest.hasPrefix("authenticated command") {
            authenticated = true
            say.step("authenticated: \(value("sms.verb")) from \(value("sms.sender")) (allow-listed sender, valid code, never used before)")
        } else if rest.hasPrefix("session state changed") {
            let to = value("session.to")
            state = to
            states.append(to)
            switch to {
            case "linking": say.step("link: coming up (mode none: this machine's route stands in for the cellular data link)")
            case "verifying": say.step("link up; checking the route to the jump host")
            case "connecting":
                say.step("route checked; SSH to the jump host 127.0.0.1:\(jumpPort) (host key pinned, the agent's key)")
            case "active":
                let listening = isLoopbackListening(forwardPort)
                say.step("tunnel up: the jump host \(listening ? "listens" : "should listen") on 127.0.0.1:\(forwardPort) → the box's sshd 127.0.0.1:\(boxPort)")
            case "tearing_down": say.step("session ending (\(value("session.reason"))): tearing down")
            case "idle": say.step("daemon idle again")
            default: say.step("session state: \(to)")
            }
        } else if rest.hasPrefix("teardown complete") {
            teardownComplete = true
            say.step("teardown complete in \(value("teardown.ms")) ms: forward cancelled, SSH closed, link down")
        } else if rest.hasPrefix("SMS refused") || rest.hasPrefix("SMS ignored") {
            refusals += 1
            let reason = value("sms.reason")
            say.step("\(rest.hasPrefix("SMS refused") ? "refused" : "ignored") (\(reason)): \(value("sms.verb")) from \(value("sms.sender")); deleted, no reply (no SMS cost, nothing revealed)")
        } else if daemonStopping && rest.hasPrefix("modem lost") {
            return
        } else if level == "warning" || level == "error" || level == "critical" {
            say.step("daemon \(level): \(rest)")
        }
    }

    /// The value of `key=` in a log line's metadata (quoted or bare).
    static func metadata(_ key: String, in text: String) -> String? {
        guard let r = text.range(of: " \(key)=") else { return nil }
        var rest = text[r.upperBound...]
        if rest.first == "\"" {
            rest = rest.dropFirst()
            var out = ""
            var escaped = false
            for ch in rest {
                if escaped {
                    out.append(ch == "n" ? "\n" : ch)
                    escaped = false
                } else if ch == "\\" {
                    escaped = true
                } else if ch == "\"" {
                    break
                } else {
                    out.append(ch)
                }
            }
            return out
        }
        return String(rest.prefix(while: { $0 != " " }))
    }

    private func readNewLog() -> [UInt8]? {
        let fd = open(dir + "/daemon.log", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard lseek(fd, off_t(logOffset), SEEK_SET) >= 0 else { return nil }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        logOffset += UInt64(out.count)
        return out.isEmpty ? nil : out
    }

    /// Pumps the narration until `condition` holds.
    /// - Throws: `.timeout` naming `what`; `.interrupted` on Ctrl-C; `.unexpected` when the daemon dies.
    private func waitUntil(
        _ what: String, seconds: Int, daemonMayExit: Bool = false, _ condition: () -> Bool
    ) throws(DemoError) {
        let end = Clock.milliseconds() + Int64(seconds) * 1000
        while true {
            pump()
            if condition() { return }
            try checkInterrupted()
            if !daemonMayExit, let daemon, !daemon.isRunning {
                throw DemoError(
                    .unexpected,
                    "the daemon exited (code \(daemon.exitCode ?? -1)) before \(what); its log is \(dir)/daemon.log (run with --keep to read it)")
            }
            if Clock.milliseconds() > end {
                throw DemoError(.timeout, "timed out after \(seconds) s waiting until \(what)")
            }
            usleep(50_000)
        }
    }

    private func checkInterrupted() throws(DemoError) {
        let s = interruptSignal.load(ordering: .relaxed)
        if s != 0 {
            throw DemoError(.interrupted, "interrupted by \(s == SIGINT ? "Ctrl-C" : "signal \(s)"); everything is torn down")
        }
    }

    private func showDaemonLogTail() {
        guard !logLines.isEmpty else { return }
        say.line("The daemon's last log lines:")
        for line in logLines.suffix(15) { say.line("  \(line)") }
    }

    // MARK: - Cleaning up

    private func cleanUp(succeeded: Bool) {
        if let login, login.isRunning { login.terminate() }
        if let daemon {
            if daemon.isRunning {
                daemonStopping = true
                // SIGTERM: the daemon tears down a session that is still up and sends its link-down SMS first.
                daemon.terminate(signal: SIGTERM, graceMilliseconds: 50_000)
            }
            pump()
            say.step("daemon stopped (pid \(daemon.pid), exit code \(daemon.exitCode.map(String.init) ?? "?"))")
        }
        if let relay {
            relay.terminate()
            say.step("console relay stopped (pid \(relay.pid))")
        }
        if let jumpHost {
            jumpHost.stop()
            say.step("jump host sshd stopped (pid \(jumpHost.pid))")
        }
        if let boxSSHD {
            boxSSHD.stop()
            say.step("the box's sshd stopped (pid \(boxSSHD.pid))")
        }
        router?.stop()
        modem?.stop()
        if modem != nil || router != nil { say.step("modem and router emulators stopped") }
        let left = pids.filter { ChildProcess.isAlive($0) }
        if !pids.isEmpty {
            if left.isEmpty {
                say.step("no child process left (pids \(pids.map(String.init).joined(separator: ", ")) all gone)")
            } else {
                say.step("WARNING: still running: pids \(left.map(String.init).joined(separator: ", "))")
            }
        }
        guard !dir.isEmpty else { return }
        if options.keep {
            say.step("kept \(dir) (--keep): agent.toml, daemon.log, console.log, *_sshd.log, keys")
        } else {
            try? FileManager.default.removeItem(atPath: dir)
            say.step("temp directory \(dir) removed")
        }
    }

    // MARK: - Helpers

    private func sshArguments(batch: Bool) -> [String] {
        var a = [tools.ssh]
        if batch { a += ["-F", "/dev/null", "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"] }
        a += [
            "-p", "\(forwardPort)", "-i", ownerKey, "-o", "UserKnownHostsFile=\(ownerKnownHosts)", "-o",
            "IdentitiesOnly=yes",
        ]
        if batch { a += ["-o", "StrictHostKeyChecking=yes"] }
        return a + ["\(user)@127.0.0.1"]
    }

    /// The command the person runs to reach the box.
    func sshCommand() -> String {
        (["ssh"] + sshArguments(batch: false).dropFirst()).joined(separator: " ")
    }

    private func consoleLog() -> String {
        (try? readSmallFile(dir + "/console.log")) ?? ""
    }

    private func write(_ path: String, _ text: String, mode: Int) throws(DemoError) {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
        else {
            throw DemoError(.io, "cannot write \(path): \(ChildProcess.errnoText())")
        }
    }

    private func abbreviateKey(_ line: String) -> String {
        line.split(separator: " ").map { part in
            part.hasPrefix("AAAA") && part.count > 24 ? part.prefix(12) + "…" + part.suffix(8) : part
        }.joined(separator: " ")
    }

    private func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        var i = start
        while i <= haystack.count - needle.count {
            if haystack[i] == needle[0] && Array(haystack[i..<i + needle.count]) == needle { return i + needle.count }
            i += 1
        }
        return nil
    }
}
