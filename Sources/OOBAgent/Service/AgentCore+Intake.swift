import ATModem
import Logging
import PowerControl

extension AgentCore {
    // MARK: - The modem comes and goes

    /// The modem is open and initialised: send what is owed, read the network's time.
    func attach(_ modem: Modem) async {
        self.modem = modem
        if let t = try? await modem.networkTime(), let unix = t.unixTime {
            setNetworkTime(unix)
            if let offset = t.utcOffsetMinutes { localOffsetMinutes = offset }
        }
        if let q = try? await modem.signal() { signalDBm = q.dBm }
        if let r = try? await modem.registration() { registration = "\(r.status)" }
        let owed = pendingSMS
        pendingSMS = []
        for sms in owed { await sendSMS(to: sms.to, text: sms.text) }
    }

    /// The modem vanished or failed.
    func detach() { modem = nil }

    func noteSignal(_ dBm: Int?) { if let dBm { signalDBm = dBm } }

    // MARK: - One received SMS

    /// The listed messages minus those already judged that the modem refused to delete (which are forgotten once
    /// they leave the listing).
    func notYetJudged(_ listed: [StoredMessage]) -> [StoredMessage] {
        var still: [Int: StoredMessage.Content] = [:]
        for m in listed where undeletableSMS[m.index] == m.content { still[m.index] = m.content }
        undeletableSMS = still
        return listed.filter { undeletableSMS[$0.index] != $0.content }
    }

    /// Remembers a judged message that the modem refused to delete.
    func rememberUndeletable(_ message: StoredMessage) { undeletableSMS[message.index] = message.content }

    /// Judges one stored message and acts on it. Called before the message is deleted; the replay
    /// cache is saved first, so a crash between here and the delete cannot obey it twice.
    func process(_ stored: StoredMessage) async {
        let sms: InboundSMS
        switch stored.content {
        case .pdu(let hex):
            await process(pdu: hex, slot: "\(stored.index)")
            return
        case .text(let t):
            processedSMS += 1
            guard let ts = t.timestamp, let unix = ts.unixTime else {
                logger.info("text-mode SMS without a timestamp deleted", metadata: ["sms.index": "\(stored.index)"])
                return
            }
            // Text mode hides the user data header: without the first octet (+CSDH=1 on +CMGR) a multipart part
            // cannot be told from a single SMS, so it is never obeyed; nor is a sender whose type is unknown.
            guard let firstOctet = t.firstOctet, let typeOfAddress = t.typeOfAddress else {
                logger.warning(
                    "text-mode SMS without its header details (the modem ignores AT+CSDH=1) ignored: a multipart part cannot be told from a command",
                    metadata: ["sms.index": "\(stored.index)", "sms.sender": "\(t.address)"])
                return
            }
            sms = InboundSMS(
                sender: t.address, text: t.text, timestamp: unix, utcOffsetMinutes: ts.utcOffsetMinutes ?? 0,
                isMultipart: firstOctet & 0x40 != 0, senderIsInternational: typeOfAddress & 0x70 == 0x10,
                senderIsAlphanumeric: typeOfAddress & 0x70 == 0x50)
        default:
            processedSMS += 1
            logger.info("unreadable SMS entry deleted", metadata: ["sms.index": "\(stored.index)"])
            return
        }
        await process(sms)
    }

    /// Judges one PDU: from the storage (`slot` is its index) or routed straight to the port by `+CMT`
    /// (`slot` is `routed`; nothing to delete then).
    func process(pdu hex: String, slot: String) async {
        processedSMS += 1
        let decoded: DecodedPDU
        do {
            decoded = try PDUDecoder.decode(hex: hex)
        } catch {
            logger.info("malformed SMS deleted", metadata: ["sms.index": "\(slot)", "error": "\(error)"])
            logger.trace("malformed PDU", metadata: ["sms.pdu": "\(hex)"])
            return
        }
        guard case .deliver(let d) = decoded.pdu else {
            logger.info("non-DELIVER PDU deleted", metadata: ["sms.index": "\(slot)"])
            return
        }
        await process(
            InboundSMS(
                sender: d.sender, text: d.userData.text, timestamp: d.timestamp.secondsSince1970,
                utcOffsetMinutes: d.timestamp.utcOffsetMinutes, isMultipart: d.userData.concat != nil,
                senderIsAlphanumeric: d.senderIsAlphanumeric))
    }

    /// Judges one SMS and obeys it if it is authenticated.
    func process(_ sms: InboundSMS) async {
        let clockReading = bestClock()
        if clockReading == .unknown {
            logger.info("no trustworthy clock: auth.max_age not checked for this SMS", metadata: ["sms.sender": "\(sms.sender)"])
        }
        let before = authenticator.replayCache
        let lockoutBefore = authenticator.lockout
        let decision = authenticator.evaluate(sms, clock: clockReading)
        if authenticator.replayCache != before {
            do {
                try authenticator.replayCache.save(path: replayCachePath)
            } catch {
                logger.error("replay cache not saved", metadata: ["error": "\(error)"])
            }
        }
        if authenticator.lockout != lockoutBefore {
            do {
                try authenticator.lockout.save(path: lockoutPath)
            } catch {
                logger.error("bad-code lockout not saved", metadata: ["error": "\(error)"])
            }
        }
        // The verb as logged: anyone's first word, so cut short (the handler escapes what is left).
        let verb = sms.text.flatMap { SMSCommandWords($0)?.verb }.map { $0.count > 12 ? $0.prefix(12) + "…" : $0 } ?? "-"
        switch decision {
        case .ignore(let refusal):
            var metadata: Logger.Metadata = ["sms.sender": "\(sms.sender)", "sms.verb": "\(verb)", "sms.reason": "\(refusal.rawValue)"]
            metadata["clock"] = "\(clockReading.source)"
            switch refusal {
            case .lockedOut:
                if let n = PhoneNumber(sms.sender), let until = authenticator.lockoutEnd(n) {
                    metadata["lockout.until"] = "\(Self.iso8601(until))"
                }
                logger.critical("SMS refused: this sender is locked out after repeated bad codes, whatever its code", metadata: metadata)
            case .badCode, .replayed:
                logger.warning("SMS refused", metadata: metadata)
                let now = clockReading.unixTime ?? sms.timestamp
                if refusal == .badCode, let n = PhoneNumber(sms.sender), authenticator.lockoutStarted(n, now: now) {
                    logger.critical(
                        "too many bad codes: this sender is locked out; someone may be guessing codes",
                        metadata: [
                            "sms.sender": "\(n.e164)", "lockout.seconds": "\(CommandAuthenticator.lockoutPeriod)",
                            "lockout.bad_codes": "\(CommandAuthenticator.maxBadCodes)",
                        ]
                    )
                }
            default:
                logger.info("SMS ignored", metadata: metadata)
            }
        case .usage(let usage, let sender):
            replyOffsets[sender] = sms.utcOffsetMinutes
            logger.info("authenticated SMS with wrong words", metadata: ["sms.sender": "\(sender.e164)", "sms.verb": "\(verb)"])
            await sendSMS(to: sender.e164, text: SMSReply.failed(usage.text))
        case .obey(let command, let sender):
            replyOffsets[sender] = sms.utcOffsetMinutes
            logger.info("authenticated command", metadata: ["sms.sender": "\(sender.e164)", "sms.verb": "\(command.verb)"])
            await obey(command, from: sender, offset: sms.utcOffsetMinutes)
        }
    }

    private func obey(_ command: SMSCommand, from sender: PhoneNumber, offset: Int) async {
        let requester = AgentStateMachine.Requester.sms(sender)
        switch command {
        case .up(let minutes): await handle(.command(.up(minutes: minutes), from: requester))
        case .down: await handle(.command(.down, from: requester))
        case .extend(let minutes): await handle(.command(.extend(minutes: minutes), from: requester))
        case .status: await sendSMS(to: sender.e164, text: statusSMS(offset: offset))
        case .power(let outlet, let action):
            let requester = PowerRequester(channel: "sms", identity: sender.e164, sessionActive: machine.stateName != .idle)
            powerAction(action, outlet: outlet, requester: requester) { core, text in
                await core.sendSMS(to: sender.e164, text: text)
            }
        }
    }

    /// Runs a `POWER` action in its own task (a cycle takes `off_time`; SMS intake and the control socket go on
    /// meanwhile) and hands the reply text (`POWER router cycled` / `FAILED: <reason>`) to `reply`.
    func powerAction(
        _ action: SMSCommand.PowerAction, outlet: String, requester: PowerRequester,
        reply: @escaping @Sendable (AgentCore, String) async -> Void
    ) {
        logger.info(
            "power requested",
            metadata: ["power.outlet": "\(outlet)", "power.action": "\(action.rawValue)", "power.by": "\(requester)"])
        guard let power else {
            let reason = config.power.isEmpty ? "no outlet named \(outlet) (no [[power]] configured)" : "power control could not be set up (see the log)"
            spawn { core in await reply(core, SMSReply.failed(reason)) }
            return
        }
        let powerAction = PowerAction(rawValue: action.rawValue) ?? .cycle
        spawn { core in
            let text: String
            do {
                let result = try await power.perform(powerAction, on: outlet, requestedBy: requester)
                core.logger.info(
                    "power done",
                    metadata: ["power.outlet": "\(result.outlet)", "power.action": "\(action.rawValue)", "power.by": "\(requester)"])
                text = SMSReply.power(result.outlet, action)
            } catch {
                core.logger.warning(
                    "power failed",
                    metadata: ["power.outlet": "\(outlet)", "power.action": "\(action.rawValue)", "power.by": "\(requester)",
                               "error": "\(error)"])
                text = SMSReply.failed((error as? PowerError)?.message ?? "\(error)")
            }
            await reply(core, text)
        }
    }

    // MARK: - Control socket

    func control(_ request: ControlRequest?) async -> ControlResponse {
        guard let request else { return ControlResponse(ok: false, error: "not a valid request line") }
        switch request.command {
        case "status":
            return ControlResponse(ok: true, status: status())
        case "up":
            if let m = request.minutes, m < 1 { return ControlResponse(ok: false, error: "minutes must be at least 1") }
            let wasIdle = machine.stateName == .idle
            await handle(.command(.up(minutes: request.minutes), from: .local))
            if let ends = machine.endsAt {
                return ControlResponse(ok: true, message: "UP until \(clockText(ends, offset: localOffsetMinutes))")
            }
            return ControlResponse(ok: true, message: wasIdle ? "session starting (state \(machine.stateName.rawValue))" : "session already \(machine.stateName.rawValue)")
        case "down":
            if machine.stateName == .idle { return ControlResponse(ok: true, message: "no session was running") }
            await handle(.command(.down, from: .local))
            return ControlResponse(ok: true, message: "session ending")
        case "power":
            guard let outlet = request.outlet, let actionText = request.action,
                let action = SMSCommand.PowerAction(rawValue: actionText.lowercased())
            else {
                return ControlResponse(ok: false, error: "power needs an outlet and an action (cycle, on or off)")
            }
            let requester = PowerRequester(channel: "socket", identity: request.by ?? "local", sessionActive: true)
            let (answers, answer) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
            powerAction(action, outlet: outlet, requester: requester) { _, text in
                answer.yield(text)
                answer.finish()
            }
            for await text in answers {
                return text.hasPrefix("FAILED: ")
                    ? ControlResponse(ok: false, error: String(text.dropFirst(8))) : ControlResponse(ok: true, message: text)
            }
            return ControlResponse(ok: false, error: "the power action was abandoned (the daemon is stopping)")
        default:
            return ControlResponse(ok: false, error: "unknown command \"\(request.command)\"; use status, up, down or power")
        }
    }
}
