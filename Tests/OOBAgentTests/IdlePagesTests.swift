import Testing

@testable import OOBAgent

#if canImport(Glibc)
import Glibc
#endif

/// `IdlePages.release()` runs in the daemon after start-up and after each control request: it must shrink the
/// resident set and must never drop a page the process still needs (relocated data would crash it).
@Suite("Idle pages", .serialized)
struct IdlePagesTests {
    func rssKiB() throws -> Int {
        let status = String(decoding: try FileSystem.readFile("/proc/self/status"), as: UTF8.self)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        return try #require(Int(line.split(separator: " ").dropFirst().first ?? ""))
    }

    /// Work through code, type metadata, relocated tables and the crypto library.
    func work() throws -> String {
        let totp = try TOTP(secret: Array("12345678901234567890".utf8), digits: 8)
        let json = ControlJSON.line(ControlResponse(ok: true, message: "session starting"))
        return "\(totp.code(at: 59)) \(Base32.encode(Array("hello".utf8))) \(json)"
    }

    @Test("releasing the code pages shrinks the resident set, and the process runs on unchanged")
    func releaseKeepsTheProcessWorking() throws {
        let expected = try work()
        // RFC 6238's SHA-1 vector at T = 59 s, RFC 4648's base32 of "hello", the control protocol's JSON.
        #expect(expected == #"94287082 NBSWY3DP {"message":"session starting","ok":true}"#)
        for _ in 0..<3 {
            let before = try rssKiB()
            let released = IdlePages.release()
            let after = try rssKiB()
            #expect(released > 0)
            #expect(after < before, "VmRSS \(before) KiB before, \(after) KiB after releasing \(released) KiB")
            #expect(try work() == expected)
        }
    }
}
