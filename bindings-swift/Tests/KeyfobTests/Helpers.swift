import Foundation
import Keyfob
import Testing

/// Every test that talks to the testkit lives in a sub-suite of this one: they share its faults
/// and counters, so they run one at a time.
@Suite(.serialized)
struct TestkitSuite {}

/// The error `body` throws, or `nil` if it returns.
func thrownError<T: Sendable>(
    isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
) async -> (any Error)? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error
    }
}

/// The `KeyfobError` `body` throws; records an issue (and returns `nil`) if it throws anything
/// else or nothing.
func keyfobError<T: Sendable>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> T,
    sourceLocation: SourceLocation = #_sourceLocation
) async -> KeyfobError? {
    let error = await thrownError(body)
    guard let keyfobError = error as? KeyfobError else {
        Issue.record("expected a KeyfobError, got \(error.map { "\($0)" } ?? "no error")", sourceLocation: sourceLocation)
        return nil
    }
    return keyfobError
}

/// The first `count` elements of `stream`, or fewer if they do not come within `seconds`.
func first<T: Sendable>(_ count: Int, of stream: AsyncStream<T>, within seconds: Double = 10) async -> [T] {
    await withTaskGroup(of: [T]?.self) { group in
        group.addTask {
            var elements: [T] = []
            for await element in stream {
                elements.append(element)
                if elements.count == count { break }
            }
            return elements
        }
        group.addTask {
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
            return nil
        }
        let winner = await group.next() ?? nil
        group.cancelAll()
        return winner ?? []
    }
}

/// A ``SecureStorage`` written in Swift, as an app would: a dictionary behind a lock, with
/// switches to fail reads or writes and a log of the keys written.
final class DictionaryStorage: SecureStorage, @unchecked Sendable {
    // @unchecked: all state is guarded by `lock`.
    private let lock = NSLock()
    private var values: [String: Data] = [:]
    private var _readFailure: SecureStorageError?
    private var _writeFailure: (any Error)?
    private var _writes: [String] = []

    var keys: Set<String> { lock.locked { Set(values.keys) } }
    var writes: [String] { lock.locked { _writes } }

    /// Every read fails with this error, until set back to `nil`.
    func failReads(with error: SecureStorageError?) {
        lock.locked { _readFailure = error }
    }

    /// Every save fails with this error, until set back to `nil`.
    func failWrites(with error: (any Error)?) {
        lock.locked { _writeFailure = error }
    }

    func data(forKey key: String) throws -> Data? {
        try lock.locked {
            if let failure = _readFailure { throw failure }
            return values[key]
        }
    }

    func setData(_ data: Data, forKey key: String) throws {
        try lock.locked {
            if let failure = _writeFailure { throw failure }
            values[key] = data
            _writes.append(key)
        }
    }

    /// Deleting never fails here: `failWrites` is about saving (a login's pending state is
    /// deleted before its tokens are saved).
    func removeData(forKey key: String) throws {
        lock.locked { values[key] = nil }
    }

    /// Moves the stored session `seconds` back in time, as if it had been written that long ago:
    /// every expiry in it (`"expires_at":N`) comes that much sooner. A client that reads it
    /// next finds its access token that much older, without the test waiting.
    func ageSession(by seconds: Int) {
        lock.locked {
            guard let record = values["session"] else { return }
            let key = "\"expires_at\":"
            var aged = ""
            var rest = Substring(String(decoding: record, as: UTF8.self))
            while let found = rest.range(of: key) {
                aged += rest[..<found.upperBound]
                rest = rest[found.upperBound...]
                let digits = rest.prefix { $0.isNumber || $0 == "-" }
                if let expiry = Int(digits) {
                    aged += String(expiry - seconds)
                    rest = rest.dropFirst(digits.count)
                }
            }
            aged += rest
            values["session"] = Data(aged.utf8)
        }
    }
}

extension NSLock {
    /// Runs `body` with the lock held (Foundation's `withLock` needs iOS 16 / macOS 13).
    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// Waits until `condition` holds, checking every 20 ms for at most `seconds`; returns whether it
/// held. For outcomes that complete on another task (a refresh whose caller was cancelled).
func eventually(
    isolation: isolated (any Actor)? = #isolation, within seconds: Double = 10,
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return try await condition()
}

/// An ``HTTPTransport`` that sends through a real ``URLSessionTransport`` and records what it
/// was asked and how each request ended (a cancelled one: Keyfob dropped it).
final class RecordingTransport: HTTPTransport, @unchecked Sendable {
    // @unchecked: all state is guarded by `lock`.
    private let lock = NSLock()
    private let inner = URLSessionTransport()
    private var _paths: [String] = []
    private var _cancelled: [String] = []

    /// The paths requested so far, in order.
    var paths: [String] { lock.locked { _paths } }
    /// The paths of the requests that ended cancelled.
    var cancelled: [String] { lock.locked { _cancelled } }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let path = request.url.path
        lock.locked { _paths.append(path) }
        do {
            return try await inner.send(request)
        } catch {
            if Task.isCancelled || error is CancellationError { lock.locked { _cancelled.append(path) } }
            throw error
        }
    }
}
