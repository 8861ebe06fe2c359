// Writer ownership and attach/detach of the console relay (style point 7: a pure value type, no I/O).

/// A process connected to the relay, as the kernel identified it (`SO_PEERCRED`).
public struct ConsolePeer: Hashable, Sendable, CustomStringConvertible {
    /// The peer's user id.
    public var uid: UInt32
    /// The peer's process id at connect time.
    public var pid: Int32
    /// The user name of `uid`, or nil when the password database has none.
    public var userName: String?

    /// Creates a peer identity.
    public init(uid: UInt32, pid: Int32, userName: String?) {
        self.uid = uid
        self.pid = pid
        self.userName = userName
    }

    /// "alice (uid 1000, pid 4242)".
    public var description: String { "\(userName ?? "uid-\(uid)") (uid \(uid), pid \(pid))" }
}

/// Identifies one connection to the relay for its lifetime.
public struct ConsoleClientID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// A number unique within one run of the relay.
    public var rawValue: UInt64
    /// Creates an id.
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "#\(rawValue)" }
}

/// Something worth a line in the console log and the journal.
public enum ConsoleEvent: Hashable, Sendable {
    /// A client attached.
    case attached(ConsolePeer, ConsoleRole)
    /// A client detached (closed its connection).
    case detached(ConsolePeer, ConsoleRole)
    /// A client was disconnected by the relay (too slow, or it broke the protocol).
    case dropped(ConsolePeer, reason: String)
    /// `by` took the writer's seat from `from` with `--force`.
    case forceTakeover(by: ConsolePeer, from: ConsolePeer)
    /// A break was sent to the device at `by`'s request.
    case breakSent(by: ConsolePeer)
    /// The device went away.
    case deviceLost(reason: String)
    /// The device is back.
    case deviceBack
    /// The device is gone and discovery no longer finds it (the adapter was unplugged): not retried until it is
    /// found again.
    case deviceWaiting(reason: String)
    /// The device came back under another path (a USB-serial adapter re-enumerated, ttyUSB0 → ttyUSB3).
    case deviceMoved(from: String, to: String)

    /// The text of the event's mark in the console log.
    public var logText: String {
        switch self {
        case .attached(let peer, let role): return "attach \(role) \(peer)"
        case .detached(let peer, let role): return "detach \(role) \(peer)"
        case .dropped(let peer, let reason): return "drop \(peer): \(reason)"
        case .forceTakeover(let by, let from): return "force-takeover by \(by) from \(from)"
        case .breakSent(let by): return "break by \(by)"
        case .deviceLost(let reason): return "device lost: \(reason)"
        case .deviceBack: return "device back"
        case .deviceWaiting(let reason): return "device gone: \(reason)"
        case .deviceMoved(let from, let to): return "device now at \(to) (was \(from))"
        }
    }
}

/// Who holds the console's writer seat and who watches, as conserver's `pCLwr` and spectators.
///
/// One writer at a time, any number of read-only spectators. A `.writer` attach takes the seat when it is free
/// and attaches read-only (with a notice naming the holder) when not; a `.force` attach takes the seat and the
/// previous writer stays attached as a spectator, told who took it. When the writer leaves, the seat stays free
/// until someone attaches as writer (no silent promotion: a spectator never finds itself typing into a router).
public struct ConsoleRelayStateMachine: Sendable {
    /// What the relay must do after an event.
    public enum Action: Hashable, Sendable {
        /// Send the welcome (with `role`) to the client, then replay the scrollback.
        case welcome(ConsoleClientID, role: ConsoleRole)
        /// Send a notice to one client.
        case notify(ConsoleClientID, ConsoleNotice)
        /// Write the client's input to the device.
        case forwardInput
        /// Drop the client's input and tell it why.
        case refuseInput(ConsoleClientID, ConsoleNotice)
        /// Send a break on the device line.
        case sendBreak
        /// Mark the event in the console log and the journal.
        case record(ConsoleEvent)
    }

    /// One connection's state.
    private enum ClientState: Hashable, Sendable {
        /// Connected; no hello yet. Carries who it is.
        case greeting(ConsolePeer)
        /// Attached, read-only.
        case spectator(ConsolePeer)
        /// Attached, holding the writer's seat.
        case writer(ConsolePeer)

        var peer: ConsolePeer {
            switch self {
            case .greeting(let p), .spectator(let p), .writer(let p): return p
            }
        }
    }

    /// Whether the device is open, so input can be accepted.
    private enum DeviceState: Hashable, Sendable {
        /// Open: input goes through.
        case present
        /// Gone; the relay is reopening it. Carries the reason for notices.
        case absent(String)
        /// Gone, and not retried until discovery finds it again. Carries the reason for notices.
        case waiting(String)
    }

    private var clients: [ConsoleClientID: ClientState] = [:]
    private var writerID: ConsoleClientID?
    private var device: DeviceState = .absent("not opened yet")

    /// Creates a machine with no clients and the device not yet open.
    public init() {}

    // MARK: - Queries

    /// The client holding the writer's seat.
    public var writer: ConsoleClientID? { writerID }
    /// The peer holding the writer's seat.
    public var writerPeer: ConsolePeer? { writerID.flatMap { clients[$0]?.peer } }
    /// Clients that said hello (spectators and the writer), in connection order.
    public var attachedClients: [ConsoleClientID] {
        clients.filter { if case .greeting = $0.value { return false } else { return true } }.keys.sorted()
    }
    /// Every connection, greeted or not.
    public var connectionCount: Int { clients.count }
    /// Whether the device is open.
    public var deviceIsPresent: Bool { device == .present }

    /// The role of an attached client (nil before its hello or after it left).
    public func role(of id: ConsoleClientID) -> ConsoleRole? {
        switch clients[id] {
        case .none, .greeting: return nil
        case .spectator: return .spectator
        case .writer: return .writer
        }
    }

    // MARK: - Events

    /// A connection was accepted.
    public mutating func connected(_ id: ConsoleClientID, peer: ConsolePeer) {
        precondition(clients[id] == nil, "client ids are never reused")
        clients[id] = .greeting(peer)
    }

    /// A client sent its hello.
    /// - Throws: `.protocolViolation` when the client already said hello.
    public mutating func hello(_ id: ConsoleClientID, mode: ConsoleAttachMode) throws(SerialConsoleError) -> [Action] {
        guard let state = clients[id] else { preconditionFailure("hello from an unknown client") }
        let peer: ConsolePeer
        switch state {
        case .greeting(let p): peer = p
        case .spectator, .writer: throw .protocolViolation("a second hello on the same connection")
        }
        var actions: [Action] = []
        switch mode {
        case .readOnly:
            clients[id] = .spectator(peer)
            actions.append(.welcome(id, role: .spectator))
            actions.append(.record(.attached(peer, .spectator)))
        case .writer:
            if let holder = writerPeer {
                clients[id] = .spectator(peer)
                actions.append(.welcome(id, role: .spectator))
                actions.append(
                    .notify(
                        id,
                        ConsoleNotice(
                            .info,
                            "the writer's seat is held by \(holder); attached read-only (use --force to take it)")))
                actions.append(.record(.attached(peer, .spectator)))
            } else {
                clients[id] = .writer(peer)
                writerID = id
                actions.append(.welcome(id, role: .writer))
                actions.append(.record(.attached(peer, .writer)))
                actions += notifyOthers(except: id, ConsoleNotice(.info, "\(peer) attached as the writer"))
            }
        case .force:
            if let previous = writerID, let previousPeer = clients[previous]?.peer {
                clients[previous] = .spectator(previousPeer)
                actions.append(
                    .notify(
                        previous,
                        ConsoleNotice(
                            .writerSeatTaken,
                            "\(peer) took the writer's seat (--force); you are read-only now")))
                actions.append(.record(.forceTakeover(by: peer, from: previousPeer)))
            }
            clients[id] = .writer(peer)
            writerID = id
            actions.append(.welcome(id, role: .writer))
            actions.append(.record(.attached(peer, .writer)))
        }
        switch device {
        case .present: break
        case .absent(let reason):
            actions.append(.notify(id, ConsoleNotice(.deviceLost, "the console device is not open (\(reason)); retrying")))
        case .waiting(let reason):
            actions.append(
                .notify(id, ConsoleNotice(.deviceLost, "the console device is gone (\(reason)); waiting for it to come back")))
        }
        return actions
    }

    /// A client sent input.
    /// - Throws: `.protocolViolation` when it has not said hello.
    public mutating func input(from id: ConsoleClientID) throws(SerialConsoleError) -> Action {
        guard let state = clients[id] else { preconditionFailure("input from an unknown client") }
        switch state {
        case .greeting: throw .protocolViolation("input before hello")
        case .spectator:
            return .refuseInput(id, ConsoleNotice(.inputRefused, refusedText()))
        case .writer:
            switch device {
            case .present: return .forwardInput
            case .absent(let reason), .waiting(let reason):
                return .refuseInput(
                    id, ConsoleNotice(.inputRefused, "input discarded: the console device is gone (\(reason))"))
            }
        }
    }

    /// A client asked for a break.
    /// - Throws: `.protocolViolation` when it has not said hello.
    public mutating func breakRequest(from id: ConsoleClientID) throws(SerialConsoleError) -> [Action] {
        guard let state = clients[id] else { preconditionFailure("break from an unknown client") }
        switch state {
        case .greeting: throw .protocolViolation("break before hello")
        case .spectator:
            return [.refuseInput(id, ConsoleNotice(.inputRefused, "break refused: " + refusedText()))]
        case .writer(let peer):
            switch device {
            case .present:
                return [.sendBreak, .record(.breakSent(by: peer)), .notify(id, ConsoleNotice(.breakSent, "break sent"))]
            case .absent(let reason), .waiting(let reason):
                return [
                    .refuseInput(id, ConsoleNotice(.inputRefused, "break not sent: the console device is gone (\(reason))"))
                ]
            }
        }
    }

    /// A client closed its connection (or the relay closed it: `reason` then says why).
    public mutating func disconnected(_ id: ConsoleClientID, reason: String? = nil) -> [Action] {
        guard let state = clients.removeValue(forKey: id) else { return [] }
        var actions: [Action] = []
        switch state {
        case .greeting(let peer):
            if let reason { actions.append(.record(.dropped(peer, reason: reason))) }
        case .spectator(let peer):
            actions.append(reason.map { .record(.dropped(peer, reason: $0)) } ?? .record(.detached(peer, .spectator)))
        case .writer(let peer):
            writerID = nil
            actions.append(reason.map { .record(.dropped(peer, reason: $0)) } ?? .record(.detached(peer, .writer)))
            actions += notifyOthers(
                except: id, ConsoleNotice(.info, "\(peer) detached; the writer's seat is free (reattach to take it)"))
        }
        return actions
    }

    /// The device went away.
    public mutating func deviceLost(reason: String) -> [Action] {
        switch device {
        case .absent:
            device = .absent(reason)
            return []
        case .waiting:
            return []
        case .present:
            device = .absent(reason)
            return [.record(.deviceLost(reason: reason))]
                + notifyOthers(
                    except: nil,
                    ConsoleNotice(.deviceLost, "console device lost (\(reason)); reconnecting, stay attached"))
        }
    }

    /// The device is gone and discovery no longer finds it (its adapter was unplugged): the relay stops reopening
    /// it until it is found again; attached clients are told once.
    public mutating func deviceWaiting(reason: String) -> [Action] {
        if device == .waiting(reason) { return [] }
        device = .waiting(reason)
        return [.record(.deviceWaiting(reason: reason))]
            + notifyOthers(
                except: nil,
                ConsoleNotice(.deviceLost, "console device gone (\(reason)); waiting for it to come back, stay attached"))
    }

    /// The device is open (first open, or back after a loss).
    public mutating func deviceOpened(firstTime: Bool) -> [Action] {
        switch device {
        case .present: return []
        case .absent, .waiting:
            device = .present
            if firstTime { return [] }
            return [.record(.deviceBack)] + notifyOthers(except: nil, ConsoleNotice(.deviceBack, "console device back"))
        }
    }

    /// The device is open at `path`, which differs from `previous` (it came back under another name): like
    /// ``deviceOpened(firstTime:)`` after a loss, and the log and the clients are told the new path.
    public mutating func deviceOpened(at path: String, previous: String) -> [Action] {
        if device == .present { return [] }
        device = .present
        return [.record(.deviceMoved(from: previous, to: path))]
            + notifyOthers(except: nil, ConsoleNotice(.deviceBack, "console device back at \(path) (was \(previous))"))
    }

    // MARK: - Helpers

    private func refusedText() -> String {
        if let holder = writerPeer {
            return "read-only: \(holder) holds the writer's seat (reattach with --force to take it)"
        }
        return "read-only: reattach without --read-only to take the free writer's seat"
    }

    private func notifyOthers(except id: ConsoleClientID?, _ notice: ConsoleNotice) -> [Action] {
        attachedClients.filter { $0 != id }.map { .notify($0, notice) }
    }
}
