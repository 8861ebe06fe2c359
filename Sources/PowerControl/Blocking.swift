#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// Runs blocking driver I/O (a serial exchange, an ioctl, waiting for a program) on a thread of its own, so no
/// task of the cooperative pool ever blocks. Power actions are rare and short; one thread per action is fine.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws(PowerError) -> T) async throws(PowerError) -> T {
    let result: Result<T, PowerError> = await withCheckedContinuation { continuation in
        let started = power_startThread {
            do throws(PowerError) {
                continuation.resume(returning: .success(try body()))
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
        if !started {
            continuation.resume(
                returning: .failure(PowerError(code: .io, outlet: nil, message: "cannot start a thread for the action")))
        }
    }
    return try result.get()
}
