import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A slow or full disk under the service's history database, switched while the service runs.
///
/// The faults come from `Tests/FaultInjection/diskfault.c`, an LD_PRELOAD library compiled here
/// at run time (never part of a product) and preloaded into the child process. It affects only
/// files opened below the fault directory and reads its mode from a control file, which `set`
/// replaces atomically; the next write or sync in the child sees the new mode (a write already
/// sleeping in slow mode finishes its sleep).
///
/// ```swift
/// let shim = try DiskFaultShim.build(repositoryRoot: root, into: scratch.appending(path: "shim"))
/// process.environment = ProcessInfo.processInfo.environment.merging(
///     shim.environment(faultDirectory: databaseDirectory)) { _, ours in ours }
/// try shim.set(.slow(writeMilliseconds: 50, syncMilliseconds: 500))
/// try shim.set(.full)
/// try shim.set(.healthy)
/// ```
struct DiskFaultShim: Sendable {
    enum Mode: Sendable, Equatable {
        case healthy
        /// Every write to an affected file waits `writeMilliseconds` first, every fsync or
        /// fdatasync `syncMilliseconds`.
        case slow(writeMilliseconds: Int, syncMilliseconds: Int)
        /// Writes, fallocate and growing ftruncate fail with ENOSPC (SQLite: SQLITE_FULL).
        case full

        /// The line the C side parses.
        var controlLine: String {
            switch self {
            case .healthy:
                return "healthy\n"
            case let .slow(writeMilliseconds, syncMilliseconds):
                return "slow \(max(0, writeMilliseconds)) \(max(0, syncMilliseconds))\n"
            case .full:
                return "full\n"
            }
        }
    }

    /// The compiled preload library.
    let libraryURL: URL
    /// The file whose content is the current mode.
    let controlFileURL: URL

    /// Where the C source sits relative to the repository root.
    static let sourcePath = "Tests/FaultInjection/diskfault.c"

    /// Compiles diskfault.c (found via the repository root the caller passes) into `directory`
    /// and starts it healthy. Blocks for the compile (a fraction of a second).
    static func build(repositoryRoot: URL, into directory: URL) throws -> DiskFaultShim {
        let source = repositoryRoot.appending(path: sourcePath)
        guard FileManager.default.fileExists(atPath: source.path) else {
            throw DiskFaultError("no \(sourcePath) below \(repositoryRoot.path)")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let library = directory.appending(path: "libdiskfault.so")
        let compiler = try findCompiler()
        let arguments = ["-shared", "-fPIC", "-O2", "-o", library.path, source.path, "-ldl"]
        let (status, output) = try runToCompletion(compiler, arguments)
        guard status == 0 else {
            throw DiskFaultError(
                "\(([compiler] + arguments).joined(separator: " ")) exited with \(status):\n\(output)")
        }
        let shim = DiskFaultShim(libraryURL: library, controlFileURL: directory.appending(path: "diskfault.control"))
        try shim.set(.healthy)
        return shim
    }

    /// Environment for the child process: LD_PRELOAD, ISOWATCH_DISKFAULT_DIR,
    /// ISOWATCH_DISKFAULT_CONTROL. A preload this process already has (a sanitizer runtime) is
    /// kept after ours.
    func environment(faultDirectory: URL) -> [String: String] {
        var preload = libraryURL.path
        if let inherited = ProcessInfo.processInfo.environment["LD_PRELOAD"], !inherited.isEmpty {
            preload += ":" + inherited
        }
        return [
            "LD_PRELOAD": preload,
            "ISOWATCH_DISKFAULT_DIR": faultDirectory.standardizedFileURL.path,
            "ISOWATCH_DISKFAULT_CONTROL": controlFileURL.path,
        ]
    }

    /// Writes the control file atomically: a new file renamed over the old one, so the child
    /// never reads half a line and always sees a new inode (the C side compares inode, size and
    /// modification time, which a rewrite within one timestamp tick would not change).
    func set(_ mode: Mode) throws {
        let temporary = controlFileURL.deletingLastPathComponent()
            .appending(path: ".\(controlFileURL.lastPathComponent).\(UUID().uuidString)")
        try Data(mode.controlLine.utf8).write(to: temporary)
        guard rename(temporary.path, controlFileURL.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw DiskFaultError("cannot replace \(controlFileURL.path): \(reason)")
        }
    }

    /// `$CC` if set, else the first of cc, gcc, clang on the PATH.
    private static func findCompiler() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let chosen = environment["CC"], !chosen.isEmpty {
            if chosen.contains("/") { return chosen }
            if let found = onPath(chosen, environment) { return found }
        }
        for name in ["cc", "gcc", "clang"] {
            if let found = onPath(name, environment) { return found }
        }
        throw DiskFaultError("no C compiler (cc, gcc or clang) on the PATH to build \(sourcePath)")
    }

    private static func onPath(_ name: String, _ environment: [String: String]) -> String? {
        let directories = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private static func runToCompletion(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}

/// A real small filesystem for the "full disk" case when the machine lets us mount (we run as
/// root on these machines; elsewhere `mount` returns nil and the suite falls back to the shim):
/// tmpfs of `sizeBytes` at a directory. `fill()` writes a filler file until the kernel says
/// ENOSPC, so the full disk is the kernel's own: overwrites of pages already allocated still
/// succeed, anything that needs a new page fails. `drain()` deletes the filler; `unmount()`.
final class TmpfsVolume: Sendable {
    let mountPoint: URL
    let sizeBytes: Int

    /// The file that takes up the free space.
    var fillerURL: URL { mountPoint.appending(path: ".isowatch-filler") }

    private init(mountPoint: URL, sizeBytes: Int) {
        self.mountPoint = mountPoint
        self.sizeBytes = sizeBytes
    }

    /// Mounts a tmpfs of `sizeBytes` at `directory` (created if missing). nil when mounting is
    /// not permitted (not root, no CAP_SYS_ADMIN, a container that forbids it) or fails.
    static func mount(at directory: URL, sizeBytes: Int) -> TmpfsVolume? {
        guard sizeBytes > 0 else { return nil }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            return nil
        }
        let flags = UInt(MS_NOSUID) | UInt(MS_NODEV) | UInt(MS_NOEXEC)
        let mounted = Glibc.mount("isowatch-faults", directory.path, "tmpfs", flags, "size=\(sizeBytes),mode=0755")
        guard mounted == 0 else { return nil }
        return TmpfsVolume(mountPoint: directory, sizeBytes: sizeBytes)
    }

    /// Appends to the filler until the filesystem refuses with ENOSPC. Throws on any other
    /// error, or when far more than the volume's size went in (the size limit is not in force).
    func fill() throws {
        let fd = open(fillerURL.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw DiskFaultError("cannot open \(fillerURL.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x5A, count: 1 << 20)
        var writtenBytes = 0
        while true {
            let wrote = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if wrote >= 0 {
                writtenBytes += wrote
                if writtenBytes > sizeBytes + chunk.count {
                    throw DiskFaultError("\(mountPoint.path) took \(writtenBytes) bytes without filling up")
                }
                continue
            }
            let error = errno
            if error == EINTR { continue }
            if error == ENOSPC { return }
            throw DiskFaultError("filling \(mountPoint.path): \(String(cString: strerror(error)))")
        }
    }

    /// Deletes the filler: the space is free again at once (tmpfs frees on unlink).
    func drain() throws {
        guard unlink(fillerURL.path) == 0 || errno == ENOENT else {
            throw DiskFaultError("cannot delete \(fillerURL.path): \(String(cString: strerror(errno)))")
        }
    }

    /// Unmounts; if a process still holds a file there, detaches it instead (the kernel frees
    /// the volume when the last file closes).
    func unmount() {
        if umount2(mountPoint.path, 0) != 0 && errno == EBUSY {
            _ = umount2(mountPoint.path, Int32(MNT_DETACH))
        }
    }
}

struct DiskFaultError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
