public import Logging

/// `link.mode = "none"`: no link management. With `link.interface`, `up` reports that interface's
/// address so the tunnel binds to it; without, the tunnel uses the system's routing. Adds nothing.
public final class NoLink: CellularLink {
    public let configuration: LinkConfiguration
    public let events: AsyncStream<LinkEvent>
    public var pausesSMS: Bool { false }
    private let logger: Logger

    /// Creates the link.
    /// - Parameters:
    ///   - configuration: mode `none`.
    ///   - logger: where it logs.
    public init(configuration: LinkConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        events = AsyncStream { _ in }
    }

    public func up(deadline: ContinuousClock.Instant) async throws -> LinkInfo {
        guard let interface = configuration.interface else {
            return LinkInfo(interface: "", localAddress: nil, prefixLength: nil, peer: nil, dnsServers: [])
        }
        let net = NetworkState(ip: configuration.ipPath)
        guard let address = net.ipv4Addresses(interface).first else {
            throw CellularLinkError(
                code: .interfaceMissing,
                message: "interface \(interface) does not exist or has no IPv4 address; with link.mode = \"none\" "
                    + "the system must bring it up (or use mode \"ppp\"/\"interface\")")
        }
        logger.info("using interface as is", metadata: ["link.interface": "\(interface)"])
        return LinkInfo(
            interface: interface, localAddress: address.address, prefixLength: address.prefixLength,
            peer: address.peer, dnsServers: JumpHostResolver.systemNameservers())
    }

    public func down() async {}
}
