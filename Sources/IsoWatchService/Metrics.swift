import Foundation
import IsoWatchAlarms
import IsoWatchCore
import IsoWatchModbus
import IsoWatchSnapshot
import Prometheus

/// The Prometheus metrics of one service instance, at `/metrics`. The names are a contract with
/// the alert rules in deploy/ (insulation alarm, overload, over-temperature, communication lost):
/// never rename one.
///
/// Per-system values are refreshed from the monitor's snapshot at each scrape, so a scrape always
/// sees the live state; poll durations and errors are counted as the outcomes pass.
final class ServiceMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let journalEntries: Counter
    let storageErrors: Counter

    init() {
        journalEntries = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "isowatch", metricName: "journal_entries", unitName: "total",
                helpText: "Journal entries committed to disk since the service started."))
        storageErrors = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "isowatch", metricName: "storage_errors", unitName: "total",
                helpText: "Failed writes or maintenance of the history database (a full disk, an I/O error)."))
    }

    private func gauge(_ name: String, _ unit: String, _ help: String, _ labels: [(String, String)]) -> Gauge {
        registry.makeGauge(
            descriptor: MetricNameDescriptor(namespace: "isowatch", metricName: name, unitName: unit, helpText: help),
            labels: labels)
    }

    /// On the poller's thread, as each outcome enters the service.
    func observe(_ outcome: PollOutcome) {
        registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "isowatch", metricName: "poll_duration", unitName: "seconds",
                helpText: "Time from the first request to the last reply of one poll, retries included."),
            labels: [("endpoint", outcome.endpoint.description)],
            buckets: [
                .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
            ]
        ).record(.nanoseconds(Int64(outcome.latencySeconds * 1e9)))
        guard case let .failure(failure) = outcome.result else { return }
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "isowatch", metricName: "poll_errors", unitName: "total",
                helpText: "Failed polls per system and kind (timeout, exception, malformed, link, decoding, other)."),
            labels: [("system", outcome.deviceID), ("kind", Self.kind(of: failure))]
        ).increment()
    }

    static func kind(of failure: PollFailure) -> String {
        switch failure {
        case .decoding: return "decoding"
        case let .communication(error):
            switch error {
            case .timeout: return "timeout"
            case .exception: return "exception"
            case .malformedReply: return "malformed"
            case .connectFailed, .linkLost: return "link"
            case .other: return "other"
            }
        }
    }

    /// Sets every per-system gauge from a snapshot. A value that is not a fresh valid measurement
    /// is NaN: a dashboard or an alert rule must never take history for the present.
    func update(_ systems: [SystemStatus], now: Date = Date()) {
        for system in systems {
            let labels = [("system", system.id)]
            let fresh = system.reading.flatMap { system.stale ? nil : $0 }
            func value(_ quantity: Quantity) -> Double {
                guard let fresh, fresh.validity[quantity] != .invalid, let value = fresh.values[quantity] else { return .nan }
                return value
            }
            gauge("insulation_resistance", "ohms", "Insulation resistance of the IT system (NaN: no fresh valid value).", labels)
                .set(to: value(.insulationResistanceOhms))
            gauge("leakage_capacitance", "farads", "Leakage capacitance of the IT system to earth (NaN: no fresh valid value).", labels)
                .set(to: value(.leakageCapacitanceFarads))
            gauge("load", "percent", "Load of the isolating transformer in per cent of its rated current (NaN: no fresh valid value).", labels)
                .set(to: value(.loadPercent))
            gauge(
                "winding_temperature", "celsius", "Winding temperature of the isolating transformer (NaN: no fresh valid value).",
                labels
            ).set(to: value(.windingTemperatureCelsius))
            let active = Set(system.alarm.conditions)
            for condition in AlarmCondition.allCases {
                gauge(
                    "alarm_active", "", "1 while the alarm condition is active for the IT system, else 0.",
                    [("system", system.id), ("condition", condition.rawValue)]
                ).set(to: active.contains(condition) ? 1 : 0)
            }
            let state: Double = switch system.alarm.state {
            case .normal: 0
            case .alarm: 1
            case .test: 2
            }
            gauge("alarm_state", "", "Alarm state of the IT system: 0 normal, 1 alarm (also during a test), 2 test only.", labels)
                .set(to: state)
            gauge("test_in_progress", "", "1 while a lamp test lights the IT system's lamps, else 0.", labels)
                .set(to: system.alarm.testInProgress ? 1 : 0)
            gauge("communication_ok", "", "1 while the IT system's monitoring device answers, else 0.", labels)
                .set(to: system.communication.ok ? 1 : 0)
            let age = system.communication.lastSuccess.map { max(0, now.timeIntervalSince($0)) } ?? .infinity
            gauge("reading_age", "seconds", "Seconds since the last successful poll of the IT system (+Inf: none yet).", labels)
                .set(to: age)
        }
    }

    func render(_ systems: [SystemStatus]) -> String {
        update(systems)
        return registry.emitToString()
    }
}
