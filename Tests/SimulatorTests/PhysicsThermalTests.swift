import Foundation
import IsoWatchSimulator
import Testing

/// The transformer's winding temperature and the sensors an IMD reads it through.
struct PhysicsThermalTests {
    static func model() -> TransformerThermalModel {
        TransformerThermalModel(ambientCelsius: 22, ratedRiseKelvin: 60, timeConstantSeconds: 2400)
    }

    @Test(arguments: [0.0, 0.5, 1.0, 1.6, 2.0])
    func test_windingSettlesAtAmbientPlusRatedRiseTimesLoadSquared(loadFactor: Double) {
        var model = Self.model()
        for _ in 0..<60 { model.advance(bySeconds: 1200, loadFactor: loadFactor) }  // 30 τ
        let expectedCelsius = 22 + 60 * loadFactor * loadFactor
        #expect(abs(model.windingCelsius - expectedCelsius) < 1e-6)
        #expect(abs(model.steadyStateCelsius(loadFactor: loadFactor) - expectedCelsius) < 1e-12)
    }

    @Test func test_windingCovers63PercentOfItsRiseInOneTimeConstant() {
        var model = Self.model()
        for _ in 0..<240 { model.advance(bySeconds: 10, loadFactor: 1) }
        let fraction = (model.windingCelsius - 22) / 60
        #expect(abs(fraction - (1 - exp(-1))) < 1e-12)
        #expect(abs(fraction - 0.632) < 0.001)
        // Cooling is the same exponential the other way.
        for _ in 0..<240 { model.advance(bySeconds: 10, loadFactor: 0) }
        #expect(abs((model.windingCelsius - 22) - 60 * (1 - exp(-1)) * exp(-1)) < 1e-9)
    }

    @Test(arguments: [(1.6, 3600.0), (2.0, 1800.0)])
    func test_overloadCapabilityOfIEC61558_2_15ReachesTheLimitTemperatureOnTime(loadFactor: Double, seconds: Double) {
        let cold = TransformerThermalModel.calibratedToOverloadCapability(ambientCelsius: 25, limitCelsius: 120)
        #expect(abs(cold.steadyStateCelsius(loadFactor: 1) - (25 + 95 / 1.75)) < 1e-9)
        let predicted = cold.secondsToReach(celsius: 120, loadFactor: loadFactor)
        #expect(abs((predicted ?? 0) - seconds) < 1e-6)
        var model = cold
        for _ in 0..<Int(seconds) { model.advance(bySeconds: 1, loadFactor: loadFactor) }
        #expect(abs(model.windingCelsius - 120) < 1e-6)
        // At rated current the limit is never reached.
        #expect(cold.secondsToReach(celsius: 120, loadFactor: 1) == nil)
    }

    @Test func test_pt100FollowsCallendarVanDusenOfIEC60751() {
        let pt100 = PlatinumResistanceThermometer.pt100
        #expect(abs(pt100.resistanceOhms(atCelsius: 0) - 100) < 1e-12)
        #expect(abs(pt100.resistanceOhms(atCelsius: 100) - 138.5) < 0.01)
        // IEC 60751 table values.
        #expect(abs(pt100.resistanceOhms(atCelsius: 200) - 175.86) < 0.005)
        #expect(abs(pt100.resistanceOhms(atCelsius: -100) - 60.26) < 0.005)
        #expect(abs(PlatinumResistanceThermometer.pt1000.resistanceOhms(atCelsius: 100) - 1385.055) < 0.001)
        for celsius in stride(from: 0.0, through: 250, by: 12.5) {
            let recovered = pt100.temperatureCelsius(resistanceOhms: pt100.resistanceOhms(atCelsius: celsius))
            #expect(abs((recovered ?? .nan) - celsius) < 1e-9)
        }
    }

    @Test func test_brokenOrShortedSensorIsNeverATemperature() {
        let broken = PlatinumResistanceThermometer(resistanceAtZeroCelsiusOhms: 100, wiring: .broken)
        #expect(broken.resistanceOhms(atCelsius: 80) == .infinity)
        #expect(broken.temperatureCelsius(resistanceOhms: .infinity) == nil)
        let shorted = PlatinumResistanceThermometer(resistanceAtZeroCelsiusOhms: 100, wiring: .shorted)
        #expect(shorted.temperatureCelsius(resistanceOhms: shorted.resistanceOhms(atCelsius: 80)) == nil)
        #expect(PTCThermistorChain(wiring: .broken).resistanceOhms(atCelsius: 20) == .infinity)
    }

    @Test(arguments: 1...6)
    func test_ptcChainReleasesWhenColdAndRespondsWhenHot(thermistorCount: Int) {
        // Monitor thresholds from medical-it.md: response at 4 kΩ, release at 1.6 kΩ.
        let chain = PTCThermistorChain(thermistorCount: thermistorCount, nominalResponseCelsius: 130)
        #expect(chain.resistanceOhms(atCelsius: 25) < 1_600)
        #expect(chain.resistanceOhms(atCelsius: 110) < 1_600)
        #expect(chain.resistanceOhms(atCelsius: 145) > 4_000)
        // DIN 44081 limits per thermistor around NAT.
        #expect(chain.resistanceOhms(atCelsius: 125) <= 550 * Double(thermistorCount))
        #expect(chain.resistanceOhms(atCelsius: 135) >= 1_330 * Double(thermistorCount))
        let curve = stride(from: 20.0, through: 180, by: 0.5).map { chain.resistanceOhms(atCelsius: $0) }
        #expect(zip(curve, curve.dropFirst()).allSatisfy { $0 <= $1 })
    }
}
