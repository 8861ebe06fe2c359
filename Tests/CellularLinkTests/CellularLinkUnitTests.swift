import CellularLink
import Foundation
import Logging
import Testing

let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

@Suite("PPP output and options")
struct PPPTests {
    /// pppd 2.4.9 output of a session on a Huawei E1752 (syslog lines without the prefix).
    static let transcript = [
        "Script /usr/sbin/chat -v -f /var/lib/oob-agent/ppp-chat finished (pid 1234), status = 0x0",
        "Serial connection established.",
        "Using interface ppp0",
        "Connect: ppp0 <--> /dev/ttyUSB0",
        "CHAP authentication succeeded",
        "Could not determine remote IP address: defaulting to 10.64.64.64",
        "local  IP address 100.71.12.9",
        "remote IP address 10.64.64.64",
        "primary   DNS address 212.9.64.11",
        "secondary DNS address 212.9.64.12",
    ]

    @Test func parsesAddressesAndDNS() {
        var p = PPPOutputParser()
        for line in Self.transcript { p.consume(line) }
        #expect(p.isUp)
        #expect(p.interface == "ppp0")
        #expect(p.localAddress == "100.71.12.9")
        #expect(p.remoteAddress == "10.64.64.64")
        #expect(p.dnsServers == ["212.9.64.11", "212.9.64.12"])
    }

    @Test func notUpBeforeIPCP() {
        var p = PPPOutputParser()
        for line in Self.transcript.prefix(6) { p.consume(line) }
        #expect(!p.isUp)
        #expect(p.localAddress == nil)
    }

    @Test func ignoresGarbageAddresses() {
        var p = PPPOutputParser()
        p.consume("local  IP address not-an-address")
        p.consume("remote IP address 1.2.3")
        #expect(p.localAddress == nil && p.remoteAddress == nil)
        #expect(p.recentLines.count == 2)
    }

    @Test func optionsLeaveRoutesAndResolverAlone() throws {
        let c = LinkConfiguration(
            mode: .ppp, interface: "wwan-ppp", device: "/dev/ttyUSB0", apn: "internet.example",
            stateDirectory: "/var/lib/oob-agent")
        try c.validate()
        let args = PPPOptions.arguments(c, chatScript: "/var/lib/oob-agent/ppp-chat")
        #expect(args.prefix(2) == ["/dev/ttyUSB0", "115200"])
        for o in ["nodetach", "nodefaultroute", "noipdefault", "usepeerdns"] { #expect(args.contains(o)) }
        #expect(!args.contains("defaultroute") && !args.contains("persist"))
        let pairs = Dictionary(zip(args, args.dropFirst()), uniquingKeysWith: { a, _ in a })
        #expect(pairs["ifname"] == "wwan-ppp")
        #expect(pairs["ip-up-script"] == "/bin/true", "Debian's ip-up.d would copy DNS into /etc/resolv.conf")
        #expect(pairs["lcp-echo-interval"] == "10")
        #expect(pairs["lcp-echo-failure"] == "3")
        #expect(pairs["maxfail"] == "1")
        #expect(pairs["connect"] == "/usr/sbin/chat -v -f /var/lib/oob-agent/ppp-chat")
    }

    @Test func chatScriptDialsTheAPN() {
        let s = PPPOptions.chatScript(apn: "internet.example")
        #expect(s.contains("OK 'AT+CGDCONT=1,\"IP\",\"internet.example\"'"))
        #expect(s.contains("OK \"ATD*99#\""))
        #expect(s.contains("ABORT \"NO CARRIER\""))
    }
}

@Suite("Link configuration")
struct LinkConfigurationTests {
    @Test(arguments: [
        ("interface", LinkConfiguration(mode: .interface, stateDirectory: "/var/lib/x")),
        ("device", LinkConfiguration(mode: .ppp, apn: "internet", stateDirectory: "/var/lib/x")),
        ("apn", LinkConfiguration(mode: .ppp, device: "/dev/ttyUSB0", apn: "in\"ternet", stateDirectory: "/var/lib/x")),
        ("interface", LinkConfiguration(mode: .none, interface: "this-name-is-too-long", stateDirectory: "/var/lib/x")),
        ("state.dir", LinkConfiguration(mode: .none, stateDirectory: "relative")),
        ("address", LinkConfiguration(
            mode: .interface, interface: "usb0", addressing: .staticAddress(address: "192.0.2.7", gateway: nil, dnsServers: []),
            stateDirectory: "/var/lib/x")),
    ])
    func rejectsWithTheKey(key: String, configuration: LinkConfiguration) {
        let error = #expect(throws: CellularLinkError.self) { try configuration.validate() }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("link.\(key)") == true, "\(String(describing: error))")
    }

    @Test func pausesSMSWhenDataPortIsATPort() throws {
        let shared = LinkConfiguration(
            mode: .ppp, device: "/dev/ttyUSB2", atPort: "/dev/ttyUSB2", apn: "internet", stateDirectory: "/tmp/x")
        let separate = LinkConfiguration(
            mode: .ppp, device: "/dev/ttyUSB0", atPort: "/dev/ttyUSB2", apn: "internet", stateDirectory: "/tmp/x")
        #expect(PPPLink(configuration: shared, logger: quietLogger).pausesSMS)
        #expect(!PPPLink(configuration: separate, logger: quietLogger).pausesSMS)
    }
}

@Suite("DNS message codec")
struct DNSMessageTests {
    @Test func queryLayout() throws {
        let q = try #require(DNSMessage.query(id: 0x1234, name: "jump.example.net.", type: .a))
        #expect(Array(q.prefix(12)) == [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])
        #expect(Array(q[12...]) == [4] + Array("jump".utf8) + [7] + Array("example".utf8) + [3] + Array("net".utf8) + [0, 0, 1, 0, 1])
    }

    @Test func rejectsBadNames() {
        #expect(DNSMessage.query(id: 1, name: "", type: .a) == nil)
        #expect(DNSMessage.query(id: 1, name: "a..b", type: .a) == nil)
        #expect(DNSMessage.query(id: 1, name: String(repeating: "x", count: 64) + ".net", type: .a) == nil)
    }

    /// A response with a CNAME and an A record, names compressed (RFC 1035 §4.1.4).
    static func response(id: UInt16, rcode: UInt8 = 0) -> [UInt8] {
        var r: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x81, 0x80 | rcode, 0, 1, 0, 2, 0, 0, 0, 0]
        r += [4] + Array("jump".utf8) + [7] + Array("example".utf8) + [3] + Array("net".utf8) + [0, 0, 1, 0, 1]
        // CNAME: jump.example.net -> edge.example.net (pointer to offset 12, then "edge" + pointer to 17)
        r += [0xc0, 12, 0, 5, 0, 1, 0, 0, 0x0e, 0x10, 0, 7, 4] + Array("edge".utf8) + [0xc0, 17]
        // A: edge.example.net -> 192.0.2.10
        r += [0xc0, 46, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 10]
        return r
    }

    @Test func takesAddressesThroughCNAME() throws {
        let got = try DNSMessage.addresses(in: Self.response(id: 7), id: 7, type: .a)
        #expect(got == [[192, 0, 2, 10]])
        #expect(try DNSMessage.addresses(in: Self.response(id: 7), id: 7, type: .aaaa).isEmpty)
    }

    @Test func rejectsMismatchErrorsAndTruncation() {
        #expect(throws: DNSMessage.ParseError.mismatch) { try DNSMessage.addresses(in: Self.response(id: 7), id: 8, type: .a) }
        #expect(throws: DNSMessage.ParseError.serverError(rcode: 3)) {
            try DNSMessage.addresses(in: Self.response(id: 7, rcode: 3), id: 7, type: .a)
        }
        let full = Self.response(id: 7)
        for n in [0, 5, 20, full.count - 1] {
            #expect(throws: DNSMessage.ParseError.self) { try DNSMessage.addresses(in: Array(full.prefix(n)), id: 7, type: .a) }
        }
    }
}

@Suite("Link journal")
struct LinkJournalTests {
    @Test func roundTripAndAtomicRewrite() throws {
        let dir = NSTemporaryDirectory() + "oob-journal-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let j = LinkJournal(directory: dir)
        #expect(try j.load().isEmpty)
        let entries: [LinkJournal.Entry] = [
            .sysctl(path: "/proc/sys/net/ipv6/conf/usb0/disable_ipv6", oldValue: "0"),
            .linkUp(interface: "usb0"),
            .address(interface: "usb0", cidr: "192.0.2.7/24", peer: nil),
            .route(table: 7913, destination: "default", interface: "usb0", gateway: "192.0.2.1"),
            .rule(priority: 7913, from: "192.0.2.7", table: 7913),
            .process(pid: 4242, startTime: 99, executable: "/usr/sbin/pppd"),
            .childInterface(interface: "ppp0"),
        ]
        for e in entries { try j.append(e) }
        #expect(try LinkJournal(directory: dir).load() == entries)
        try j.remove(entries[1])
        #expect(try j.load() == entries.filter { $0 != entries[1] })
        #expect(!FileManager.default.fileExists(atPath: j.path + ".tmp"))
        let mode = try FileManager.default.attributesOfItem(atPath: j.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        try j.clear()
        #expect(try j.load().isEmpty)
    }

    @Test func corruptJournalIsAClearError() throws {
        let dir = NSTemporaryDirectory() + "oob-journal-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let j = LinkJournal(directory: dir)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: j.path))
        let error = #expect(throws: CellularLinkError.self) { try j.load() }
        #expect(error?.code == .journal)
        #expect(error?.message.contains("delete it") == true)
    }
}
