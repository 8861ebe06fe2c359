// Runs one ReverseTunnel from flags until SIGTERM/SIGINT, for bench/tunnel/bench.py.
// Built by bench.py against the release build of the Tunnel target (see README in RESULTS.md).
//
//   tunnel-bench --host 127.0.0.1 --port 2222 --user root --identity KEY --known-hosts FILE \
//                --forward 127.0.0.1:31337:127.0.0.1:22 [--forward …] [--keepalive 30]
//
// Prints "FORWARDING" on stdout once every forward is up, and the statistics as JSON when stopped.
import Dispatch
import Logging
import Tunnel

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

var options: [String: [String]] = [:]
var args = CommandLine.arguments.dropFirst()
while let flag = args.popFirst() {
    guard flag.hasPrefix("--"), let value = args.popFirst() else {
        FileHandle.standardErrorWrite("usage: tunnel-bench --host H --port P --user U --identity K --known-hosts F --forward SPEC…\n")
        exit(2)
    }
    options[String(flag.dropFirst(2)), default: []].append(value)
}

enum FileHandle {
    static func standardErrorWrite(_ s: String) { fputs(s, stderr) }
}


let parsed = options
func one(_ key: String) -> String? { parsed[key]?.last }

do {
    let forwards = try (parsed["forward"] ?? []).map(RemoteForward.init(parsing:))
    let config = TunnelConfiguration(
        host: one("host") ?? "127.0.0.1", port: Int(one("port") ?? "22") ?? 22, user: one("user") ?? "root",
        identity: one("identity") ?? "", knownHosts: one("known-hosts") ?? "", forwards: forwards,
        keepalive: .seconds(Int(one("keepalive") ?? "30") ?? 30))
    var logger = Logger(label: "tunnel-bench", factory: { StreamLogHandler.standardError(label: $0) })
    logger.logLevel = one("log-level").flatMap(Logger.Level.init(rawValue:)) ?? .warning
    let tunnel = try ReverseTunnel(configuration: config, logger: logger)

    let stopSignal = Sources.stopSignals()
    tunnel.start()
    try await tunnel.waitUntilForwarding(timeout: .seconds(30))
    print("FORWARDING")
    fflush(stdout)
    for await _ in stopSignal { break }
    await tunnel.stop()
    let s = tunnel.statistics
    print(
        "{\"bytes_to_jump_host\": \(s.bytesToJumpHost), \"bytes_from_jump_host\": \(s.bytesFromJumpHost), "
            + "\"channels_total\": \(s.channelsTotal), \"reconnects\": \(s.reconnects)}")
} catch {
    fputs("tunnel-bench: \(error)\n", stderr)
    exit(1)
}

enum Sources {
    nonisolated(unsafe) static var keep: [any DispatchSourceSignal] = []

    /// SIGTERM/SIGINT as a stream (handlers run on a global queue, outside the main actor).
    static func stopSignals() -> AsyncStream<Void> {
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        return AsyncStream<Void> { continuation in
            for sig in [SIGTERM, SIGINT] {
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler { @Sendable in continuation.yield() }
                source.resume()
                keep.append(source)
            }
        }
    }
}
