import Foundation
import Hummingbird
import NIOCore

/// The dashboard: static files from the module's bundle (`Resources/`), served by the service
/// itself so that it works on a hospital network with no internet. `/` is the overview; the
/// detail view is the same page with `#/systems/{id}`.
struct DashboardRoutes {
    static let files: [String: String] = [
        "index.html": "text/html; charset=utf-8",
        "dashboard.css": "text/css; charset=utf-8",
        "dashboard.js": "text/javascript; charset=utf-8",
        "i18n.js": "text/javascript; charset=utf-8",
        "charts.js": "text/javascript; charset=utf-8",
        "configuration.html": "text/html; charset=utf-8",
        "configuration.js": "text/javascript; charset=utf-8",
        "page.js": "text/javascript; charset=utf-8",
        "users.html": "text/html; charset=utf-8",
        "users.js": "text/javascript; charset=utf-8",
    ]

    /// Read once at start: the files are small and never change while the service runs.
    let contents: [String: ByteBuffer]

    init() {
        var contents: [String: ByteBuffer] = [:]
        // Foundation on Linux takes a bundle's `Resources` folder as its resource directory, on
        // macOS the copied folder sits inside it: look in both places.
        let bundle = Bundle.module
        let directories = [bundle.resourceURL?.appending(path: "Resources"), bundle.resourceURL, bundle.bundleURL.appending(path: "Resources")]
        for name in Self.files.keys {
            for directory in directories.compactMap({ $0 }) {
                if let data = try? Data(contentsOf: directory.appending(path: name)) {
                    contents[name] = ByteBuffer(bytes: data)
                    break
                }
            }
        }
        self.contents = contents
    }

    func register(on router: Router<IsoWatchRequestContext>) {
        router.get("/") { _, _ in serve("index.html") }
        for name in Self.files.keys {
            router.get("/\(name)") { _, _ in serve(name) }
        }
    }

    private func serve(_ name: String) -> Response {
        guard let body = contents[name], let type = Self.files[name] else {
            return HTTPServer.errorResponse(.notFound, "the dashboard file '\(name)' is missing from this build")
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: type, .cacheControl: "no-cache",
                // Everything the page needs comes from this server; nothing else may run in it.
                .contentSecurityPolicy: "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
                .xContentTypeOptions: "nosniff",
            ],
            body: ResponseBody(byteBuffer: body))
    }
}
