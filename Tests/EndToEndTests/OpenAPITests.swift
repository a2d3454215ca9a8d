import Foundation
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchHTTP
@testable import IsoWatchService
import IsoWatchTesting
import Logging
import Testing
import Yams

/// openapi.yaml against the running server: every documented operation exists and answers with a
/// documented status and the documented required JSON fields; every /api/v1 route is documented.
@Suite(.serialized)
struct OpenAPITests {
    // nonisolated(unsafe): written once by the lazy initialiser, only read afterwards.
    nonisolated(unsafe) static let specification: [String: Any] = {
        let text = (try? String(contentsOf: RepositoryPaths.root.appending(path: "openapi.yaml"), encoding: .utf8)) ?? ""
        return ((try? Yams.load(yaml: text)) as? [String: Any]) ?? [:]
    }()

    static let methods = ["get", "post", "put", "patch", "delete"]

    /// ("GET", "/api/v1/systems/{id}") for every documented operation.
    static var documentedOperations: [(method: String, path: String)] {
        let paths = specification["paths"] as? [String: Any] ?? [:]
        return paths.keys.sorted().flatMap { path in
            let item = paths[path] as? [String: Any] ?? [:]
            return methods.filter { item[$0] != nil }.map { ($0.uppercased(), path) }
        }
    }

    static func operation(_ method: String, _ path: String) -> [String: Any] {
        let paths = specification["paths"] as? [String: Any] ?? [:]
        return (paths[path] as? [String: Any])?[method.lowercased()] as? [String: Any] ?? [:]
    }

    /// Follows a `$ref` within the file.
    static func resolve(_ node: Any?) -> [String: Any] {
        guard var object = node as? [String: Any] else { return [:] }
        while let reference = object["$ref"] as? String, reference.hasPrefix("#/") {
            var target: Any? = specification
            for part in reference.dropFirst(2).split(separator: "/") { target = (target as? [String: Any])?[String(part)] }
            object = target as? [String: Any] ?? [:]
        }
        return object
    }

    /// Every place where `value` lacks a field the schema requires, as JSON paths.
    static func missingFields(_ value: Any, schema node: Any?, at path: String = "$") -> [String] {
        var schema = resolve(node)
        if let all = schema["allOf"] as? [Any], let first = all.first { schema = resolve(first) }
        if value is NSNull { return schema["nullable"] as? Bool == true || schema.isEmpty ? [] : ["\(path) is null"] }
        if let array = value as? [Any], let items = schema["items"] {
            return array.enumerated().flatMap { missingFields($0.element, schema: items, at: "\(path)[\($0.offset)]") }
        }
        guard let object = value as? [String: Any] else { return [] }
        var missing = (schema["required"] as? [String] ?? []).filter { object[$0] == nil }.map { "\(path).\($0)" }
        for (key, property) in schema["properties"] as? [String: Any] ?? [:] {
            if let child = object[key] { missing += missingFields(child, schema: property, at: "\(path).\(key)") }
        }
        return missing
    }

    static let configuration = """
        site: { name: "OpenAPI test site" }
        http: { listen: "127.0.0.1:0", open_read: false, users_file: "{USERS}" }
        gpio: { backend: simulated }
        storage: { path: "{DATABASE}" }
        systems:

        """
        + WalkingSkeletonTests.system(
            "or-1", location: "OR 1", profile: "acrel-aim-m10", transport: WalkingSkeletonTests.rtu, unit: 1, timeout: 0.2,
            firstLine: 0)

    @Test(.timeLimit(.minutes(3)))
    func test_everyDocumentedOperationAnswersWithADocumentedStatusAndTheRequiredFields() async throws {
        #expect(documentedOperationsCount() >= 17)
        let users = try TestUsers.file()
        let database = FileManager.default.temporaryDirectory.appending(path: "isowatch-openapi-\(UUID().uuidString).sqlite")
        let yaml = Self.configuration.replacingOccurrences(of: "{USERS}", with: users.path)
            .replacingOccurrences(of: "{DATABASE}", with: database.path)
        let harness = try await ServiceHarness(site: TestUsers.site(), configurationYAML: yaml)
        let client = WebClient(port: harness.httpPort)
        let cookie = try #require(try await client.login("ada", TestUsers.passwords["ada"]!).cookie)
        // Wait for a reading, so that the reading's documented fields are checked too.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let reply = try await client.send("GET", "/api/v1/systems/or-1", cookie: cookie)
            if reply.json?["reading"] != nil { break }
            try await Task.sleep(for: .milliseconds(100))
        }

        // The file in force as the service read it (the simulator's port and device filled in).
        let inForce = try await client.send("GET", "/api/v1/configuration", cookie: cookie).json?["content"] as? String ?? yaml
        var results: [String: (status: Int, documented: [String], missing: [String])] = [:]
        // Logout last: it ends the session the others use; deleting the user the users routes
        // work on just before it.
        func rank(_ operation: (method: String, path: String)) -> Int {
            operation.path == "/api/v1/logout" ? 2 : operation.method == "DELETE" ? 1 : 0
        }
        let operations = Self.documentedOperations.sorted { rank($0) < rank($1) }
        for (method, template) in operations {
            let operation = Self.operation(method, template)
            let responses = operation["responses"] as? [String: Any] ?? [:]
            let isConfiguration = template.hasPrefix("/api/v1/configuration")
            // Version 1: the configuration recorded at start.
            var path = template.replacingOccurrences(of: "{id}", with: isConfiguration ? "1" : "or-1")
                .replacingOccurrences(of: "{name}", with: "openapi-user")
            if template.hasSuffix("/history") { path += "?span=hour" }
            let successStatus = responses.keys.compactMap(Int.init).filter { (200..<300).contains($0) }.min() ?? 200
            let success = Self.resolve(responses[String(successStatus)])
            let content = success["content"] as? [String: Any] ?? [:]
            if content["text/event-stream"] != nil {
                let stream = try EventStreamClient(port: harness.httpPort, path: path, cookie: cookie)
                let status = await stream.responseStatus() ?? 0
                await stream.close()
                results["\(method) \(template)"] = (status, Array(responses.keys), [])
                continue
            }
            var body: [String: Any]?
            if template == "/api/v1/login" { body = ["name": "ada", "password": TestUsers.passwords["ada"]!] }
            if let documented = Self.requestBodies["\(method) \(template)"] { body = documented }
            // The configuration in force, sent back: previewed or applied, it changes nothing.
            let reply = isConfiguration && method == "POST" && !template.hasSuffix("/rollback")
                ? try await client.send(method, path, body: Data(inForce.utf8), contentType: "application/yaml", cookie: cookie)
                : try await client.send(method, path, json: body, cookie: cookie)
            var missing: [String] = []
            if let schema = (content["application/json"] as? [String: Any])?["schema"], reply.status == successStatus {
                if let json = try? JSONSerialization.jsonObject(with: reply.body, options: [.fragmentsAllowed]) {
                    missing = Self.missingFields(json, schema: schema)
                } else {
                    missing = ["the body is not JSON"]
                }
            }
            if reply.status == successStatus, let type = content.keys.first {
                if !(reply.headers["content-type"] ?? "").hasPrefix(type) && successStatus != 204 {
                    missing.append("content-type \(reply.headers["content-type"] ?? "none"), documented \(type)")
                }
            }
            results["\(method) \(template)"] = (reply.status, Array(responses.keys), missing)
            _ = successStatus
        }
        // The documented refusal: reading without a session is 401 when reading is not open.
        let anonymous = try await client.send("GET", "/api/v1/systems")
        try await harness.stop()
        try? FileManager.default.removeItem(at: database)

        #expect(anonymous.status == 401)
        #expect(Self.missingFields((try? JSONSerialization.jsonObject(with: anonymous.body)) ?? [:], schema: ["$ref": "#/components/schemas/Error"]).isEmpty)
        #expect(results.count == Self.documentedOperations.count)
        for (operation, result) in results.sorted(by: { $0.key < $1.key }) {
            let (method, template) = (String(operation.split(separator: " ")[0]), String(operation.split(separator: " ")[1]))
            let responses = Self.operation(method, template)["responses"] as? [String: Any] ?? [:]
            let success = responses.keys.compactMap(Int.init).filter { (200..<300).contains($0) }.min()
            #expect(result.documented.contains(String(result.status)), "\(operation) answered an undocumented \(result.status)")
            #expect(result.status == success, "\(operation) answered \(result.status); documented \(result.documented.sorted())")
            #expect(result.missing.isEmpty, "\(operation): \(result.missing)")
        }
    }

    func documentedOperationsCount() -> Int { Self.documentedOperations.count }

    /// Bodies for the operations that need one to succeed: the users routes work on a user they
    /// add themselves; the admin's own password change happens after the sign-in test.
    /// nonisolated(unsafe): a constant, only read.
    nonisolated(unsafe) static let requestBodies: [String: [String: Any]] = [
        "POST /api/v1/users": ["name": "openapi-user", "role": "viewer", "password": "openapi-user-pw"],
        "PATCH /api/v1/users/{name}": ["role": "operator"],
        "POST /api/v1/users/{name}/password-reset": ["password": "openapi-reset-pw"],
        "POST /api/v1/session/password": ["current": TestUsers.passwords["ada"]!, "new": "openapi-admin-pw"],
    ]

    @Test func test_everyRegisteredAPIRouteIsDocumented() async throws {
        let harnessYAML = WalkingSkeletonTests.configuration
        let configuration = try ConfigurationLoader.parse(
            yaml: harnessYAML.replacingOccurrences(of: "{TCP_PORT}", with: "1502").replacingOccurrences(of: "{RTU_PATH}", with: "/dev/null"),
            fileName: "openapi.yaml", baseDirectory: RepositoryPaths.root.appending(path: "hardware/demo"),
            profiles: ServiceHarness.profiles)
        let runtime = try await IsoWatchRuntime.make(
            configuration: configuration, profiles: ServiceHarness.profiles,
            gpio: SimulatedGPIOBackend(chips: [SimulatedChip(name: "gpiochip0")]), logger: Logger(label: "openapi-test"))
        // The router exactly as the server builds it, with the history routes and /metrics.
        let router = HTTPServer.makeRouter(
            state: runtime.monitor, logger: Logger(label: "openapi-test"), access: .openReadOnly,
            history: HistoryRoutes(store: nil, metrics: { "" }))
        let registered = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
        let documented = Set(Self.documentedOperations.map { "\($0.method) \($0.path)" })
        let registeredAPI = registered.filter { $0.contains(" /api/") || $0.hasSuffix(" /healthz") || $0.hasSuffix(" /metrics") }

        #expect(registeredAPI.count >= 17)
        #expect(registeredAPI.subtracting(documented).isEmpty, "registered but not in openapi.yaml: \(registeredAPI.subtracting(documented).sorted())")
        #expect(documented.subtracting(registered).isEmpty, "in openapi.yaml but not registered: \(documented.subtracting(registered).sorted())")
    }
}
