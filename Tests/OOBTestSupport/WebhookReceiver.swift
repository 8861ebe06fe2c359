import Foundation
import Spawn

/// Certificates made by the `openssl` CLI for the HTTPS webhook tests: a test CA, a server certificate it signed
/// for 127.0.0.1 and localhost, and a second, unrelated CA (the "wrong CA").
public struct TestCertificates: Sendable {
    /// The test CA's certificate (PEM, mode 0644).
    public let caCertificate: String
    /// The server's certificate and key (PEM).
    public let serverCertificate: String
    public let serverKey: String
    /// A CA that signed nothing here (PEM, mode 0644).
    public let wrongCACertificate: String

    /// Whether the `openssl` CLI is there.
    public static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") }

    /// Makes them in `directory`; the server certificate names `serverAddresses` (IP SANs) and localhost.
    public init(directory: String, serverAddresses: [String] = ["127.0.0.1"]) throws {
        func openssl(_ arguments: [String]) throws {
            let r = try SpawnedProcess.run("/usr/bin/openssl", arguments, options: SpawnOptions(stdout: .pipe, stderr: .stdout), timeout: .seconds(60))
            guard r.status.succeeded else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "openssl \(arguments.first ?? ""): \(r.stdoutText)"])
            }
        }
        let d = directory
        caCertificate = d + "/ca.pem"
        serverCertificate = d + "/server.pem"
        serverKey = d + "/server.key"
        wrongCACertificate = d + "/wrong-ca.pem"
        for (name, subject) in [("ca", "/CN=oob-agent test CA"), ("wrong-ca", "/CN=some other CA")] {
            try openssl([
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", subject, "-keyout", "\(d)/\(name).key", "-out", "\(d)/\(name).pem",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
        }
        try openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
            "-keyout", serverKey, "-out", "\(d)/server.csr",
        ])
        let names = (serverAddresses.map { "IP:\($0)" } + ["DNS:localhost"]).joined(separator: ",")
        try "subjectAltName=\(names)\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            .write(toFile: "\(d)/server.ext", atomically: true, encoding: .utf8)
        try openssl([
            "x509", "-req", "-in", "\(d)/server.csr", "-CA", caCertificate, "-CAkey", "\(d)/ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "\(d)/server.ext", "-out", serverCertificate,
        ])
        for file in [caCertificate, wrongCACertificate, serverCertificate] { chmod(file, 0o644) }
    }
}

/// A webhook server on 127.0.0.1 for the tests: Python's `http.server`, wrapped in `ssl` when given a
/// certificate. Every POST is answered 200 and its body appended, one line each, to a file; stopped by PID.
public final class WebhookReceiver: @unchecked Sendable {
    /// The port it listens on (127.0.0.1).
    public let port: Int
    private let process: SpawnedProcess
    private let bodiesPath: String
    private let logPath: String

    /// Whether python3 is there.
    public static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") }

    static let script = """
        import http.server, ssl, sys
        port_file, bodies, cert, key, address = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode("utf-8", "replace")
                with open(bodies, "a") as f:
                    f.write(self.path + " " + self.headers.get("Content-Type", "-") + " " + body.replace("\\n", " ") + "\\n")
                with open(bodies + ".clients", "a") as f:
                    f.write(self.client_address[0] + "\\n")
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
        server = http.server.HTTPServer((address, 0), Handler)
        if cert != "-":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(cert, key)
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        with open(port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        import os
        os.rename(port_file + ".tmp", port_file)
        server.serve_forever()
        """

    /// Starts it in `directory`; `tls` = (certificate, key) for HTTPS, nil for plain HTTP. `namespace`: a network
    /// namespace the test created, to run it in (`ip netns exec`, which execs python: the PID is the server's);
    /// `address`: where it listens.
    public init(
        directory: String, tls: (certificate: String, key: String)?, namespace: String? = nil, address: String = "127.0.0.1"
    ) throws {
        let name = tls == nil ? "http" : "https"
        let scriptPath = directory + "/webhook-\(name).py"
        let portPath = directory + "/webhook-\(name).port"
        bodiesPath = directory + "/webhook-\(name).bodies"
        logPath = directory + "/webhook-\(name).log"
        try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: bodiesPath, contents: nil)
        let arguments = ["-u", scriptPath, portPath, bodiesPath, tls?.certificate ?? "-", tls?.key ?? "-", address]
        let options = SpawnOptions(stdout: .file(logPath), stderr: .file(logPath))
        if let namespace {
            process = try SpawnedProcess("/usr/sbin/ip", ["netns", "exec", namespace, "/usr/bin/python3"] + arguments, options: options)
        } else {
            process = try SpawnedProcess("/usr/bin/python3", arguments, options: options)
        }
        var found: Int?
        let end = Date().addingTimeInterval(20)
        while found == nil && Date() < end && process.isRunning {
            found = (try? String(contentsOfFile: portPath, encoding: .utf8)).flatMap { Int($0) }
            if found == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        guard let found else {
            _ = process.terminate(grace: .seconds(2))
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "webhook receiver did not start: \(log)"])
        }
        port = found
    }

    /// The POSTs received so far, one line each: `<path> <content type> <body>`.
    public var received: [String] {
        ((try? String(contentsOfFile: bodiesPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// The client address of each POST, in order.
    public var clients: [String] {
        ((try? String(contentsOfFile: bodiesPath + ".clients", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// The server's own log (handshake errors show here).
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Stops it (SIGTERM, then SIGKILL), by its PID.
    public func stop() { _ = process.terminate(grace: .seconds(3)) }
}
