import Foundation

/// Runs blocking test code (waiting for a child process, polling a pty, sleeping) on a thread of its own.
///
/// Swift Testing runs suites in parallel on the cooperative pool, which has one thread per core (two on the CI
/// machine): a test that blocks one of them stalls every other suite, and two such tests stall the whole run until
/// time limits fire. Blocking work goes here instead.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            continuation.resume(with: Result { try body() })
        }.start()
    }
}
