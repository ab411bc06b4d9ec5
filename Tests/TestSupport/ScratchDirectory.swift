import Foundation

/// A new, empty directory `svyaz-<name>-<uuid>` under the system's temporary directory, for the files of one test or
/// benchmark case; the caller removes it.
public func scratchDirectory(_ name: String) throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("svyaz-\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}
