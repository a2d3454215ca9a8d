import Foundation
import IsoWatchAlarms
import IsoWatchCore
import IsoWatchStore
import Logging
import ServiceLifecycle

/// What the monitor hands to the history: readings, the alarm machine's records and service
/// events. Every call returns at once; the store's writer thread commits in submission order, and
/// an entry counts as stored only when the writer says so (after the commit is on disk).
final class Persistence: Sendable {
    let store: HistoryStore
    let writer: StoreWriter
    private let logger: Logger
    private let metrics: ServiceMetrics?

    init(settings: StorageConfiguration, metrics: ServiceMetrics?, logger: Logger) throws {
        store = try HistoryStore(
            settings: StoreSettings(
                databaseFile: settings.databaseFile, rawRetentionSeconds: settings.rawRetentionHours * 3600,
                aggregateRetentionSeconds: settings.retentionDays * 86400,
                journalRetentionSeconds: settings.journalRetentionDays * 86400,
                maximumSizeBytes: Int64(settings.maximumSizeMegabytes * 1_048_576)))
        self.logger = logger
        self.metrics = metrics
        writer = StoreWriter(
            store: store,
            onError: { error in
                // A full or failing disk must never stop the monitoring: log, count, carry on. The
                // journal entries wait in memory for the disk to recover.
                logger.error("history store: \(error)")
                metrics?.storageErrors.increment()
            },
            onJournalStored: { count in metrics?.journalEntries.increment(by: Int64(count)) })
    }

    func reading(_ reading: DecodedReading, system: String) {
        writer.reading(reading, system: system)
    }

    func journal(kind: String, system: String? = nil, user: String? = nil, detail: JSONValue? = nil, time: Date = Date()) {
        writer.journal(JournalDraft(time: time, kind: kind, system: system, user: user, detail: detail)) { [logger] result in
            if case let .failure(error) = result {
                logger.error("journal entry not stored", metadata: ["kind": "\(kind)", "error": "\(error)"])
            }
        }
    }

    /// For actions that must not be answered before they are on record (sign-ins, web actions).
    func journalDurably(kind: String, system: String?, user: String, text: String) async throws {
        try await store.appendDurably(kind: kind, system: system, user: user, detail: ["text": .string(text)])
        metrics?.journalEntries.increment()
    }

    func communication(restored: Bool, system: String, reason: String?) {
        journal(
            kind: restored ? "communication.restored" : "communication.lost", system: system,
            detail: reason.map { ["reason": .string($0)] })
    }

    /// One record of an alarm machine: a journal entry and, for episodes, the alarms table.
    func record(_ record: AlarmRecord, system: String) {
        let entry = Self.journalEntry(record)
        journal(kind: entry.kind, system: system, user: entry.user, detail: entry.detail, time: record.time.wall)
        for update in Self.alarmUpdates(record, system: system) {
            writer.alarm(update)
        }
    }

    func close() async {
        await writer.finish()
    }

    /// Journals (kind `service.configuration`) the SHA-256 and path of the configuration file and
    /// of the users file in force, so that the record shows which settings and which accounts
    /// governed the alarms from here on. Called at every start; a reload calls it again with
    /// `reason: "reload"` once the new files are in force.
    func journalConfigurationInForce(_ configuration: Configuration, reason: String) {
        journal(kind: "service.configuration", detail: Self.configurationFingerprint(configuration, reason: reason))
    }

    /// `{"reason", "configuration_file", "configuration_sha256", "users_file", "users_sha256"}`:
    /// the configuration's hash is of the bytes that were parsed; the users file is read again
    /// here (its hash, or `users_error` when it cannot be read); both are null when there is none.
    static func configurationFingerprint(_ configuration: Configuration, reason: String) -> JSONValue {
        var detail: [String: JSONValue] = ["reason": .string(reason)]
        detail["configuration_file"] = configuration.source.map { JSONValue.string($0.path) } ?? .null
        detail["configuration_sha256"] = configuration.source.map { JSONValue.string(JournalChain.sha256Hex($0.contents)) } ?? .null
        detail["users_file"] = configuration.http.usersFile.map { JSONValue.string($0.path) } ?? .null
        detail["users_sha256"] = .null
        if let users = configuration.http.usersFile {
            do {
                detail["users_sha256"] = .string(JournalChain.sha256Hex(try Data(contentsOf: users)))
            } catch {
                detail["users_error"] = .string(error.localizedDescription)
            }
        }
        return .object(detail)
    }

    // MARK: - Translation

    // `if case` rather than `switch`: the alarm machine may gain kinds of record (new test
    // results), and those must reach the journal by name without a change here.
    static func journalEntry(_ record: AlarmRecord) -> (kind: String, user: String?, detail: JSONValue) {
        let kind = record.kind
        if case let .raised(episode) = kind { return ("alarm.raised", nil, episodeDetail(episode)) }
        if case let .cleared(episode) = kind { return ("alarm.cleared", nil, episodeDetail(episode)) }
        if case let .silenced(user, conditions) = kind {
            return ("alarm.silenced", user, ["conditions": .array(conditions.map { .string($0.rawValue) })])
        }
        if case let .acknowledged(user, episodes) = kind {
            return (
                "alarm.acknowledged", user,
                [
                    "episodes": .array(episodes.map { .number(Double($0.id)) }),
                    "conditions": .array(episodes.map { .string($0.condition.rawValue) }),
                ]
            )
        }
        if case let .resounded(.newCondition(condition)) = kind {
            return ("alarm.resounded", nil, ["cause": "new_condition", "condition": .string(condition.rawValue)])
        }
        if case .resounded(.reAlarmIntervalElapsed) = kind {
            return ("alarm.resounded", nil, ["cause": "re_alarm_interval_elapsed"])
        }
        if case let .testStarted(user) = kind { return ("test.started", user, [:]) }
        if case let .testEnded(user) = kind { return ("test.ended", user, [:]) }
        if case let .selfTestResult(passed) = kind { return ("test.self_test_result", nil, ["passed": .bool(passed)]) }
        // Kept by its case name and its text, so the journal never drops a record for want of a schema.
        let name = Mirror(reflecting: kind).children.first?.label ?? "\(kind)"
        return ((record.isTest ? "test." : "alarm.") + snakeCase(name), nil, ["description": .string("\(kind)")])
    }

    static func alarmUpdates(_ record: AlarmRecord, system: String) -> [AlarmUpdate] {
        let kind = record.kind
        if case let .raised(episode) = kind {
            return [
                .raised(
                    system: system, episode: episode.id, condition: episode.condition.rawValue, onset: episode.onset.wall,
                    raised: episode.raised.wall, worst: worst(episode), detail: episode.detail)
            ]
        }
        if case let .cleared(episode) = kind {
            return [
                .cleared(system: system, episode: episode.id, cleared: episode.cleared?.wall ?? record.time.wall, worst: worst(episode))
            ]
        }
        if case let .silenced(user, conditions) = kind {
            return [.silenced(system: system, conditions: conditions.map(\.rawValue), user: user, at: record.time.wall)]
        }
        if case let .acknowledged(user, episodes) = kind {
            return [.acknowledged(system: system, episodes: episodes.map(\.id), user: user, at: record.time.wall)]
        }
        return []
    }

    static func episodeDetail(_ episode: AlarmEpisode) -> JSONValue {
        var detail: [String: JSONValue] = [
            "condition": .string(episode.condition.rawValue), "episode": .number(Double(episode.id)),
            "onset": .string(ISO8601DateFormatter().string(from: episode.onset.wall)),
        ]
        if let worst = worst(episode) { detail["worst"] = worst }
        if let text = episode.detail { detail["detail"] = .string(text) }
        return .object(detail)
    }

    /// `{"insulation_resistance_ohms": 30000}`; a "< x" value adds `"insulation_resistance_ohms_validity": "below_range"`.
    static func worst(_ episode: AlarmEpisode) -> JSONValue? {
        guard !episode.worstValues.isEmpty else { return nil }
        var members: [String: JSONValue] = [:]
        for (quantity, measured) in episode.worstValues {
            members[quantity.rawValue] = .number(measured.value)
            if measured.validity != .actual { members[quantity.rawValue + "_validity"] = .string(measured.validity.rawValue) }
        }
        return .object(members)
    }

    static func snakeCase(_ name: String) -> String {
        name.reduce(into: "") { text, character in
            if character.isUppercase {
                text += "_" + character.lowercased()
            } else {
                text.append(character)
            }
        }
    }
}

/// Journals the service's start (with the configuration it loaded) and stop, and closes the
/// store's writer after everything it records has stopped.
struct PersistenceService: Service {
    let persistence: Persistence
    let configuration: Configuration

    func run() async throws {
        persistence.journal(
            kind: "service.started",
            detail: ["pid": .number(Double(ProcessInfo.processInfo.processIdentifier))])
        persistence.journal(
            kind: "configuration.loaded",
            detail: [
                "site": .string(configuration.site.name),
                "systems": .array(configuration.systems.map { .string($0.id) }),
            ])
        persistence.journalConfigurationInForce(configuration, reason: "start")
        try? await gracefulShutdown()
        persistence.journal(kind: "service.stopped")
        await persistence.close()
    }
}
