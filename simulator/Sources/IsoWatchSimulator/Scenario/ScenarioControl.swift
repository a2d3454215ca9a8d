import Foundation
import Hummingbird
import IsoWatchCore
import Synchronization

/// `POST /api/v1/scenarios` starts a scenario's timeline on the running simulator:
/// `{"file": "simulator/scenarios/sudden-insulation-fault.yaml", "time_factor": 10, "seed": 7}`
/// (`time_factor` and `seed` optional). The scenario's site must be the one being served (the
/// same endpoint ids and units); its own endpoint addresses are ignored. One scenario runs at a
/// time: a second start while one runs is refused with 409. `GET /api/v1/scenarios/current`
/// tells what runs and the last steps it took; `DELETE` stops it.
public enum ScenarioControl {
    struct StartRequest: Decodable {
        var file: String
        var timeFactor: Double?
        var seed: UInt64?

        enum CodingKeys: String, CodingKey {
            case file
            case timeFactor = "time_factor"
            case seed
        }
    }

    public struct RunView: Codable, Sendable, Equatable, ResponseEncodable {
        public var scenario: String?
        public var running: Bool
        public var timeFactor: Double?
        public var steps: Int?
        /// The run log so far, newest last (at most 200 lines).
        public var log: [String]
        public var error: String?

        enum CodingKeys: String, CodingKey {
            case scenario, running, steps, log, error
            case timeFactor = "time_factor"
        }
    }

    private final class Slot: Sendable {
        struct State {
            var view = RunView(running: false, log: [])
            var task: Task<Void, Never>?
        }
        let state = Mutex(State())

        func append(_ line: String) {
            state.withLock { state in
                state.view.log.append(line)
                if state.view.log.count > 200 { state.view.log.removeFirst(state.view.log.count - 200) }
            }
        }
    }

    /// Adds the routes to the control interface's router.
    public static func addRoutes(to router: Router<BasicRequestContext>, simulator: Simulator) {
        let slot = Slot()
        router.post("api/v1/scenarios") { request, context -> EditedResponse<RunView> in
            let start: StartRequest
            do {
                start = try await request.decode(as: StartRequest.self, context: context)
            } catch {
                throw HTTPError(.badRequest, message: "expected {\"file\": PATH, \"time_factor\": N, \"seed\": S}: \(error)")
            }
            let scenario: Scenario
            let runner: ScenarioRunner
            do {
                scenario = try ScenarioFile.load(file: URL(fileURLWithPath: start.file), seed: start.seed)
                runner = try ScenarioRunner(scenario: scenario, simulator: simulator, timeFactor: start.timeFactor)
            } catch {
                throw HTTPError(.badRequest, message: "\(error)")
            }
            let view = try slot.state.withLock { state throws(HTTPError) -> RunView in
                if state.view.running {
                    throw HTTPError(.conflict, message: "scenario '\(state.view.scenario ?? "")' is running; DELETE /api/v1/scenarios/current first")
                }
                state.view = RunView(scenario: scenario.name, running: true, timeFactor: runner.timeFactor, steps: scenario.steps.count, log: [])
                state.task = Task {
                    var failure: String?
                    do {
                        // Presses need the panel a service is connected to; without one they are logged and skipped.
                        let presser = simulator.panelServer == nil ? nil : ScenarioServiceConfiguration.panelPresser(scenario: scenario, simulator: simulator)
                        try await runner.run(panel: presser, log: { slot.append($0) })
                    } catch is CancellationError {
                        failure = "stopped"
                    } catch {
                        failure = "\(error)"
                    }
                    slot.state.withLock { state in
                        state.view.running = false
                        state.view.error = failure
                    }
                }
                return state.view
            }
            return EditedResponse(status: .accepted, response: view)
        }
        router.get("api/v1/scenarios/current") { _, _ in
            slot.state.withLock { $0.view }
        }
        router.delete("api/v1/scenarios/current") { _, _ in
            let task = slot.state.withLock { $0.task }
            task?.cancel()
            await task?.value
            return slot.state.withLock { $0.view }
        }
    }
}
