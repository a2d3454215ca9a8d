import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A log handler for a service whose standard error is connected to the systemd journal.
///
/// journald reads a service's stderr line by line and, with `SyslogLevelPrefix=yes` (the default),
/// takes a leading `<N>` as the syslog priority of that line: `journalctl -p warning` and the
/// journal's colouring then work, and an alarm logged at error is not filed as info. journald
/// stamps the time and the unit itself, so a line carries only the priority, the label, the
/// message and its metadata.
///
/// Each line of a multi-line message gets the prefix, because journald splits the stream on
/// newlines and would give a bare continuation line the default priority. Each message goes out
/// in one `write(2)`, so messages from several threads never interleave mid-line.
public struct JournaldLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let fileDescriptor: Int32

    /// `fileDescriptor` is where lines go: standard error in the service, a pipe in tests.
    public init(label: String, fileDescriptor: Int32 = 2, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.fileDescriptor = fileDescriptor
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// The syslog priority (RFC 5424 severity) journald files a line under.
    public static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() {
            merged.merge(provided) { _, new in new }
        }
        if let explicit = event.metadata {
            merged.merge(explicit) { _, new in new }
        }
        let prefix = "<\(Self.syslogPriority(event.level))>"
        // The message is the program's own text, which may span lines on purpose; metadata carries
        // what clients supply (names, paths, addresses), where a newline would forge a line.
        var text = "\(label): \(Self.escapingControlCharacters("\(event.message)", keepingNewlines: true))"
        if let error = event.error {
            merged["error"] = "\(error)"
        }
        if !merged.isEmpty {
            text += " " + merged.sorted { $0.key < $1.key }.map {
                "\(Self.escapingControlCharacters($0.key))=\(Self.escapingControlCharacters("\($0.value)"))"
            }.joined(separator: " ")
        }
        var line = ""
        for part in text.split(separator: "\n", omittingEmptySubsequences: false) {
            line += prefix + part + "\n"
        }
        Self.writeFully(fileDescriptor, Array(line.utf8))
    }

    /// Control characters (C0, DEL, C1, and the line and paragraph separators) as `\\u{…}`, and a
    /// backslash doubled so that an escape in the input cannot pass for one of ours. A terminal
    /// escape sequence or a carriage return cannot then rewrite what `journalctl` shows, and a
    /// newline cannot start a line that looks like another message.
    public static func escapingControlCharacters(_ text: String, keepingNewlines: Bool = false) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0, keepingNewlines) || $0 == "\\" }) else { return text }
        var escaped = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == "\\" {
                escaped.append(contentsOf: "\\\\".unicodeScalars)
            } else if needsEscape(scalar, keepingNewlines) {
                escaped.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            } else {
                escaped.append(scalar)
            }
        }
        return String(escaped)
    }

    private static func needsEscape(_ scalar: Unicode.Scalar, _ keepingNewlines: Bool) -> Bool {
        if keepingNewlines && scalar == "\n" { return false }
        return scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    private static func writeFully(_ fileDescriptor: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    // Nowhere left to report a failed log write; the service keeps running.
                    return
                }
            }
        }
    }

    /// Whether `fileDescriptor` is the stream systemd connected to the journal: systemd sets
    /// JOURNAL_STREAM to "DEVICE:INODE" of that stream, and a descriptor that was redirected since
    /// (a shell in between, `isowatch run 2>file`) no longer matches it (systemd.exec(5)).
    public static func isJournal(fileDescriptor: Int32, journalStream: String?) -> Bool {
        guard let journalStream else { return false }
        let parts = journalStream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var status = stat()
        guard fstat(fileDescriptor, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }

    /// Whether this process's standard error is the journal.
    public static func standardErrorIsJournal() -> Bool {
        isJournal(fileDescriptor: 2, journalStream: getenv("JOURNAL_STREAM").map { String(cString: $0) })
    }
}
