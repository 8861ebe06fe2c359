// SMSTimestamp+Foundation.swift: the instant as a Foundation `Date` (kept apart so that the codec files build
// without Foundation, e.g. in the fuzzing harness).

public import Foundation

extension SMSTimestamp {
    /// The instant this time stamp denotes.
    public var date: Date {
        Date(timeIntervalSince1970: TimeInterval(secondsSince1970))
    }

    /// Creates the time stamp of `date` as seen at `utcOffsetMinutes`.
    /// - Throws: ``PDUError`` `.invalidInput` outside 2000...2099 or for an offset that is not whole quarter hours.
    public init(date: Date, utcOffsetMinutes: Int) throws(PDUError) {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        guard seconds.isFinite, abs(seconds) < 1e15 else {
            throw .invalidInput("SMSTimestamp", "date \(date) is outside 2000...2099")
        }
        try self.init(secondsSince1970: Int64(seconds), utcOffsetMinutes: utcOffsetMinutes)
    }
}
