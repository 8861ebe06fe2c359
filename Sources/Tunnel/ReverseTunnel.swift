public import Logging
import Synchronization
import Foundation

/// A reverse SSH port forward (`ssh -N -R …`) to a jump host, kept up until `stop()`.
///
/// One dedicated thread owns the libssh2 session and every channel and runs a single poll() loop
/// (libssh2 is not thread-safe; style points 3–4). This object only talks to that thread: through a
/// lock-protected snapshot and an eventfd that wakes the loop.
///
/// A tunnel runs once: `start()` after `stop()` does nothing; make a new one instead.
public final class ReverseTunnel: Sendable {
    /// The configuration it was created with.
    public let configuration: TunnelConfiguration
    private let shared: TunnelShared
    private let logger: Logger
    private let passphrase: String?

    /// Validates the configuration and the key files; connects nothing yet.
    /// - Parameters:
    ///   - configuration: the jump host, key, known_hosts and forwards.
    ///   - logger: where the tunnel logs (at most `info`; per-channel detail at `debug`).
    /// - Throws: `TunnelError` (`.invalidConfiguration`, `.unsupportedKey`) naming the key and the fix.
    public init(configuration: TunnelConfiguration, logger: Logger) throws {
        self.passphrase = try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        self.shared = try TunnelShared()
    }

    deinit {
        // Dropped without stop(): the thread tears the session down and ends by itself.
        _ = shared.requestStop()
    }

    /// Starts connecting in the background; reconnects by itself until `stop()`. Idempotent.
    public func start() {
        guard shared.markStarted() else { return }
        let configuration = self.configuration
        let logger = self.logger
        let shared = self.shared
        let passphrase = self.passphrase
        let thread = Thread {
            let worker = TunnelWorker(configuration: configuration, passphrase: passphrase, logger: logger, shared: shared)
            worker.run()
            shared.markFinished()
        }
        thread.name = "oob-tunnel"
        thread.start()
    }

    /// Waits until every forward is granted.
    /// - Parameter timeout: how long to wait.
    /// - Throws: `TunnelError`: the permanent failure (host key, client key) as soon as it happens;
    ///   `.timedOut` with the last error when the timeout passes; `.stopped` if stopped meanwhile.
    public func waitUntilForwarding(timeout: Duration) async throws {
        let stream = stateChanges()
        let shared = self.shared
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await state in stream {
                    switch state {
                    case .forwarding: return
                    case .failed(let e): throw e
                    case .stopped, .stopping:
                        throw TunnelError(code: .stopped, message: "the tunnel was stopped before it was forwarding")
                    case .idle, .connecting, .authenticating, .listening, .reconnecting: continue
                    }
                }
                throw TunnelError(code: .stopped, message: "the tunnel was stopped before it was forwarding")
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                let stats = shared.snapshot()
                var message = "the tunnel is not forwarding after \(timeout) (state: \(stats.state))"
                if let e = stats.lastError { message += "; last error: \(e.message)" }
                throw TunnelError(code: .timedOut, message: message, underlying: stats.lastError?.underlying)
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Cancels the forwards, closes every channel, disconnects, and returns within 5 s even when the jump
    /// host does not answer (the socket is force-closed after a 3 s deadline). Idempotent.
    public func stop() async {
        guard shared.requestStop() else { return }
        await shared.waitFinished(timeout: .milliseconds(4500))
    }

    /// The current figures (bytes each way, channels, reconnects, last error, state).
    public var statistics: TunnelStatistics { shared.snapshot() }

    /// The current state.
    public var state: TunnelState { shared.snapshot().state }

    /// Every state change from now on, beginning with the current state. Ends when the tunnel has stopped
    /// or failed for good. Each call makes an independent stream (several observers may watch).
    public func stateChanges() -> AsyncStream<TunnelState> {
        shared.subscribe()
    }
}

/// What the tunnel's thread and its callers share: a snapshot under a lock, and the eventfd that wakes the loop.
final class TunnelShared: Sendable {
    private struct Inner {
        var stats = TunnelStatistics(state: .idle)
        var started = false
        var stopRequested = false
        var finished = false
        var nextSubscriber = 0
        var subscribers: [Int: AsyncStream<TunnelState>.Continuation] = [:]
        var finishWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }
    private let inner = Mutex(Inner())
    /// Read end of a pipe made readable by `requestStop`; polled by the loop.
    let wakeFD: CInt
    private let wakeWriteFD: CInt

    init() throws {
        switch system_wakePipe() {
        case .success(let (r, w)):
            wakeFD = r
            wakeWriteFD = w
        case .failure(let e):
            throw TunnelError(code: .protocolError, message: "cannot create a pipe (\(e))")
        }
    }

    deinit {
        system_close(wakeFD)
        system_close(wakeWriteFD)
    }

    func markStarted() -> Bool {
        inner.withLock { s in
            if s.started || s.stopRequested { return false }
            s.started = true
            return true
        }
    }

    /// Returns false if already requested.
    func requestStop() -> Bool {
        let (first, notStarted) = inner.withLock { s -> (Bool, Bool) in
            if s.stopRequested { return (false, false) }
            s.stopRequested = true
            return (true, !s.started)
        }
        if notStarted {
            publish { $0.state = .stopped }
            markFinished()
        } else if first {
            system_wakeSignal(wakeWriteFD)
        }
        return first
    }

    var stopRequested: Bool { inner.withLock { $0.stopRequested } }

    func markFinished() {
        let (waiters, subs) = inner.withLock { s in
            s.finished = true
            let w = s.finishWaiters
            s.finishWaiters = [:]
            let subs = s.subscribers
            s.subscribers = [:]
            return (w, subs)
        }
        for (_, w) in waiters { w.resume() }
        for (_, c) in subs { c.finish() }
    }

    func waitFinished(timeout: Duration) async {
        let id = inner.withLock { s -> Int? in
            if s.finished { return nil }
            s.nextSubscriber += 1
            return s.nextSubscriber
        }
        guard let id else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let done = self.inner.withLock { s -> Bool in
                        if s.finished { return true }
                        s.finishWaiters[id] = c
                        return false
                    }
                    if done { c.resume() }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                // Give up waiting: resume the waiter ourselves (the thread ends by itself later).
                let c = self.inner.withLock { s in s.finishWaiters.removeValue(forKey: id) }
                c?.resume()
            }
            await group.next()
            group.cancelAll()
        }
    }

    func snapshot() -> TunnelStatistics { inner.withLock { $0.stats } }

    /// Updates the snapshot; tells subscribers if the state changed.
    func publish(_ update: (inout TunnelStatistics) -> Void) {
        let (changed, state, subs) = inner.withLock { s -> (Bool, TunnelState, [AsyncStream<TunnelState>.Continuation]) in
            let before = s.stats.state
            update(&s.stats)
            let changed = before != s.stats.state
            return (changed, s.stats.state, changed ? Array(s.subscribers.values) : [])
        }
        if changed { for c in subs { c.yield(state) } }
    }

    func subscribe() -> AsyncStream<TunnelState> {
        let (stream, continuation) = AsyncStream.makeStream(of: TunnelState.self, bufferingPolicy: .bufferingNewest(64))
        let result = inner.withLock { s -> (Int, TunnelState, Bool) in
            s.nextSubscriber += 1
            let id = s.nextSubscriber
            if !s.finished { s.subscribers[id] = continuation }
            continuation.yield(s.stats.state)
            return (id, s.stats.state, s.finished)
        }
        if result.2 {
            continuation.finish()
        } else {
            let id = result.0
            continuation.onTermination = { [weak self] _ in
                _ = self?.inner.withLock { s in s.subscribers.removeValue(forKey: id) }
            }
        }
        return stream
    }
}
