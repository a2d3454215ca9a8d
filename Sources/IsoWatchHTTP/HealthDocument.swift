import IsoWatchSnapshot

/// The body of `GET /healthz`: `ok`, or `degraded` while any add-on is. Always answered with 200:
/// the monitor is alive and must not be restarted by a load balancer for a missing add-on.
struct HealthDocument: Encodable {
    var status: String
    var addOns: [AddOnState]

    init(addOns: [AddOnState]) {
        self.addOns = addOns
        status = addOns.contains { $0.status == .degraded } ? "degraded" : "ok"
    }

    enum CodingKeys: String, CodingKey {
        case status
        case addOns = "add_ons"
    }
}
