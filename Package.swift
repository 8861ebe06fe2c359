// swift-tools-version: 6.2
// oob-agent: an SMS-triggered out-of-band access agent for remote sites.
// Layout and settings follow ../shared/style.md (points 1, 2, 3 and 15).

import Foundation
import PackageDescription

/// CI (and anyone who wants it) sets OOB_STRICT=1: every warning of our own targets is an error.
let strict = ProcessInfo.processInfo.environment["OOB_STRICT"] == "1"

let swiftSettings: [SwiftSetting] =
    [
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
        .enableUpcomingFeature("InternalImportsByDefault"),
    ] + (strict ? [.treatAllWarnings(as: .error)] : [])

let log: Target.Dependency = .product(name: "Logging", package: "swift-log")
let systemPackage: Target.Dependency = .product(name: "SystemPackage", package: "swift-system")

let package = Package(
    name: "oob-agent",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "oob-agent", targets: ["oob-agent"]),
        .library(name: "ATModem", targets: ["ATModem"]),
        .library(name: "Tunnel", targets: ["Tunnel"]),
        .library(name: "SerialConsole", targets: ["SerialConsole"]),
        .library(name: "OOBAgent", targets: ["OOBAgent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // MARK: - C system libraries (style point 2: module map + shim.h, no .c files)
        .systemLibrary(
            name: "CLibSSH2",
            pkgConfig: "libssh2",
            providers: [.apt(["libssh2-1-dev"])]
        ),
        .systemLibrary(
            name: "CUdev",
            pkgConfig: "libudev",
            providers: [.apt(["libudev-dev"])]
        ),
        /// libssl for the HTTPS webhook; only Sources/OOBAgent/TLS/ imports it.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),

        // MARK: - Libraries
        /// termios serial ports and ptys, shared by ATModem, SerialConsole, PowerControl and the emulator.
        .target(name: "SerialIO", dependencies: [systemPackage], swiftSettings: swiftSettings),
        /// Child processes with posix_spawn (no Foundation `Process`): used by CellularLink, PowerControl, Demo, tests.
        .target(name: "Spawn", swiftSettings: swiftSettings),
        .target(name: "ATModem", dependencies: ["SerialIO", "CUdev", log, systemPackage], swiftSettings: swiftSettings),
        .target(name: "Tunnel", dependencies: ["CLibSSH2", log], swiftSettings: swiftSettings),
        .target(
            name: "SerialConsole",
            dependencies: [
                "SerialIO", log, systemPackage, .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "CellularLink", dependencies: ["Spawn", log, systemPackage], swiftSettings: swiftSettings),
        .target(name: "PowerControl", dependencies: ["SerialIO", "Spawn", log, systemPackage], swiftSettings: swiftSettings),
        .target(
            name: "OOBAgent",
            dependencies: [
                "ATModem", "Tunnel", "SerialConsole", "CellularLink", "PowerControl", "COpenSSL", log, systemPackage,
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        /// A Huawei-E1752-like modem on a real pty: used by the tests and by `oob-agent demo`.
        .target(name: "ModemEmulator", dependencies: ["ATModem", "SerialIO"], swiftSettings: swiftSettings),
        /// `oob-agent demo`: the emulated site (modem, router console) and a throwaway jump host.
        .target(
            name: "Demo", dependencies: ["SerialIO", "Spawn", "ATModem", "ModemEmulator", "OOBAgent", log, systemPackage], swiftSettings: swiftSettings
        ),

        // MARK: - The executable: argument parsing and wiring only
        .executableTarget(
            name: "oob-agent",
            dependencies: [
                "OOBAgent", "ATModem", "Tunnel", "SerialConsole", "ModemEmulator", "Demo", log, "PowerControl",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings,
            // Idle memory (bench/agent/RESULTS.md): lld packs the ~90,000 relative relocations of the static binary
            // into a few KiB (RELR, glibc >= 2.36) instead of 2 MiB that the loader reads at every start, and the
            // binary exports no symbols (the static stdlib's link options export ours, 27,000, which the loader
            // then searches for every library symbol it binds).
            linkerSettings: [
                .unsafeFlags(
                    ["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--no-export-dynamic"],
                    .when(platforms: [.linux]))
            ]
        ),

        // MARK: - Tests
        .target(
            name: "OOBTestSupport",
            dependencies: ["SerialIO", "ATModem", "ModemEmulator", "Spawn", log],
            path: "Tests/OOBTestSupport",
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "SpawnTests", dependencies: ["Spawn"], swiftSettings: swiftSettings),
        .testTarget(name: "SerialIOTests", dependencies: ["SerialIO", "OOBTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ATModemTests",
            dependencies: [
                "ATModem", "ModemEmulator", "OOBTestSupport", "Spawn",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "TunnelTests", dependencies: ["Tunnel", "OOBTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "SerialConsoleTests",
            dependencies: [
                "SerialConsole", "SerialIO", "OOBTestSupport", "Spawn", log,
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        /// Drives CellularLink inside a network namespace for its tests and benchmark (`ip netns exec`).
        .executableTarget(
            name: "cellular-link-probe",
            dependencies: ["CellularLink", log],
            path: "Tests/CellularLinkProbe",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CellularLinkTests",
            dependencies: ["CellularLink", "OOBTestSupport", "Spawn", log],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PowerControlTests",
            dependencies: ["PowerControl", "OOBTestSupport", "Spawn"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OOBAgentTests",
            dependencies: [
                "OOBAgent", "ModemEmulator", "OOBTestSupport", "ATModem", "SerialIO", "PowerControl", "Spawn", log, systemPackage,
                "SerialConsole",
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
