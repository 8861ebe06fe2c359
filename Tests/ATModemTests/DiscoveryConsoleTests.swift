import Foundation
import Testing

@testable import ATModem

/// `console.device` given as a match: `check` when it resolves to nothing, and the tracker following the cable.
@Suite("Discovery: the console cable")
struct DiscoveryConsoleTests {
    @Test("check: a console match that resolves to nothing is a problem naming what is present and the fix")
    func checkConsoleMatchesNothing() {
        let box = DiscoveryMatchTests.box.filter { $0.role != .console }
        for value in ["usb:0403:6001,serial=A900fCv0", "auto"] {
            let findings = DeviceCheck.run(keys: [("console.device", value, .console)], devices: box)
            #expect(findings.map(\.severity) == [.problem], "\(findings)")
            let text = findings.first?.description ?? ""
            #expect(text.hasPrefix("console.device = \"\(value)\": no device fits"), "\(text)")
            #expect(text.contains("present: /dev/ttyUSB0"), "\(text)")
            #expect(text.contains("plug the device in") || text.contains("plug the device in,"), "\(text)")
            #expect(text.contains("oob-agent devices"), "\(text)")
        }
    }

    @Test("the tracker follows the cable from ttyUSB3 to ttyUSB7 and says when it is gone")
    func trackerFollowsCable() throws {
        let cable = try #require(DiscoveryMatchTests.box.first { $0.role == .console })
        var tracker = DeviceTracker(devices: DiscoveryMatchTests.box)
        let start = tracker.watch("console.device", match: try DeviceMatch.parse("usb:0403:6001,serial=A900fCv0"), purpose: .console)
        #expect(start == [.found(watch: "console.device", resolution: DeviceResolution(path: cable.path ?? "", device: cable))])
        let gone = tracker.handle(.removed(syspath: cable.syspath))
        #expect(gone.first == .lost(watch: "console.device", path: cable.path ?? ""))
        #expect(gone.contains { if case .unresolved = $0 { true } else { false } })
        var renamed = cable.properties
        for key in ["DEVPATH", "DEVNAME"] { renamed[key] = renamed[key]?.replacingOccurrences(of: "ttyUSB3", with: "ttyUSB7") }
        let back = try #require(DiscoveredDevice(properties: renamed))
        let found = tracker.handle(.added(back))
        #expect(found.count == 1)
        if case .found(_, let resolution)? = found.first { #expect(resolution.path == "/dev/ttyUSB7") } else { Issue.record("\(found)") }
    }
}
