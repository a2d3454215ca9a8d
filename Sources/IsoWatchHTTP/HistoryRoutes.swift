import Foundation
import HTTPTypes
import Hummingbird
import IsoWatchCore
import IsoWatchSnapshot
import IsoWatchStore
import NIOCore

/// History, journal, alarms, CSV export, the printable inspection report, and `/metrics`.
///
/// Times in queries are ISO 8601 (`2026-11-22T08:00:00Z`) or Unix seconds. Every bad parameter is
/// a 400 naming the parameter and what it accepts.
public struct HistoryRoutes: Sendable {
    /// nil when the configuration has no `storage:` section: history routes answer 503.
    public var store: HistoryStore?
    /// The Prometheus text exposition; nil when metrics are disabled.
    public var metrics: (@Sendable () async -> String)?
    public var siteName: String

    /// The longest period one request may cover.
    static let maximumSpanSeconds: Double = 400 * 86400
    /// Raw readings are returned for periods up to this long; longer ones are bucketed.
    static let rawSpanLimitSeconds: Double = 6 * 3600
    /// A bucketed answer has at most about this many points.
    static let targetPoints = 2000.0
    /// A raw answer has at most this many points; the rest is the next page (`next_from`). Six
    /// hours at a 0.1 s poll would otherwise be 216,000 points built and encoded in memory.
    static let maximumRawPoints = 10_000
    /// The most journal entries or alarms one request returns, whatever `limit` asks for (larger
    /// limits are accepted, as before, and clamped); page with `before`.
    static let maximumListItems = 1000

    public init(store: HistoryStore?, metrics: (@Sendable () async -> String)?, siteName: String = "") {
        self.store = store
        self.metrics = metrics
        self.siteName = siteName
    }

    /// `/metrics`: open to a scraper that cannot sign in only where `http.metrics: open` says so
    /// (the session guard decides); turn it off with `metrics: {enabled: false}`.
    public func registerMetrics(on router: Router<HTTPServer.Context>) {
        guard let metrics else { return }
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: await metrics())))
        }
    }

    public func register(on router: Router<HTTPServer.Context>, state: any LiveStateProvider) {
        let routes = self
        router.get("/api/v1/systems/{id}/readings") { request, context -> Response in
            try await routes.withSystem(request, context, state) { store, system, query in
                let (from, to) = try query.range(defaultSeconds: 3600)
                let (history, nextFrom) = try await routes.page(store, system.id, from, to)
                var response = HTTPServer.jsonResponse(HistoryDocument(history, nextFrom: nextFrom))
                routes.markNextPage(&response, nextFrom)
                return response
            }
        }
        router.get("/api/v1/systems/{id}/history") { request, context -> Response in
            try await routes.withSystem(request, context, state) { store, system, query in
                let spans: [String: (seconds: Double, bucket: Int)] = [
                    "hour": (3600, store.settings.rawRetentionSeconds >= 3600 ? 0 : 60), "day": (86400, 60),
                    "week": (7 * 86400, 600),
                ]
                let name = try query.value("span") ?? "hour"
                guard let span = spans[name] else {
                    throw QueryError("span", "must be hour, day or week, got '\(name)'")
                }
                let to = Date()
                let history = try await store.history(
                    system: system.id, from: to.addingTimeInterval(-span.seconds), to: to, bucketSeconds: span.bucket,
                    rawLimit: nil)
                return HTTPServer.jsonResponse(HistoryDocument(history))
            }
        }
        router.get("/api/v1/systems/{id}/readings.csv") { request, context -> Response in
            try await routes.withSystem(request, context, state) { store, system, query in
                let (from, to) = try query.range(defaultSeconds: 86400)
                let (history, nextFrom) = try await routes.page(store, system.id, from, to)
                let name = "\(system.id)-\(Int(from.timeIntervalSince1970))-\(Int(to.timeIntervalSince1970)).csv"
                var response = Response(
                    status: .ok,
                    headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"\(name)\""],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: HistoryExport.csv(history))))
                routes.markNextPage(&response, nextFrom)
                return response
            }
        }
        router.get("/api/v1/systems/{id}/report") { request, context -> Response in
            try await routes.withSystem(request, context, state) { store, system, query in
                let (from, to) = try query.range(defaultSeconds: 30 * 86400)
                let report = try await InspectionReport.gather(
                    store: store, site: routes.siteName, system: system.id, name: system.name, location: system.location,
                    from: from, to: to)
                return Response(
                    status: .ok,
                    headers: [
                        .contentType: "text/html; charset=utf-8",
                        // The report is one static page with its own <style> block and no script.
                        .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
                    ],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: report.html())))
            }
        }
        router.get("/api/v1/events") { request, context -> Response in
            try await routes.withStore(request) { store, query in
                let (from, to) = try query.optionalRange()
                let limit = min(try query.integer("limit", in: 1...10_000) ?? 100, Self.maximumListItems)
                let before = try query.integer("before", in: 1...Int.max).map(Int64.init)
                let kind = query.text("kind")
                // `user.*` entries (sign-ins with addresses and mistyped names, which are often
                // passwords) are for admins: asking for them is refused, and other pages leave them out.
                let admin = context.user.map { $0.role >= .admin } ?? false
                if !admin, let kind, kind.hasPrefix(Self.userKindPrefix) {
                    return HTTPServer.errorResponse(.forbidden, "journal entries '\(Self.userKindPrefix)*' are for admins only")
                }
                let page = try await routes.eventPage(
                    store,
                    JournalQuery(system: query.text("system"), from: from, to: to, kindPrefix: kind, limit: limit, afterID: before),
                    hidingUserEntries: !admin && Self.userKindPrefix.hasPrefix(kind ?? ""))
                var response = HTTPServer.jsonResponse(page.events)
                if let next = page.nextBefore {
                    // There may be more, older than this cursor.
                    response.headers[HTTPField.Name("X-Next-Before")!] = String(next)
                }
                return response
            }
        }
        router.get("/api/v1/alarms") { request, _ -> Response in
            try await routes.withStore(request) { store, query in
                let (from, to) = try query.optionalRange()
                var active: Bool?
                if let text = try query.value("active") {
                    guard let value = ["true": true, "false": false][text] else {
                        throw QueryError("active", "must be true or false, got '\(text)'")
                    }
                    active = value
                }
                let limit = min(try query.integer("limit", in: 1...10_000) ?? 1000, Self.maximumListItems)
                let alarms = try await store.alarms(
                    AlarmQuery(system: query.text("system"), active: active, from: from, to: to, limit: limit))
                return HTTPServer.jsonResponse(alarms)
            }
        }
    }

    static let userKindPrefix = "user."

    /// One page of journal entries and the cursor of the next, if there may be one. Hiding
    /// `user.*` entries, it reads on past them until the page is full, at most 10 pages deep;
    /// a page cut short there still carries the cursor, so that no entry is skipped.
    func eventPage(
        _ store: HistoryStore, _ query: JournalQuery, hidingUserEntries: Bool
    ) async throws -> (events: [JournalEntry], nextBefore: Int64?) {
        guard hidingUserEntries else {
            let events = try await store.events(query)
            return (events, events.count == query.limit ? events.last?.id : nil)
        }
        var events: [JournalEntry] = []
        var cursor = query.afterID
        for _ in 0..<10 {
            var batchQuery = query
            batchQuery.afterID = cursor
            let batch = try await store.events(batchQuery)
            for entry in batch {
                cursor = entry.id
                guard !entry.kind.hasPrefix(Self.userKindPrefix) else { continue }
                events.append(entry)
                if events.count == query.limit { return (events, entry.id) }
            }
            if batch.count < query.limit { return (events, nil) }
        }
        return (events, cursor)
    }

    /// One page of readings: raw answers stop after `maximumRawPoints`, and the time of the first
    /// point left out is where the next page starts.
    func page(_ store: HistoryStore, _ system: String, _ from: Date, _ to: Date) async throws -> (History, Date?) {
        var history = try await store.history(
            system: system, from: from, to: to, bucketSeconds: bucketSeconds(from: from, to: to, store: store),
            rawLimit: Self.maximumRawPoints + 1)
        guard history.bucketSeconds == 0, history.points.count > Self.maximumRawPoints else { return (history, nil) }
        let nextFrom = history.points[Self.maximumRawPoints].time
        history.points.removeLast(history.points.count - Self.maximumRawPoints)
        return (history, nextFrom)
    }

    func markNextPage(_ response: inout Response, _ nextFrom: Date?) {
        guard let nextFrom else { return }
        response.headers[HTTPField.Name("X-Next-From")!] = Self.cursorText(nextFrom)
    }

    /// Milliseconds: a cursor rounded to the second would step back onto points already sent.
    static func cursorText(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    func bucketSeconds(from: Date, to: Date, store: HistoryStore) -> Int {
        let span = to.timeIntervalSince(from)
        let rawFrom = Date().addingTimeInterval(-store.settings.rawRetentionSeconds)
        if span <= Self.rawSpanLimitSeconds && from >= rawFrom { return 0 }
        let minutes = max(1, Int((span / Self.targetPoints / 60).rounded(.up)))
        return minutes * 60
    }

    private func withStore(
        _ request: Request, _ body: (HistoryStore, Query) async throws -> Response
    ) async throws -> Response {
        guard let store else {
            return HTTPServer.errorResponse(.serviceUnavailable, "no history: the configuration has no storage section")
        }
        do {
            return try await body(store, Query(request.uri.queryParameters))
        } catch let error as QueryError {
            return HTTPServer.errorResponse(.badRequest, error.description)
        }
    }

    private func withSystem(
        _ request: Request, _ context: HTTPServer.Context, _ state: any LiveStateProvider,
        _ body: (HistoryStore, SystemStatus, Query) async throws -> Response
    ) async throws -> Response {
        let id = try context.parameters.require("id")
        guard let system = await state.systems().first(where: { $0.id == id }) else {
            return HTTPServer.errorResponse(.notFound, "no IT system with id '\(id)'")
        }
        return try await withStore(request) { store, query in try await body(store, system, query) }
    }
}

struct QueryError: Error, CustomStringConvertible {
    let description: String

    init(_ parameter: String, _ reason: String) {
        description = "parameter '\(parameter)' \(reason)"
    }
}

/// The query string of a history request, with the checks every route shares.
struct Query {
    let parameters: Hummingbird.Parameters

    init(_ parameters: Hummingbird.Parameters) {
        self.parameters = parameters
    }

    /// A free-text filter (`system`, `kind`): empty is the same as absent, no filter.
    func text(_ name: String) -> String? {
        guard let value = parameters.get(name), !value.isEmpty else { return nil }
        return value
    }

    /// A typed parameter (a time, a number, an enum): absent is nil, but present and empty
    /// (`?to=`) is a 400, never silently the default: the client meant something and would get
    /// an answer to another question.
    func value(_ name: String) throws -> String? {
        guard let value = parameters.get(name) else { return nil }
        guard !value.isEmpty else { throw QueryError(name, "must not be empty (leave it out for the default)") }
        return value
    }

    func integer(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = try value(name) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw QueryError(name, "must be a whole number in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
        }
        return value
    }

    /// Instants the store can hold (milliseconds since 1970 in an Int64, kept to calendar years
    /// 1970...9999): anything outside is a 400, never an arithmetic trap further down.
    static let representableSeconds: ClosedRange<Double> = 0...253_402_300_799

    /// The forms `from` and `to` take, exactly as openapi.yaml's pattern says: Unix seconds, or
    /// RFC 3339 with a zone. Checked before parsing, because the parsers alone accept more
    /// (`Double` takes `1e5`, `0x10` and `inf`; the ISO 8601 formatter a lowercase `t`).
    static let timePattern = try! NSRegularExpression(
        pattern: #"^([0-9]{1,11}(\.[0-9]+)?|(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))$"#)

    func time(_ name: String) throws -> Date? {
        guard let text = try value(name) else { return nil }
        let whole = NSRange(text.startIndex..., in: text)
        var parsed: Date?
        if Self.timePattern.firstMatch(in: text, range: whole) != nil {
            if !text.contains("T") {
                parsed = Double(text).map { Date(timeIntervalSince1970: $0) }
            } else {
                // Any number of fraction digits (RFC 3339 sets no limit): parse the whole seconds,
                // add the fraction.
                var seconds = text
                var fraction = 0.0
                if let dot = text.firstIndex(of: ".") {
                    let end = text[dot...].firstIndex { !$0.isNumber && $0 != "." } ?? text.endIndex
                    fraction = Double("0" + text[dot..<end]) ?? 0
                    seconds = String(text[..<dot] + text[end...])
                }
                // The formatter rolls a day the month does not have (2026-02-30) over into the next.
                if Self.dayExists(in: text) {
                    parsed = ISO8601DateFormatter().date(from: seconds).map { $0.addingTimeInterval(fraction) }
                }
            }
        }
        if parsed == nil, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "." || $0 == "-") }),
            let seconds = Double(text), !Self.representableSeconds.contains(seconds)
        {
            // Unix seconds in the right form but out of range: say so, not "wrong form".
            throw QueryError(name, "must lie between 1970-01-01 and 9999-12-31, got '\(text)'")
        }
        guard let parsed else {
            throw QueryError(
                name,
                "must be an RFC 3339 time with a zone (2026-11-22T08:00:00Z) or Unix seconds (1795334400), got '\(text)'")
        }
        guard Self.representableSeconds.contains(parsed.timeIntervalSince1970) else {
            throw QueryError(name, "must lie between 1970-01-01 and 9999-12-31, got '\(text)'")
        }
        return parsed
    }

    /// Whether the date of an RFC 3339 text that matched `timePattern` (day 01...31) is in its
    /// month: no 30 February, no 31 April; 29 February only in a leap year.
    static func dayExists(in text: String) -> Bool {
        let digits = text.split(whereSeparator: { $0 == "-" || $0 == "T" }).prefix(3).compactMap { Int($0) }
        guard digits.count == 3 else { return false }
        let (year, month, day) = (digits[0], digits[1], digits[2])
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return (1...12).contains(month) && day <= lengths[month - 1]
    }

    /// `from` and `to`; a missing `to` is now, a missing `from` is `defaultSeconds` before `to`.
    func range(defaultSeconds: Double) throws -> (Date, Date) {
        let to = try time("to") ?? Date()
        let from = try time("from") ?? to.addingTimeInterval(-defaultSeconds)
        try check(from, to)
        return (from, to)
    }

    func optionalRange() throws -> (Date?, Date?) {
        let from = try time("from")
        let to = try time("to")
        if let from, let to { try check(from, to) }
        return (from, to)
    }

    private func check(_ from: Date, _ to: Date) throws {
        guard from < to else { throw QueryError("from", "must be before 'to'") }
        guard to.timeIntervalSince(from) <= HistoryRoutes.maximumSpanSeconds else {
            throw QueryError("from", "the period may span at most 400 days")
        }
    }
}

/// The JSON of a history: raw points carry one number per quantity, bucketed points
/// `{"min", "mean", "max"}` per quantity and the number of samples.
struct HistoryDocument: Encodable {
    let history: History
    /// Set when the answer stopped at the raw-point cap: ask again with `from` set to this.
    let nextFrom: Date?

    init(_ history: History, nextFrom: Date? = nil) {
        self.history = history
        self.nextFrom = nextFrom
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private struct Point: Encodable {
        let point: HistoryPoint
        let raw: Bool

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(point.time, forKey: Key("timestamp"))
            if raw {
                try container.encode(point.faults.sorted().map(\.rawValue), forKey: Key("faults"))
            } else {
                try container.encode(point.samples, forKey: Key("samples"))
                try container.encode(point.faultedSamples, forKey: Key("faulted_samples"))
            }
            for quantity in HistoryStore.quantities {
                guard let statistics = point.statistics[quantity] else { continue }
                if raw {
                    try container.encode(statistics.mean, forKey: Key(quantity.rawValue))
                } else {
                    try container.encode(statistics, forKey: Key(quantity.rawValue))
                }
            }
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(history.system, forKey: Key("system"))
        try container.encode(history.from, forKey: Key("from"))
        try container.encode(history.to, forKey: Key("to"))
        try container.encode(history.bucketSeconds, forKey: Key("bucket_seconds"))
        try container.encode(history.points.map { Point(point: $0, raw: history.bucketSeconds == 0) }, forKey: Key("points"))
        try container.encodeIfPresent(nextFrom.map(HistoryRoutes.cursorText), forKey: Key("next_from"))
    }
}

