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
        try self.init(
            secondsSince1970: Int64(date.timeIntervalSince1970.rounded(.down)), utcOffsetMinutes: utcOffsetMinutes)
    }
}
