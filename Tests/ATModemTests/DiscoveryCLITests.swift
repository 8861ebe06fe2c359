import Foundation
import OOBTestSupport
import Testing

/// `oob-agent devices` as a user runs it on this machine: the built binary.
@Suite("Discovery: the devices command line", .serialized, .timeLimit(.minutes(2)))
struct DiscoveryCLITests {
    @Test("devices --json prints one array with stable keys; --all lists this machine's ttys")
    func json() async throws {
        guard BuiltExecutable.oobAgent != nil else {
            try Test.cancel("oob-agent is not built next to the tests (run swift build --build-tests)")
        }
        let run = try await BuiltExecutable.run(["devices", "--json", "--all"])
        #expect(run.status == 0, "\(run.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
        let keys: Set<String> = [
            "kind", "name", "path", "vendor_id", "product_id", "manufacturer", "model", "serial", "interface", "driver",
            "by_id", "role", "confidence", "reason", "match", "fix", "probe", "mm_ignored", "syspath", "in_use",
        ]
        for row in rows { #expect(Set(row.keys) == keys) }
        let ttys = Set(rows.filter { $0["kind"] as? String == "tty" }.compactMap { $0["name"] as? String })
        let sys = Set((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/tty")) ?? [])
        #expect(ttys == sys)

        // Without --all only USB devices are listed; where there are none the answer is the plain empty array.
        let usb = try await BuiltExecutable.run(["devices", "--json"])
        #expect(usb.status == 0, "\(usb.stderr)")
        let usbRows = try #require(try JSONSerialization.jsonObject(with: Data(usb.stdout.utf8)) as? [[String: Any]])
        if usbRows.isEmpty { #expect(usb.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]") }

        let plain = try await BuiltExecutable.run(["devices"])
        #expect(plain.status == 0)
        #expect(!plain.stdout.isEmpty)
    }
}
