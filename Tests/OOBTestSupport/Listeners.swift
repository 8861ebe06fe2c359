import Foundation

/// The local addresses that listen on TCP `port` in this network namespace, as the kernel lists them in
/// `/proc/net/tcp` and `/proc/net/tcp6` (IPv4 dotted, IPv6 as `::` or the hex of the address): what
/// `ss -ltn sport = :port` would show, read without a subprocess.
public func tcpListeners(port: Int) -> [String] {
    var found: [String] = []
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // sl local_address rem_address st …; st 0A = LISTEN.
            guard fields.count > 3, fields[3] == "0A" else { continue }
            let local = fields[1].split(separator: ":")
            guard local.count == 2, Int(local[1], radix: 16) == port else { continue }
            let hex = String(local[0])
            if v6 {
                found.append(hex.allSatisfy { $0 == "0" } ? "::" : hex)
            } else if let raw = UInt32(hex, radix: 16) {
                // Little-endian in the file: the first octet is the lowest byte.
                found.append("\(raw & 0xff).\((raw >> 8) & 0xff).\((raw >> 16) & 0xff).\(raw >> 24)")
            }
        }
    }
    return found
}
