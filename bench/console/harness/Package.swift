// swift-tools-version: 6.2
// The console relay benchmark (../RESULTS.md). A package of its own so that a release build compiles only
// SerialConsole and what it needs, not the whole daemon.

import Foundation
import PackageDescription

/// The oob-agent package, three levels up; SwiftPM names a path dependency after its directory.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../..").standardized

let package = Package(
    name: "console-bench",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: root.path)],
    targets: [
        .executableTarget(
            name: "console-bench",
            dependencies: [.product(name: "SerialConsole", package: root.lastPathComponent.lowercased())],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
