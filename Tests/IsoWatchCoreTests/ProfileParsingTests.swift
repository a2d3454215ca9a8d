import Foundation
import Testing

@testable import IsoWatchCore

@Suite struct ProfileParsingTests {
    /// A minimal valid profile; tests replace one line to make it wrong.
    static let valid = """
        id: test-device
        vendor: Example
        model: X1
        fields:
          insulation_resistance_ohms:
            table: holding
            address: 0x0010
            type: u32
            word_order: CDAB
            scale: 1000
        faults:
          - { fault: insulation, table: holding, address: 0x0012, bit: 3 }
        """

    private func errors(_ yaml: String, expectedID: String? = "test-device") -> [ConfigurationError] {
        do {
            _ = try DeviceProfile.parse(yaml: yaml, fileName: "test-device.yaml", expectedID: expectedID)
            return []
        } catch {
            return error.errors
        }
    }

    private func replacing(_ old: String, with new: String) -> String {
        precondition(Self.valid.contains(old))
        return Self.valid.replacingOccurrences(of: old, with: new)
    }

    @Test func test_validProfileParses() throws {
        let profile = try DeviceProfile.parse(yaml: Self.valid, fileName: "test-device.yaml", expectedID: "test-device")
        let field = try #require(profile.fields[.insulationResistanceOhms])
        #expect(field == RegisterField(table: .holding, address: 16, type: .u32, wordOrder: .cdab, scale: 1000))
        #expect(profile.faultFlags == [FaultFlag(fault: .insulation, table: .holding, address: 18, bit: 3)])
        #expect(profile.transport == ProfileTransport())
    }

    @Test func test_badWordOrderNamesFileLineFieldAndAcceptedValues() {
        let found = errors(replacing("word_order: CDAB", with: "word_order: CBDA"))
        #expect(found.count == 1)
        let error = found.first
        #expect(error?.file == "test-device.yaml")
        #expect(error?.line == 9)
        #expect(error?.column == 17)
        #expect(error?.field == "fields.insulation_resistance_ohms.word_order")
        #expect(error?.reason.contains("ABCD, CDAB, BADC, DCBA") == true)
        #expect(error?.description.hasPrefix("test-device.yaml:9:17: field 'fields.insulation_resistance_ohms.word_order': ") == true)
    }

    @Test func test_unknownKeyIsAnErrorWithSuggestion() {
        let found = errors(replacing("    scale: 1000", with: "    sacle: 1000"))
        #expect(found.map(\.field) == ["fields.insulation_resistance_ohms.sacle"])
        #expect(found.first?.line == 10)
        #expect(found.first?.reason.contains("did you mean 'scale'?") == true)
    }

    @Test func test_unknownQuantityIsAnError() {
        let found = errors(replacing("  insulation_resistance_ohms:", with: "  insulation_resistance_kohms:"))
        #expect(found.map(\.field) == ["fields.insulation_resistance_kohms"])
        #expect(found.first?.reason.contains("did you mean 'insulation_resistance_ohms'?") == true)
    }

    @Test func test_idMustMatchFileName() {
        let found = errors(Self.valid, expectedID: "other-device")
        #expect(found.map(\.field) == ["id"])
        #expect(found.first?.line == 1)
        #expect(found.first?.reason.contains("'other-device'") == true)
    }

    @Test func test_wordOrderOnSixteenBitTypeIsAnError() {
        let found = errors(replacing("type: u32", with: "type: u16"))
        #expect(found.map(\.field) == ["fields.insulation_resistance_ohms.word_order"])
    }

    @Test func test_registerFaultFlagNeedsABit() {
        let found = errors(replacing(", bit: 3 }", with: " }"))
        #expect(found.map(\.field) == ["faults[0].bit"])
        #expect(found.first?.line == 12)
    }

    @Test func test_addressesAreDecimalOrHexNeverOctal() throws {
        let profile = try DeviceProfile.parse(
            yaml: replacing("address: 0x0010", with: "address: 0010"), fileName: "test-device.yaml")
        #expect(profile.fields[.insulationResistanceOhms]?.address == 10)
        let found = errors(replacing("address: 0x0010", with: "address: 0x1FFFF"))
        #expect(found.map(\.field) == ["fields.insulation_resistance_ohms.address"])
        #expect(found.first?.reason == "must be 0...65535, got 131071")
    }

    @Test func test_yamlSyntaxErrorCarriesLineAndColumn() {
        let found = errors(replacing("model: X1", with: "model: [X1"))
        #expect(found.count == 1)
        #expect(found.first?.field == "")
        #expect(found.first?.line ?? 0 >= 3)
        #expect(found.first?.reason.hasPrefix("YAML syntax error") == true)
    }

    @Test func test_everyErrorIsReportedNotOnlyTheFirst() {
        let yaml = replacing("word_order: CDAB", with: "word_order: XX")
            .replacingOccurrences(of: "scale: 1000", with: "scale: -1")
            .replacingOccurrences(of: "bit: 3", with: "bit: 16")
        #expect(Set(errors(yaml).map(\.field)) == [
            "fields.insulation_resistance_ohms.word_order", "fields.insulation_resistance_ohms.scale", "faults[0].bit",
        ])
    }

    @Test func test_overlappingFieldsAreAnError() {
        let yaml = Self.valid + """

            auxiliary:
              firmware_version: { table: holding, address: 0x0011 }
            """
        let found = errors(yaml)
        #expect(found.map(\.field) == ["auxiliary.firmware_version"])
        #expect(found.first?.reason.contains("overlap 'fields.insulation_resistance_ohms'") == true)
    }

    @Test func test_sampleWindowLengthMustBeAPowerOfTwo() {
        let yaml = Self.valid + """

            update_counter: { table: input, address: 0, type: u32 }
            sample_window: { name: current_amperes, table: input, address: 2, length: 100 }
            """
        let found = errors(yaml)
        #expect(found.map(\.field) == ["sample_window.length"])
        #expect(found.first?.line == 14)
    }

    @Test func test_sampleWindowMustBeReadTogetherWithItsCounter() {
        let yaml = Self.valid + """

            update_counter: { table: input, address: 0, type: u32 }
            sample_window: { name: current_amperes, table: input, address: 200, length: 64 }
            """
        #expect(errors(yaml).map(\.field) == ["sample_window"])
    }

    /// The schema example in hardware/profiles/README.md is itself a valid profile, so the
    /// documentation cannot drift from the parser unnoticed.
    @Test func test_readmeSchemaExampleIsAValidProfile() throws {
        let readme = try String(
            contentsOf: Repository.profilesDirectory.appendingPathComponent("README.md"), encoding: .utf8)
        let afterHeading = try #require(readme.components(separatedBy: "## Schema").dropFirst().first)
        let block = try #require(afterHeading.components(separatedBy: "```yaml\n").dropFirst().first)
        let yaml = try #require(block.components(separatedBy: "```").first)
        let profile = try DeviceProfile.parse(yaml: yaml, fileName: "README.md")
        #expect(profile.fields[.insulationResistanceOhms]?.validity?.codes[2] == .aboveRange)
        #expect(profile.sampleWindow?.length == 64)
        #expect(profile.faultFlags.last == FaultFlag(fault: .device, table: .discrete, address: 12, inverted: true))
    }

    @Test func test_shippedProfilesLoad() throws {
        let library = try Repository.library()
        #expect(library.ids == ["acrel-aim-m10", "bender-isometer", "isowatch-frontend", "trafox-im01-med"])
        #expect(library["acrel-aim-m10"]?.transport.baud == 9600)
        #expect(library["acrel-aim-m10"]?.transport.unit == 1)
    }

    @Test func test_libraryReportsErrorsOfEveryBrokenFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("isowatch-profiles-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.valid.write(to: directory.appendingPathComponent("test-device.yaml"), atomically: true, encoding: .utf8)
        try replacing("id: test-device", with: "id: test-device").replacingOccurrences(of: "bit: 3", with: "bit: 99")
            .write(to: directory.appendingPathComponent("broken-one.yaml"), atomically: true, encoding: .utf8)
        try "id: [".write(to: directory.appendingPathComponent("broken-two.yaml"), atomically: true, encoding: .utf8)
        try "not a profile".write(to: directory.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigurationErrors.self) { try ProfileLibrary.load(directory: directory) }
        let files = Set(error?.errors.map { URL(fileURLWithPath: $0.file).lastPathComponent } ?? [])
        #expect(files == ["broken-one.yaml", "broken-two.yaml"])
        #expect(error?.errors.contains { $0.field == "id" && $0.reason.contains("'broken-one'") } == true)
    }
}
