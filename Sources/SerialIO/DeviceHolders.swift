#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// A process that has a device open, found through /proc/PID/fd.
public struct DeviceHolder: Hashable, Sendable, CustomStringConvertible {
    public var pid: Int32
    /// The process name from /proc/PID/comm.
    public var name: String
    /// Whether this is ModemManager, the usual culprit.
    public var isModemManager: Bool { name == "ModemManager" }
    public var description: String { "\(name) (pid \(pid))" }
}

/// Finds which other processes hold a device open.
public enum DeviceHolders {
    /// Every process other than this one that has `path` (or the file it resolves to) open.
    public static func find(path: String) -> [DeviceHolder] {
        guard let target = realPath(path) else { return [] }
        let me = getpid()
        var holders: [DeviceHolder] = []
        guard let proc = opendir("/proc") else { return [] }
        defer { closedir(proc) }
        while let entry = readdir(proc) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let pid = Int32(name), pid != me else { continue }
            let fdDir = "/proc/\(pid)/fd"
            guard let dir = opendir(fdDir) else { continue }
            var holds = false
            while let fdEntry = readdir(dir) {
                let fdName = withUnsafeBytes(of: fdEntry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if fdName == "." || fdName == ".." { continue }
                if readLink("\(fdDir)/\(fdName)") == target {
                    holds = true
                    break
                }
            }
            closedir(dir)
            if holds {
                holders.append(DeviceHolder(pid: pid, name: processName(pid)))
            }
        }
        return holders
    }

    /// The holders of `path` that count as sharing it: for a pty slave (`/dev/pts/N`) the process that created the
    /// pty (it holds the master of pty N: socat, an emulator, a test) legitimately holds the slave too and is left
    /// out; any other holder counts (as for a real serial device).
    public static func competing(path: String) -> [DeviceHolder] {
        let holders = find(path: path)
        guard let target = realPath(path), target.hasPrefix("/dev/pts/"),
            let index = Int(target.dropFirst("/dev/pts/".count))
        else { return holders }
        return holders.filter { !holdsMaster(pid: $0.pid, ptyIndex: index) }
    }

    /// Whether `pid` holds the master side (/dev/ptmx) of pty `ptyIndex` (its fdinfo says `tty-index: N`).
    static func holdsMaster(pid: Int32, ptyIndex: Int) -> Bool {
        let fdDir = "/proc/\(pid)/fd"
        guard let dir = opendir(fdDir) else { return false }
        defer { closedir(dir) }
        while let fdEntry = readdir(dir) {
            let fdName = withUnsafeBytes(of: fdEntry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let link = readLink("\(fdDir)/\(fdName)"), link == "/dev/ptmx" || link == "/dev/pts/ptmx" else {
                continue
            }
            guard let f = fopen("/proc/\(pid)/fdinfo/\(fdName)", "r") else { continue }
            defer { fclose(f) }
            var buffer = [CChar](repeating: 0, count: 256)
            while fgets(&buffer, 256, f) != nil {
                let line = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if line.hasPrefix("tty-index:"),
                    Int(String(line.dropFirst("tty-index:".count).filter(\.isNumber))) == ptyIndex
                {
                    return true
                }
            }
        }
        return false
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(decoding: UnsafeRawBufferPointer(start: resolved, count: strlen(resolved)), as: UTF8.self)
    }

    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func processName(_ pid: Int32) -> String {
        guard let f = fopen("/proc/\(pid)/comm", "r") else { return "pid \(pid)" }
        defer { fclose(f) }
        var buffer = [CChar](repeating: 0, count: 64)
        guard fgets(&buffer, 64, f) != nil else { return "pid \(pid)" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self).trimmingSuffixNewline()
    }
}

extension String {
    fileprivate func trimmingSuffixNewline() -> String {
        var s = self
        while s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}
