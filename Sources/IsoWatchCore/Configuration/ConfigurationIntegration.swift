import Foundation

// The `storage:`, `metrics:` and `bms:` sections: the history database, the Prometheus endpoint
// and the Modbus TCP server for the building management system. Documented in the README's
// "Configuration" section.

/// The history and journal database.
public struct StorageConfiguration: Sendable, Equatable {
    /// Absolute; relative paths in the file start at the file's folder.
    public var databaseFile: URL
    public var rawRetentionHours: Double
    public var retentionDays: Double
    public var journalRetentionDays: Double
    public var maximumSizeMegabytes: Double

    public init(
        databaseFile: URL, rawRetentionHours: Double = 24, retentionDays: Double = 365, journalRetentionDays: Double = 3650,
        maximumSizeMegabytes: Double = 1024
    ) {
        self.databaseFile = databaseFile
        self.rawRetentionHours = rawRetentionHours
        self.retentionDays = retentionDays
        self.journalRetentionDays = journalRetentionDays
        self.maximumSizeMegabytes = maximumSizeMegabytes
    }
}

/// Prometheus text exposition at `/metrics` on the HTTP server.
public struct MetricsSettings: Sendable, Equatable {
    public var enabled: Bool

    public init(enabled: Bool = true) {
        self.enabled = enabled
    }
}

/// The Modbus TCP server that publishes every system's values and alarm states as input
/// registers (map: hardware/bms-register-map.md). It is read-only: a building management system
/// has no signed-in user, and every action on a theatre's alarm must be journalled with one.
public struct BMSSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// Connections served at once; one more is closed as soon as it is accepted.
    public var maxClients: Int

    public init(host: String = "0.0.0.0", port: Int = 502, maxClients: Int = 16) {
        self.host = host
        self.port = port
        self.maxClients = maxClients
    }
}

extension YAMLValue {
    func storageConfiguration(baseDirectory: URL) -> StorageConfiguration? {
        guard
            let mapping = mapping(allowedKeys: [
                "path", "raw_retention_hours", "retention_days", "journal_retention_days", "max_size_megabytes",
            ])
        else { return nil }
        guard let path = mapping.required("path", "the SQLite file of the history and the journal")?.string() else {
            return nil
        }
        var storage = StorageConfiguration(
            databaseFile: (path.hasPrefix("/") ? URL(fileURLWithPath: path) : baseDirectory.appendingPathComponent(path))
                .standardized)
        if let hours = mapping["raw_retention_hours"]?.number(in: 0.1...8760, unit: " h") { storage.rawRetentionHours = hours }
        if let days = mapping["retention_days"]?.number(in: 1...36500, unit: " days") { storage.retentionDays = days }
        if let days = mapping["journal_retention_days"]?.number(in: 30...36500, unit: " days") {
            storage.journalRetentionDays = days
        }
        if let megabytes = mapping["max_size_megabytes"]?.number(in: 4...1_000_000, unit: " MB") {
            storage.maximumSizeMegabytes = megabytes
        }
        if storage.rawRetentionHours / 24 > storage.retentionDays {
            mapping.report("raw_retention_hours", "must not exceed retention_days: readings would be dropped before they are downsampled")
        }
        return storage
    }

    func metricsSettings() -> MetricsSettings {
        guard let mapping = mapping(allowedKeys: ["enabled"]) else { return MetricsSettings() }
        return MetricsSettings(enabled: mapping["enabled"]?.bool() ?? true)
    }

    func bmsSettings() -> BMSSettings? {
        guard let mapping = mapping(allowedKeys: ["listen", "max_clients"]),
            let listen = mapping.required("listen", "HOST:PORT for the Modbus TCP server, e.g. 0.0.0.0:502"),
            let text = listen.string()
        else { return nil }
        guard let address = HostPort(text) else {
            listen.report("must be HOST:PORT with a port in 0...65535 (e.g. 0.0.0.0:502), got '\(text)'")
            return nil
        }
        var settings = BMSSettings(host: address.host, port: address.port)
        if let clients = mapping["max_clients"]?.integer(in: 1...256) { settings.maxClients = clients }
        return settings
    }
}
