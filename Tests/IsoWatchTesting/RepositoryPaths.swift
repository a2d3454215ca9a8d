import Foundation

/// Where things are in the repository and the build, for tests that need real files.
public enum RepositoryPaths {
    /// The repository root, found from this file's place in it (Tests/IsoWatchTesting/).
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// hardware/profiles: the device profiles shipped with isowatch.
    public static var profiles: URL { root.appendingPathComponent("hardware/profiles") }

    /// simulator/sites: the shipped site files.
    public static var simulatorSites: URL { root.appendingPathComponent("simulator/sites") }

    /// The directory holding the built executables of this build (isowatch, isowatch-sim):
    /// the one the test bundle runs from.
    public static var productsDirectory: URL {
        #if os(macOS)
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            return bundle.bundleURL.deletingLastPathComponent()
        }
        #endif
        return Bundle.main.bundleURL
    }

    /// A built executable such as `isowatch-sim`, or nil when this build has none by that name.
    public static func builtProduct(_ name: String) -> URL? {
        let url = productsDirectory.appendingPathComponent(name)
        return FileManager.default.isExecutableFile(atPath: url.path) ? url : nil
    }

    /// A built executable, or the error that skips nothing silently: the test fails naming the
    /// build step that makes it.
    public static func requiredProduct(_ name: String) throws -> URL {
        guard let url = builtProduct(name) else {
            throw ExternalPeer.PeerError.missingTool("\(name) is not built: run swift build --build-tests")
        }
        return url
    }
}
