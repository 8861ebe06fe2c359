// SMSTimestamp.swift: TP-SCTS, TP-DT and the absolute TP-VP (3GPP TS 23.040 §9.2.3.11, §9.2.3.12.2, §9.2.3.13).

/// A service-centre time stamp (TP-SCTS), discharge time (TP-DT) or absolute validity period: local date and
/// time fields plus the time zone the service centre stated (3GPP TS 23.040 §9.2.3.11).
///
/// The two-digit year is read as 20YY.
public struct SMSTimestamp: Hashable, Sendable, CustomStringConvertible {
    /// Full year (20YY).
    public let year: Int
    /// Month 1...12.
    public let month: Int
    /// Day of month 1...31.
    public let day: Int
    /// Hour 0...23.
    public let hour: Int
    /// Minute 0...59.
    public let minute: Int
    /// Second 0...59.
    public let second: Int
    /// Offset of the local time from UTC in minutes (a multiple of 15; e.g. `-300` for `-05:00`).
    public let utcOffsetMinutes: Int

    /// Octets of a time stamp field (TS 23.040 §9.2.3.11).
    static let octetCount = 7
    /// Bit 3 of the time-zone octet (as stored, before the semi-octet swap): the sign, set for west of UTC.
    static let timeZoneSignBit: UInt8 = 0x08
    /// The largest zone that the two BCD digits (seven bits) can carry: 79 quarter hours.
    static let maximumQuarterHours = 79

    /// Creates a time stamp from its fields.
    /// - Throws: ``PDUError`` `.invalidInput` when a field is out of range or the offset is not a whole number of
    ///   quarter hours within ±19:45.
    public init(
        year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, utcOffsetMinutes: Int
    ) throws(PDUError) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.utcOffsetMinutes = utcOffsetMinutes
        try validateForEncoding()
    }

    /// Checks that the fields can be written as a TS 23.040 §9.2.3.11 time stamp (a decoded time stamp may carry a
    /// zone beyond ±19:45 read from a non-decimal octet).
    /// - Throws: ``PDUError`` `.invalidInput` naming the field that is out of range.
    func validateForEncoding() throws(PDUError) {
        if let problem = validationProblem() { throw .invalidInput("SMSTimestamp", problem) }
        guard (2000...2099).contains(year) else {
            throw .invalidInput("SMSTimestamp", "year \(year) is outside 2000...2099 (two-digit years)")
        }
        guard utcOffsetMinutes % 15 == 0, abs(utcOffsetMinutes / 15) <= Self.maximumQuarterHours else {
            throw .invalidInput(
                "SMSTimestamp", "UTC offset \(utcOffsetMinutes) min is not a multiple of 15 within ±19:45")
        }
    }

    private init(unchecked year: Int, _ month: Int, _ day: Int, _ hour: Int, _ minute: Int, _ second: Int, _ offset: Int) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.utcOffsetMinutes = offset
    }

    /// Creates the time stamp of an instant (seconds since 1970-01-01T00:00:00Z) as seen in a zone.
    /// - Throws: ``PDUError`` `.invalidInput` when the instant falls outside 2000...2099 or the offset is unusable.
    public init(secondsSince1970: Int64, utcOffsetMinutes: Int) throws(PDUError) {
        // 1990...2110 bounds the arithmetic below; the field checks then enforce 2000...2099.
        guard (631_152_000...4_417_977_600).contains(secondsSince1970),
            abs(utcOffsetMinutes) <= Self.maximumQuarterHours * 15
        else {
            throw .invalidInput(
                "SMSTimestamp",
                "instant \(secondsSince1970) at offset \(utcOffsetMinutes) min is outside 2000...2099 or ±19:45")
        }
        let local = secondsSince1970 + Int64(utcOffsetMinutes) * 60
        let days = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        let secondsOfDay = Int(local - days * 86_400)
        let (y, m, d) = Self.civil(fromDays: days)
        try self.init(
            year: Int(y), month: m, day: d, hour: secondsOfDay / 3600, minute: secondsOfDay / 60 % 60,
            second: secondsOfDay % 60, utcOffsetMinutes: utcOffsetMinutes)
    }

    // MARK: - Derived values

    /// The instant as seconds since 1970-01-01T00:00:00Z.
    public var secondsSince1970: Int64 {
        let days = Self.days(fromCivil: Int64(year), month, day)
        return days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(utcOffsetMinutes) * 60
    }

    /// ISO 8601 with the stated offset, e.g. `2011-02-28T11:50:50-05:00` (a zero offset is `+00:00`).
    public var iso8601: String {
        let sign = utcOffsetMinutes < 0 ? "-" : "+"
        let offset = abs(utcOffsetMinutes)
        return "\(pad(year, 4))-\(pad(month))-\(pad(day))T\(pad(hour)):\(pad(minute)):\(pad(second))"
            + "\(sign)\(pad(offset / 60)):\(pad(offset % 60))"
    }

    public var description: String { iso8601 }

    private func pad(_ value: Int, _ width: Int = 2) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    // MARK: - Wire format (TS 23.040 §9.2.3.11)

    /// Reads a 7-octet time stamp for `field` (`TP-SCTS`, `TP-DT`, `TP-VP`).
    ///
    /// Date and time semi-octets must be decimal and in range; the time-zone octet is read leniently, as deployed
    /// decoders do: its sign is bit 3, a "negative zero" is `+00:00`, and a non-decimal semi-octet counts with its
    /// binary value (0xC2 → 2·10 + 12 = 32 quarter hours).
    /// - Throws: ``PDUError`` when truncated or a date/time field is not a valid value.
    static func read(_ reader: inout PDUReader, field: String) throws(PDUError) -> SMSTimestamp {
        let start = reader.offset
        let octets = try reader.readOctets(octetCount, field)
        var values: [Int] = []
        for (index, octet) in octets.prefix(6).enumerated() {
            let low = octet & 0x0F
            let high = octet >> 4
            guard low <= 9, high <= 9 else {
                throw .malformed(
                    field, offset: start + index,
                    "octet 0x\(PDUHex.encode([octet])) is not two decimal semi-octets")
            }
            values.append(Int(low) * 10 + Int(high))
        }
        let zone = octets[6]
        let quarters = Int(zone & 0x07) * 10 + Int(zone >> 4)
        let offset = (zone & timeZoneSignBit != 0 ? -quarters : quarters) * 15
        let stamp = SMSTimestamp(
            unchecked: 2000 + values[0], values[1], values[2], values[3], values[4], values[5], offset == 0 ? 0 : offset
        )
        if let problem = stamp.validationProblem() {
            throw .malformed(field, offset: start, problem)
        }
        return stamp
    }

    /// Writes the 7 octets; the mirror of ``read(_:field:)``.
    func write(to writer: inout PDUWriter) {
        for value in [year % 100, month, day, hour, minute, second] {
            writer.writeOctet(UInt8(value % 10) << 4 | UInt8(value / 10))
        }
        let quarters = abs(utcOffsetMinutes) / 15
        var zone = UInt8(quarters % 10) << 4 | UInt8(quarters / 10)
        if utcOffsetMinutes < 0 { zone |= Self.timeZoneSignBit }
        writer.writeOctet(zone)
    }

    /// A sentence naming the first out-of-range field, or `nil`.
    private func validationProblem() -> String? {
        guard (1...12).contains(month) else { return "month \(month) is not 1...12" }
        let daysInMonth = [31, Self.isLeap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard (1...daysInMonth).contains(day) else { return "day \(day) is not 1...\(daysInMonth) of month \(month)" }
        guard (0...23).contains(hour) else { return "hour \(hour) is not 0...23" }
        guard (0...59).contains(minute) else { return "minute \(minute) is not 0...59" }
        guard (0...59).contains(second) else { return "second \(second) is not 0...59" }
        return nil
    }

    // MARK: - Calendar arithmetic (proleptic Gregorian, H. Hinnant's days-from-civil algorithm)

    private static func isLeap(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    private static func days(fromCivil year: Int64, _ month: Int, _ day: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civil(fromDays days: Int64) -> (Int64, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return (y, m, d)
    }
}
