/// A udev property set: the `E:` lines of `udevadm info`, or what libudev returns for a device, plus the values
/// discovery adds from sysfs when no udev daemon filled them in. Pure helpers, no I/O.
public enum UdevProperties {
    /// Parses `udevadm info -q all` / `udevadm info -q property` / `udevadm monitor --env` text into a property set.
    ///
    /// Lines `E: KEY=VALUE` and bare `KEY=VALUE` lines are taken; `P:`, `N:`, `S:` and other lines are ignored,
    /// except that `P:` supplies `DEVPATH` and `S:` lines supply `DEVLINKS` when those keys are missing.
    /// - Parameter text: the tool's output.
    /// - Returns: the properties.
    public static func parse(udevadmInfo text: String) -> [String: String] {
        var properties: [String: String] = [:]
        var symlinks: [String] = []
        for rawLine in text.split(whereSeparator: \.isNewline) {
            var line = Substring(rawLine)
            while line.first == " " || line.first == "\t" || line.first == "|" { line = line.dropFirst() }
            if line.hasPrefix("E: ") {
                line = line.dropFirst(3)
            } else if line.hasPrefix("P: ") {
                if properties["DEVPATH"] == nil { properties["DEVPATH"] = String(line.dropFirst(3)) }
                continue
            } else if line.hasPrefix("S: ") {
                symlinks.append("/dev/" + line.dropFirst(3))
                continue
            } else if line.count > 2, line.dropFirst().hasPrefix(": ") {
                continue
            }
            guard let eq = line.firstIndex(of: "="), eq != line.startIndex else { continue }
            let key = String(line[..<eq])
            guard key.allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" || $0 == "." }) else { continue }
            properties[key] = String(line[line.index(after: eq)...])
        }
        if properties["DEVLINKS"] == nil, !symlinks.isEmpty {
            properties["DEVLINKS"] = symlinks.joined(separator: " ")
        }
        return properties
    }

    /// Decodes udev's `\xNN` escapes (as in `ID_MODEL_ENC=FT232R\x20USB\x20UART`).
    public static func decodeEscapes(_ s: String) -> String {
        var bytes: [UInt8] = []
        let utf8 = Array(s.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "\\"), i + 3 < utf8.count, utf8[i + 1] == UInt8(ascii: "x"),
                let v = UInt8(String(decoding: utf8[(i + 2)...(i + 3)], as: UTF8.self), radix: 16)
            {
                bytes.append(v)
                i += 4
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
