import Foundation
import KeyfobFFI

/// A P-256 key that a DPoP-bound session proves possession of (RFC 9449): access and refresh
/// tokens bound to it are useless to anyone who copies them without it.
///
/// Keyfob builds every proof itself and asks the key only for its public half and for
/// signatures, so the private key can stay where the platform keeps it:
/// ``SecureEnclaveDPoPKey`` on iOS and macOS. Pass one to ``KeyfobClient/init(configuration:storage:transport:dpopKey:)``.
///
/// Throw ``SecureStorageError`` to say why a call failed: `keyInvalidated` when the key is
/// gone (a session bound to it must sign in again), `unavailable` when it cannot be used now.
public protocol DPoPKey: Sendable {
    /// The public key: the uncompressed P-256 point (65 bytes, `0x04 ‖ x ‖ y`, what
    /// `SecKeyCopyExternalRepresentation` gives) or its DER SubjectPublicKeyInfo. Makes the key
    /// when there is none yet (a sign-in then binds the new session to it).
    func publicKey() throws -> Data
    /// An ES256 signature of `message` (ECDSA P-256 over its SHA-256 digest): raw `r ‖ s` or DER.
    func sign(_ message: Data) throws -> Data
}

/// Presents a ``DPoPKey`` to the core.
final class DPoPKeyBridge: KeyfobFFI.KeyfobDpopKey {
    private let key: any DPoPKey

    init(_ key: any DPoPKey) {
        self.key = key
    }

    func publicKey() throws -> Data {
        try reportingStorageFailures("the DPoP key") { try key.publicKey() }
    }

    func sign(message: Data) throws -> Data {
        try reportingStorageFailures("the DPoP key") { try key.sign(message) }
    }
}

/// What a platform key store does for a DPoP key: find the one key it keeps for Keyfob, make
/// it, read its public half, sign with it, delete it. Failures are ``SecureStorageError``s.
/// The Secure Enclave implements it on Apple platforms; the tests implement it on Linux.
protocol P256KeyStore: Sendable {
    /// The store's handle to a key.
    associatedtype Key
    /// The key, or `nil` when there is none.
    func find() throws -> Key?
    /// A new key (there was none).
    func create() throws -> Key
    /// Its uncompressed public point or SPKI.
    func publicKey(of key: Key) throws -> Data
    /// An ES256 signature of `message`, raw or DER.
    func sign(_ message: Data, with key: Key) throws -> Data
    /// Removes the key (succeeds when there is none).
    func delete() throws
}

/// A DPoP key kept in a ``P256KeyStore``. The rules, the same for every store:
/// - the key is made on the first ``publicKey()`` that finds none (a sign-in), and kept;
/// - ``sign(_:)`` never makes a key: a key that is gone is `keyInvalidated`, so that the core
///   ends the session bound to it instead of signing with a stranger;
/// - the handle is kept in memory after the first lookup, and dropped when the store says the
///   key is gone.
final class StoredDPoPKey<Store: P256KeyStore>: DPoPKey, @unchecked Sendable {
    // @unchecked: `cached` is guarded by `lock`; the store is Sendable.
    private let store: Store
    private let lock = NSLock()
    private var cached: Store.Key?

    init(store: Store) {
        self.store = store
    }

    func publicKey() throws -> Data {
        try lock.withHeld {
            let key = try cached ?? store.find() ?? store.create()
            cached = key
            return try forgettingLostKeys { try store.publicKey(of: key) }
        }
    }

    func sign(_ message: Data) throws -> Data {
        try lock.withHeld {
            guard let key = try cached ?? store.find() else {
                throw SecureStorageError(.keyInvalidated, "the DPoP key is gone")
            }
            cached = key
            return try forgettingLostKeys { try store.sign(message, with: key) }
        }
    }

    /// Removes the key (e.g. when the last account signs out); the next sign-in makes a new one.
    func delete() throws {
        try lock.withHeld {
            cached = nil
            try store.delete()
        }
    }

    private func forgettingLostKeys<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SecureStorageError where error.kind == .keyInvalidated {
            cached = nil
            throw error
        }
    }
}

extension NSLock {
    /// Runs `body` with the lock held.
    fileprivate func withHeld<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
