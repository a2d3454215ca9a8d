import Dispatch
import Glibc
import IsoWatchThreads
import Synchronization
import Testing

/// The owned thread: blocking work runs on a named thread of its own, never on Swift's
/// cooperative pool, and `join` waits for the end of it, blocking or suspending.
@Suite(.timeLimit(.minutes(1)))
struct OwnedThreadTests {
    /// A gate the test opens; a body that waits on it cannot end before then. The bound only
    /// keeps a broken test from hanging: it is never reached when the test passes.
    final class Gate: Sendable {
        private let semaphore = DispatchSemaphore(value: 0)
        func open(for waiters: Int = 1) { for _ in 0..<waiters { semaphore.signal() } }
        func pass() -> Bool { semaphore.wait(timeout: .now() + 30) == .success }
    }

    /// A value the test and the threads it starts share.
    final class Shared<Value: Sendable>: Sendable {
        private let value: Mutex<Value>
        init(_ value: Value) { self.value = Mutex(value) }
        var current: Value { value.withLock { $0 } }
        func update(_ change: (inout Value) -> Void) { value.withLock { change(&$0) } }
    }

    struct WhereItRan: Sendable {
        var threadName: String
        var answer: Int
    }

    @Test func test_runReturnsTheBodysValueComputedOnANamedThreadOfItsOwn() async throws {
        let caller = OwnedThread.currentName
        let ran = try await OwnedThread.run(name: "test-owned") { WhereItRan(threadName: OwnedThread.currentName, answer: 42) }
        #expect(ran.answer == 42)
        #expect(ran.threadName == "test-owned")
        #expect(caller != "test-owned")
    }

    @Test func test_aNameLongerThanTheKernelKeepsIsCutTo15Bytes() async throws {
        let name = try await OwnedThread.run(name: "isowatch-monitor-and-more") { OwnedThread.currentName }
        #expect(name == "isowatch-monito")
    }

    struct Refusal: Error, Equatable {}

    @Test func test_anErrorOfTheBodyReachesTheCaller() async {
        await #expect(throws: Refusal()) {
            try await OwnedThread.run(name: "test-throws") { () throws -> Int in throw Refusal() }
        }
    }

    @Test func test_blockedBodiesDoNotHoldUpTheCooperativePool() async throws {
        // More blocked bodies than the pool has threads. On the pool they would take every thread,
        // this task could never open the gate, and each wait would give up and return false.
        let count = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) + 2
        let gate = Gate()
        let waiting = Shared(0)
        let passed = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<count {
                group.addTask {
                    try await OwnedThread.run(name: "test-blocked-\(index)") {
                        waiting.update { $0 += 1 }
                        return gate.pass()
                    }
                }
            }
            while waiting.current < count { await Task.yield() }
            gate.open(for: count)
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(passed == Array(repeating: true, count: count))
    }

    @Test func test_joinReturnsOnlyOnceTheBodyHasReturned() async throws {
        let gate = Gate()
        let bodyReturned = Shared(false)
        let thread = try OwnedThread(name: "test-joined") {
            _ = gate.pass()
            bodyReturned.update { $0 = true }
        }
        async let suspended: Void = thread.join()
        let blocking = Task { try await OwnedThread.run(name: "test-joiner") { () -> Bool in
            thread.join()
            return bodyReturned.current
        } }
        gate.open()
        await suspended
        #expect(bodyReturned.current)
        #expect(try await blocking.value)
    }

    @Test func test_aBoundedJoinGivesUpWhileTheBodyIsHeldAndSucceedsOnceItReturns() async throws {
        let gate = Gate()
        let thread = try OwnedThread(name: "test-held") { _ = gate.pass() }
        // The body cannot return before the gate opens, however long the wait.
        let whileHeld = try await OwnedThread.run(name: "test-joiner") { thread.join(timeoutSeconds: 0.01) }
        gate.open()
        let afterwards = try await OwnedThread.run(name: "test-joiner") { thread.join(timeoutSeconds: 30) }
        #expect(whileHeld == false)
        #expect(afterwards == true)
    }

    @Test func test_aThreadThatHasEndedIsJoinedAtOnceAndAgain() async throws {
        let thread = try OwnedThread(name: "test-ended") {}
        await thread.join()
        await thread.join()
        let blocking = try await OwnedThread.run(name: "test-joiner") { thread.join(timeoutSeconds: 0) }
        #expect(blocking)
        #expect(thread.name == "test-ended")
    }

    actor Counter {
        let executor: OwnedThreadExecutor
        var count = 0
        nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

        init(executor: OwnedThreadExecutor) { self.executor = executor }

        func increment() -> String {
            count += 1
            return OwnedThread.currentName
        }
    }

    @Test func test_anActorOnTheExecutorRunsOnItsThreadOneJobAtATime() async {
        let counter = Counter(executor: OwnedThreadExecutor(name: "test-executor"))
        let names = await withTaskGroup(of: String.self) { group in
            for _ in 0..<20 { group.addTask { await counter.increment() } }
            return await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(names == ["test-executor"])
        #expect(await counter.count == 20)
    }

    @Test func test_theExecutorsSleepResumesOnItsThreadAndACancelledOneThrows() async throws {
        let executor = OwnedThreadExecutor(name: "test-sleeper")
        let woken = try await withTaskExecutorPreference(executor) { () async throws -> String in
            try await executor.sleep(for: .milliseconds(1))
            return OwnedThread.currentName
        }
        #expect(woken == "test-sleeper")
        let sleeper = Task { try await executor.sleep(for: .seconds(3600)) }
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
    }
}
