// The only file of Discovery that calls libc directly (style point 5): directory listings, links, poll, pipes.
// Every wrapper captures errno at once and retries EINTR where that is safe.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SystemPackage

/// Names in a directory (without `.` and `..`); empty when it cannot be read.
func discovery_listDirectory(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// The canonical path `path` resolves to, or nil.
func discovery_realpath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// Whether `path` exists (any file type; symlinks followed).
func discovery_exists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0
}

/// The first line of a small text file, without its newline.
func discovery_readFirstLine(_ path: String) -> String? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var buffer = [CChar](repeating: 0, count: 256)
    guard fgets(&buffer, CInt(buffer.count), f) != nil else { return nil }
    var s = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    while s.hasSuffix("\n") { s.removeLast() }
    return s
}

/// A pipe with both ends non-blocking and close-on-exec: used to wake a poll loop.
func discovery_pipe() -> Result<(read: CInt, write: CInt), Errno> {
    var fds: [CInt] = [-1, -1]
    // pipe2 is not exported by the Glibc module: pipe, then set the flags.
    if pipe(&fds) != 0 { return .failure(Errno(rawValue: errno)) }
    for fd in fds {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }
    return .success((fds[0], fds[1]))
}

/// Writes one byte (a wake-up); ignores a full pipe.
func discovery_wake(_ fd: CInt) {
    var byte: UInt8 = 1
    _ = write(fd, &byte, 1)
}

/// Reads and discards what is in a non-blocking fd.
func discovery_drain(_ fd: CInt) {
    var buffer = [UInt8](repeating: 0, count: 64)
    while read(fd, &buffer, buffer.count) > 0 {}
}

/// Closes a descriptor (never retried on EINTR: on Linux it is gone either way).
func discovery_close(_ fd: CInt) {
    _ = close(fd)
}

/// poll(2) over descriptors for POLLIN; returns which are readable. EINTR counts as "nothing yet".
func discovery_pollReadable(_ fds: [CInt], timeoutMilliseconds: Int) -> [Bool] {
    var pfds = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    let n = poll(&pfds, nfds_t(pfds.count), CInt(clamping: timeoutMilliseconds))
    if n <= 0 { return fds.map { _ in false } }
    return pfds.map { $0.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 }
}

/// This process's pid.
func discovery_getpid() -> Int32 { getpid() }

/// Starts a detached thread running `body` (the poll-loop thread of the device watcher).
func discovery_startThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    final class Box: @unchecked Sendable {
        // Sound: the box is handed to exactly one new thread and never touched by the creator afterwards.
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, nil,
        { raw in
            guard let raw else { return nil }
            let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
            box.body()
            return nil
        }, context)
    if rc != 0 {
        Unmanaged<Box>.fromOpaque(context).release()
        return false
    }
    pthread_detach(thread)
    return true
}
