import Foundation
import KeyfobFFI

/// Where a ``KeyfobClient`` keeps the session between launches.
public enum SessionStorage: Sendable {
    /// The Keychain (Apple platforms): see ``KeychainOptions`` for sharing with app extensions,
    /// Face ID / Touch ID protection and the authentication prompt.
    case keychain(KeychainOptions = KeychainOptions())
    /// The app's own storage.
    case custom(any SecureStorage)
    /// Memory only: the user signs in at every launch.
    case memory

    /// `.keychain()` on Apple platforms, `.memory` elsewhere.
    public static var platformDefault: SessionStorage {
        #if canImport(Security)
        return .keychain()
        #else
        return .memory
        #endif
    }
}

/// Storage for the session that the app provides itself (its own Keychain wrapper, an encrypted
/// database, …).
///
/// The session is a few KB under two keys (`session` and `pending`). Keyfob calls these methods
/// one at a time per key, never on the main thread; they may block (e.g. for a Face ID prompt).
///
/// Contract:
/// - `setData` is atomic: after a failed or interrupted write, `data(forKey:)` returns the old
///   value or the new one, never a mix; a write that did not happen must throw.
/// - "Nothing stored" is `nil`, not an error: only that case means the user is signed out.
/// - Throw ``SecureStorageError`` to say *why* a call failed: `unavailable` (device locked,
///   try later: the session is not gone), `keyInvalidated` (the protecting key is gone: sign in
///   again), `corrupt` or `failed`. Any other error counts as `failed`.
public protocol SecureStorage: Sendable {
    /// The bytes stored under `key`, or `nil` when nothing is stored.
    func data(forKey key: String) throws -> Data?
    /// Stores `data` under `key`, replacing any previous value.
    func setData(_ data: Data, forKey key: String) throws
    /// Removes the value under `key`; removing a missing key succeeds.
    func removeData(forKey key: String) throws
    /// Replaces the value under `key` with `new` (`nil`: removes it) only if it still is
    /// `expected` (`nil`: nothing stored), and says whether it did. Keyfob writes the session
    /// with it, so that processes sharing the storage (an app extension, a widget) never
    /// overwrite each other's newer tokens and make one refresh for all. Storage shared between
    /// processes must do it atomically; the default implementation reads, compares and writes,
    /// which is enough for storage that one process uses.
    func compareAndSwap(forKey key: String, expected: Data?, new: Data?) throws -> Bool
}

extension SecureStorage {
    /// Reads, compares and writes: atomic only if nothing else writes meanwhile. A value that
    /// cannot be read back (its key invalidated, corrupt) compares as nothing stored, as Keyfob
    /// saw it, so that a new sign-in can replace it.
    public func compareAndSwap(forKey key: String, expected: Data?, new: Data?) throws -> Bool {
        let current: Data?
        do {
            current = try data(forKey: key)
        } catch let error as SecureStorageError where error.kind == .keyInvalidated || error.kind == .corrupt {
            current = nil
        }
        guard current == expected else { return false }
        if let new {
            try setData(new, forKey: key)
        } else {
            try removeData(forKey: key)
        }
        return true
    }
}

/// A ``SecureStorage`` failure and its kind.
public struct SecureStorageError: Error, Sendable, Equatable, Hashable {
    /// What kind of failure: it decides whether the session is kept, retried or dropped.
    public var kind: StorageErrorKind
    /// A message for developers; never put the stored data in it.
    public var reason: String

    /// A failure of `kind`, explained by `reason`.
    public init(_ kind: StorageErrorKind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }
}

/// Presents an app's ``SecureStorage`` to the core.
final class StorageBridge: KeyfobFFI.KeyfobStorage {
    private let storage: any SecureStorage

    init(_ storage: any SecureStorage) {
        self.storage = storage
    }

    func load(key: String) throws -> Data? {
        try reportingStorageFailures("the app's storage") { try storage.data(forKey: key) }
    }

    func save(key: String, value: Data) throws {
        try reportingStorageFailures("the app's storage") { try storage.setData(value, forKey: key) }
    }

    func delete(key: String) throws {
        try reportingStorageFailures("the app's storage") { try storage.removeData(forKey: key) }
    }

    func compareAndSwap(key: String, expected: Data?, new: Data?) throws -> Bool {
        try reportingStorageFailures("the app's storage") {
            try storage.compareAndSwap(forKey: key, expected: expected, new: new)
        }
    }
}

/// Runs `body` (app or platform code behind a bridge to the core) and hands its failure to the
/// core as a `StorageFailure`: a ``SecureStorageError`` keeps its kind; any other error is
/// `failed`, naming `what` failed.
func reportingStorageFailures<T>(_ what: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as SecureStorageError {
        throw storageFailure(error.kind, error.reason)
    } catch {
        throw KeyfobFFI.StorageFailure.Failed(reason: "\(what) failed: \(error)")
    }
}

private func storageFailure(_ kind: StorageErrorKind, _ reason: String) -> KeyfobFFI.StorageFailure {
    switch kind {
    case .unavailable: return .Unavailable(reason: reason)
    case .keyInvalidated: return .KeyInvalidated(reason: reason)
    case .corrupt: return .Corrupt(reason: reason)
    // `foreign` is the core's finding about a record, never a storage's failure.
    case .failed, .foreign: return .Failed(reason: reason)
    }
}
