import IsoWatchSimulator

/// The soak's random timeline, drawn before it starts from the suite's seed, so a seed replays
/// the same day.
///
/// Each system has two independent sequences. Its IT system's faults follow one another with a
/// pause between them long enough for the previous alarm to clear (the 5 s release delay and the
/// device's response). Its wire carries short bursts of noise, and now and then a total outage,
/// which is only placed where no IT-system fault is in force: while the device cannot be read the
/// service cannot see an insulation fault, and the suite would count that as missed.
struct SoakPlan {
    enum Kind: Sendable {
        case process(FaultSuite.ProcessFault)
        case outage
        case noise(WireFault.Kind, Double)
    }

    struct Action: Sendable {
        var at: Double
        var unit: Int
        var id: Int
        var kind: Kind
        var begins: Bool
    }

    var actions: [Action]

    /// Wall seconds a fault lasts: its condition's response delay (1 s; an overload's 5 s, as
    /// inrush must not alarm) and then at least 4 s for the poll, the device and a retry.
    static let faultSeconds = 5.0...12.0
    static let overloadSeconds = 9.0...16.0
    /// A dip lasts well under the 1 s response delay in wall time (see `ProcessFault.expect`).
    static let dipSeconds = 0.15...0.3
    static let pauseSeconds = 12.0...25.0
    static let outageSeconds = 6.5...9.0
    static let noiseSeconds = 4.0...10.0
    static let noiseRates = [0.05, 0.1, 0.2]

    static func make(units: [UnitReference], profiles: [String], seconds: Double, generator: inout SplitMix64) -> SoakPlan {
        var actions: [Action] = []
        var nextID = 0
        func uniform(_ range: ClosedRange<Double>) -> Double {
            range.lowerBound + (range.upperBound - range.lowerBound) * generator.nextUnitInterval()
        }
        for index in units.indices {
            // The IT system's own faults, weighted by how often a hospital sees them.
            let menu: [(FaultSuite.ProcessFault, Double)] = [
                (.insulation, 4), (.insulationDip, 2), (.overload, 2), (.earthConnection, 1), (.sensorBreak, 1), (.deviceFault, 1),
            ].filter { $0.0.supported(by: profiles[index]) }
            let total = menu.reduce(0) { $0 + $1.1 }
            var busy: [ClosedRange<Double>] = []
            var time = uniform(0...8)
            while true {
                var draw = generator.nextUnitInterval() * total
                let fault = menu.first { draw -= $0.1; return draw < 0 }?.0 ?? .insulation
                let length = uniform(fault == .insulationDip ? dipSeconds : fault == .overload ? overloadSeconds : faultSeconds)
                guard time + length < seconds else { break }
                actions.append(Action(at: time, unit: index, id: nextID, kind: .process(fault), begins: true))
                actions.append(Action(at: time + length, unit: index, id: nextID, kind: .process(fault), begins: false))
                nextID += 1
                busy.append(time...(time + length + 6))
                time += length + uniform(pauseSeconds)
            }
            // The wire: noise bursts, and an outage one time in four where the system is quiet.
            time = uniform(2...15)
            while true {
                let outage = generator.nextUnitInterval() < 0.25
                let length = uniform(outage ? outageSeconds : noiseSeconds)
                guard time + length < seconds else { break }
                let window = (time - 2)...(time + length + 8)
                if outage && busy.contains(where: { $0.overlaps(window) }) {
                    time += 3
                    continue
                }
                let kind: Kind =
                    outage
                    ? .outage
                    : .noise(
                        FaultSuite.wireKinds[Int(generator.next() % UInt64(FaultSuite.wireKinds.count))],
                        noiseRates[Int(generator.next() % UInt64(noiseRates.count))])
                actions.append(Action(at: time, unit: index, id: nextID, kind: kind, begins: true))
                actions.append(Action(at: time + length, unit: index, id: nextID, kind: kind, begins: false))
                nextID += 1
                if outage { busy.append(window) }
                time += length + uniform(outage ? 15...30 : 5...20)
            }
        }
        actions.sort { ($0.at, $0.begins ? 1 : 0) < ($1.at, $1.begins ? 1 : 0) }
        return SoakPlan(actions: actions)
    }
}
