import ArgumentParser
import Dispatch
import Logging
import Tunnel

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// `oob-agent tunnel-bench`: runs one reverse tunnel from flags until SIGINT/SIGTERM, then prints its figures.
/// Hidden from help: for benchmarks (bench/tunnel) and for trying a jump host before writing the config.
struct TunnelBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tunnel-bench",
        abstract: "Run one reverse SSH tunnel from flags until interrupted (benchmarks, diagnosis).",
        shouldDisplay: false
    )

    @Option(help: "Jump host name or address.") var host: String
    @Option(help: "Jump host SSH port.") var port: Int = 22
    @Option(help: "Account on the jump host.") var user: String
    @Option(help: "Private key file (ed25519 or ECDSA).") var identity: String
    @Option(name: .customLong("identity-passphrase-file"), help: "File holding the key's passphrase.")
    var identityPassphraseFile: String?
    @Option(name: .customLong("known-hosts"), help: "known_hosts file pinning the jump host key.") var knownHosts: String
    @Option(name: .customLong("forward"), help: "remote_bind:remote_port:local_host:local_port (repeatable).")
    var forwards: [String] = []
    @Option(help: "Liveness interval in seconds.") var keepalive: Int = 30
    @Option(name: .customLong("bind-interface"), help: "Pin the SSH socket to this interface.") var bindInterface: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.") var logLevel: String = "info"

    func run() async throws {
        var logger = Logger(label: "oob-agent.tunnel")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let tunnel: ReverseTunnel
        do {
            let config = TunnelConfiguration(
                host: host, port: port, user: user, identity: identity, identityPassphraseFile: identityPassphraseFile,
                knownHosts: knownHosts, forwards: try forwards.map(RemoteForward.init(parsing:)),
                keepalive: .seconds(keepalive), bindInterface: bindInterface)
            tunnel = try ReverseTunnel(configuration: config, logger: logger)
        } catch {
            print("oob-agent tunnel-bench: \(error)")
            throw ExitCode(2)
        }
        let stop = TunnelSignals.stream()
        tunnel.start()
        do {
            try await tunnel.waitUntilForwarding(timeout: .seconds(60))
        } catch {
            print("oob-agent tunnel-bench: \(error)")
            await tunnel.stop()
            throw ExitCode(1)
        }
        print("FORWARDING")
        for await _ in stop { break }
        await tunnel.stop()
        print(tunnel.statistics)
    }
}

/// SIGINT/SIGTERM as an async stream (handlers on a global queue).
enum TunnelSignals {
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    static func stream() -> AsyncStream<Void> {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        return AsyncStream { continuation in
            for sig in [SIGINT, SIGTERM] {
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler { @Sendable in continuation.yield() }
                source.resume()
                sources.append(source)
            }
        }
    }
}
