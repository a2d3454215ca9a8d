import Foundation

#if canImport(Glibc)
import Glibc
#endif

// libFuzzer's entry points. SwiftPM links an executable with `main` aliased to the Swift entry
// point, which shadows libFuzzer's own `main`, so each harness's @main calls the driver itself.
// libFuzzer's main object is still linked and needs LLVMFuzzerTestOneInput to exist.
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

// Set once, before the driver starts; libFuzzer calls the harness on one thread.
nonisolated(unsafe) private var harness: ((UnsafeRawBufferPointer) -> Void)?

@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    harness?(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

public enum Fuzzer {
    /// Runs libFuzzer with this process's arguments and `body` as the target; never returns.
    public static func run(_ body: @escaping (UnsafeRawBufferPointer) -> Void) -> Never {
        harness = body
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput))
    }

    /// The isowatch repository (this file is Fuzz/Sources/FuzzSupport/FuzzDriver.swift).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// A finding that is not a crash but breaks a promise (an error that says nothing, a
    /// round trip that does not hold): stop here so libFuzzer saves the input.
    public static func violated(_ promise: String, _ detail: @autoclosure () -> String) -> Never {
        FileHandle.standardError.write(Data("fuzz: promise broken: \(promise)\n\(detail())\n".utf8))
        abort()
    }

    /// Every error must say what is wrong: a reader of the log has nothing else.
    public static func requireClearMessage(_ error: any Error) {
        requireClearMessage(text: "\(error)", kind: "\(type(of: error))")
    }

    public static func requireClearMessage(text: String, kind: String = "message") {
        if text.trimmingCharacters(in: .whitespacesAndNewlines).count < 8 {
            violated("an error names what is wrong", "got '\(text)' (\(kind))")
        }
    }
}
