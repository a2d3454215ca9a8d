import Foundation
import IsoWatchCore
import IsoWatchTesting
import Testing

/// The disagreements schemathesis found between openapi.yaml and the server (issue 13 §9), one
/// rule each, against the real server: query parameters are checked strictly and refused with
/// 400 and a reason naming the parameter; what the specification allows is accepted; the answers
/// are among the documented ones.
@Suite(.serialized)
struct QueryContractTests {
    /// Reading open, with history, so that every query reaches its route without a session.
    func withServer(_ body: (Int) async throws -> Void) async throws {
        let database = FileManager.default.temporaryDirectory.appending(path: "isowatch-query-\(UUID().uuidString).sqlite")
        let (harness, _) = try await AuthTests().harness(open: true, storage: database)
        do {
            try await body(harness.httpPort)
        } catch {
            try await harness.stop()
            throw error
        }
        try await harness.stop()
        try? FileManager.default.removeItem(at: database)
    }

    static func get(_ port: Int, _ path: String, method: String = "GET") async throws -> (status: Int, body: String) {
        try await HostileClientTests.curl(port, path, ["-X", method])
    }

    /// The `Allow` header of an answer, read with curl's `%header{}`.
    static func allowHeader(_ port: Int, _ path: String, method: String) async throws -> String {
        let result = try await onOwnThread {
            try ExternalPeer.run(
                "/usr/bin/curl", ["-sS", "-o", "/dev/null", "-X", method, "-w", "%{http_code} %header{allow}", "http://127.0.0.1:\(port)\(path)"])
        }
        return result.output
    }

    static let rangeRoutes = [
        "/api/v1/systems/or-1/readings", "/api/v1/systems/or-1/readings.csv", "/api/v1/systems/or-1/report",
        "/api/v1/events", "/api/v1/alarms",
    ]

    @Test func test_anEmptyTimeOrNumberIsRefusedNotTakenAsTheDefault() async throws {
        try await withServer { port in
            for route in Self.rangeRoutes {
                for parameter in ["from", "to"] {
                    let answer = try await Self.get(port, "\(route)?\(parameter)=")
                    #expect(answer.status == 400, "\(route)?\(parameter)= answered \(answer)")
                    #expect(answer.body.contains("parameter '\(parameter)' must not be empty"), "\(answer.body)")
                }
            }
            for (route, parameter) in [("/api/v1/events", "limit"), ("/api/v1/events", "before"), ("/api/v1/alarms", "active")] {
                let answer = try await Self.get(port, "\(route)?\(parameter)=")
                #expect(answer.status == 400, "\(route)?\(parameter)= answered \(answer)")
                #expect(answer.body.contains("parameter '\(parameter)'"), "\(answer.body)")
            }
            // Free-text filters stay optional: empty is no filter.
            let emptyFilters = try await Self.get(port, "/api/v1/events?system=&kind=")
            #expect(emptyFilters.status == 200)
        }
    }

    @Test func test_aSpanOutsideHourDayWeekIsRefusedWithTheReason() async throws {
        try await withServer { port in
            for span in ["", "year", "HOUR", "hour%20"] {
                let answer = try await Self.get(port, "/api/v1/systems/or-1/history?span=\(span)")
                #expect(answer.status == 400, "span=\(span) answered \(answer)")
                #expect(answer.body.contains("parameter 'span'"), "\(answer.body)")
            }
            for span in ["hour", "day", "week"] {
                let validSpan = try await Self.get(port, "/api/v1/systems/or-1/history?span=\(span)")
                #expect(validSpan.status == 200, "span=\(span)")
            }
            let noSpan = try await Self.get(port, "/api/v1/systems/or-1/history")
            #expect(noSpan.status == 200)
        }
    }

    @Test func test_everyTimeFormTheSpecificationAllowsIsAccepted() async throws {
        let now = Date().timeIntervalSince1970
        let formatter = ISO8601DateFormatter()
        let to = formatter.string(from: Date(timeIntervalSince1970: now - 60))
        // The same instants in every documented form: a zone offset, a long fraction, a short one.
        let hourAgo = Date(timeIntervalSince1970: (now - 3600).rounded(.down))
        formatter.timeZone = TimeZone(secondsFromGMT: 3600)
        let withOffset = formatter.string(from: hourAgo)
        let fromForms = [
            withOffset,
            withOffset.replacingOccurrences(of: "+01:00", with: ".123456789+01:00"),
            withOffset.replacingOccurrences(of: "+01:00", with: ".5+01:00"),
            String(Int(now - 3600)), String(format: "%.3f", now - 3600),
        ]
        let pattern = try NSRegularExpression(pattern: Self.specificationTimePattern())
        try await withServer { port in
            for from in fromForms {
                let query = "from=\(from.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)&to=\(to.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"
                // The test's own inputs are valid by the specification's pattern, or it proves nothing.
                #expect(pattern.firstMatch(in: from, range: NSRange(from.startIndex..., in: from)) != nil, "\(from)")
                for route in Self.rangeRoutes {
                    let answer = try await Self.get(port, "\(route)?\(query)")
                    #expect(answer.status == 200, "\(route)?\(query) answered \(answer)")
                }
            }
            // A leap day; the journal takes a `from` alone, in the future too (no entries yet).
            let leapDay = try await Self.get(port, "/api/v1/events?from=2028-02-29T23%3A59%3A59Z")
            #expect(leapDay.status == 200, "\(leapDay)")
        }
    }

    @Test func test_aTimeInAFormTheSpecificationDoesNotAllowIsRefused() async throws {
        // Each of these was accepted by Double(_:) or the ISO 8601 formatter alone (which rolls
        // 30 February over into March).
        let forms = ["1e9", "0x10", "inf", "+1795334400", "2026-11-22t08:00:00z", "2026-11-22T08:00:00", "2026-02-30T08:00:00Z", "2027-02-29T08:00:00Z"]
        // Schemathesis's finds: the specification's pattern allowed them (month 75, hour 84, an
        // offset of -15:60, 1969), so a client could send them by the book and get a 400.
        let foundBySchemathesis = ["1509-75-05T38:98:90.1095Z", "1599-70-20T84:18:05-15:60", "1969-12-31T23:59:59Z"]
        let pattern = try NSRegularExpression(pattern: Self.specificationTimePattern())
        for form in foundBySchemathesis {
            #expect(pattern.firstMatch(in: form, range: NSRange(form.startIndex..., in: form)) == nil, "the specification allows \(form)")
        }
        try await withServer { port in
            for form in forms + foundBySchemathesis {
                let answer = try await Self.get(port, "/api/v1/events?from=\(form.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)")
                #expect(answer.status == 400, "from=\(form) answered \(answer)")
                #expect(answer.body.contains("parameter 'from'"), "\(answer.body)")
            }
        }
    }

    @Test func test_anUndeclaredMethodOnAKnownPathIsA405WithAllow() async throws {
        try await withServer { port in
            let traceHealth = try await Self.allowHeader(port, "/healthz", method: "TRACE")
            #expect(traceHealth == "405 GET")
            let deleteSystem = try await Self.allowHeader(port, "/api/v1/systems/or-1", method: "DELETE")
            #expect(deleteSystem == "405 GET")
            let getLogout = try await Self.allowHeader(port, "/api/v1/logout", method: "GET")
            #expect(getLogout == "405 POST")
            let putSilence = try await Self.allowHeader(port, "/api/v1/systems/or-1/silence", method: "PUT")
            #expect(putSilence == "405 POST")
            // A path no route has stays 404.
            let unknownPath = try await Self.get(port, "/api/v1/nothing-here", method: "TRACE")
            #expect(unknownPath.status == 404)
        }
    }

    /// A percent-encoded system id is refused with 400 before any route is looked at; every
    /// operation with a path parameter documents that 400.
    @Test func test_theAnswerToANonCanonicalSystemIdIsDocumented() async throws {
        try await withServer { port in
            for (method, template) in OpenAPITests.documentedOperations where template.contains("{id}") {
                let path = template.replacingOccurrences(of: "{id}", with: "%C2%84")
                let answer = try await Self.get(port, path, method: method)
                let documented = (OpenAPITests.operation(method, template)["responses"] as? [String: Any] ?? [:]).keys
                #expect(answer.status == 400, "\(method) \(path) answered \(answer)")
                #expect(documented.contains(String(answer.status)), "\(method) \(template): \(answer.status) is not documented")
            }
        }
    }

    @Test func test_theLargestDocumentedBeforeIsAccepted() async throws {
        let parameters = (OpenAPITests.operation("GET", "/api/v1/events")["parameters"] as? [[String: Any]]) ?? []
        let before = try #require(parameters.first { $0["name"] as? String == "before" })
        let maximum = try #require((before["schema"] as? [String: Any])?["maximum"] as? Int)
        try await withServer { port in
            let largest = try await Self.get(port, "/api/v1/events?before=\(maximum)")
            #expect(largest.status == 200)
            let tooLarge = try await Self.get(port, "/api/v1/events?before=9223372036854775808")
            #expect(tooLarge.status == 400)
        }
    }

    /// Found against the demo, whose OR 3 has its temperature sensor open: the server writes null
    /// for a value the device marks invalid, and the specification said `number` only.
    @Test func test_aValueTheDeviceMarksInvalidIsNullAndTheSpecificationAllowsIt() throws {
        var reading = DecodedReading(timestamp: Date(timeIntervalSince1970: 0))
        reading.values[.insulationResistanceOhms] = MeasuredValue(650_000)
        for quantity in [Quantity.windingTemperatureCelsius, .leakageCapacitanceFarads, .loadPercent, .loadCurrentAmperes] {
            reading.values[quantity] = MeasuredValue(65535, validity: .invalid)
        }
        let json = try #require(
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(ReadingDocument(reading))) as? [String: Any])
        let schemas = OpenAPITests.specification["components"].flatMap { ($0 as? [String: Any])?["schemas"] } as? [String: Any]
        let properties = ((schemas?["Reading"] as? [String: Any])?["properties"] as? [String: Any]) ?? [:]
        let nulls = json.filter { $0.value is NSNull }.map(\.key)
        #expect(nulls.count == 4, "\(json)")
        for key in nulls {
            #expect((properties[key] as? [String: Any])?["nullable"] as? Bool == true, "Reading.\(key) is null but not nullable")
        }
    }

    static func specificationTimePattern() throws -> String {
        let parameters = OpenAPITests.specification["components"].flatMap { ($0 as? [String: Any])?["parameters"] } as? [String: Any]
        let from = parameters?["From"] as? [String: Any]
        return try #require((from?["schema"] as? [String: Any])?["pattern"] as? String)
    }
}

