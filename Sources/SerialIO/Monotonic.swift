#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// CLOCK_MONOTONIC in nanoseconds: for deadlines that must not jump when the wall clock is set
/// (a Pi without an RTC sets its clock late, from the modem or from NTP).
public enum Monotonic {
    /// Nanoseconds since an arbitrary point, never going backwards.
    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
