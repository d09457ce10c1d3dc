import Foundation
@testable import Keyfob
import Testing

/// The Keychain as the Security framework behaves, in memory: items by service, account and
/// access group; labels and protection kept; statuses as `SecItem…` answers them.
final class FakeKeychain: KeychainItems, @unchecked Sendable {
    struct Stored: Equatable {
        var data: Data
        var label: String?
        var accessibility: KeychainItem.Accessibility
        var protection: KeychainOptions.Protection
        /// The biometry set changed: the data cannot be read any more.
        var invalidated = false
    }

    struct Key: Hashable {
        let service: String
        let account: String
        let group: String
    }

    // @unchecked: all state is guarded by `lock`.
    private let lock = NSLock()
    private var items: [Key: Stored] = [:]
    private var _calls: [String] = []
    private var _queries: [KeychainQuery] = []
    /// Every call answers this status, when set (a locked device, a dismissed prompt).
    var failure: KeychainStatus? {
        get { lock.locked { _failure } }
        set { lock.locked { _failure = newValue } }
    }
    private var _failure: KeychainStatus?
    static let defaultGroup = "TEAMID.dev.keyfob.example"

    var calls: [String] { lock.locked { _calls } }
    var queries: [KeychainQuery] { lock.locked { _queries } }
    var stored: [Key: Stored] { lock.locked { items } }

    func invalidateAll() {
        lock.locked { for key in items.keys { items[key]?.invalidated = true } }
    }

    private func matches(_ query: KeychainQuery) -> [Key] {
        items.filter { key, item in
            key.service == query.service && key.account == query.account
                && (query.accessGroup == nil || key.group == query.accessGroup)
                && (query.label == nil || item.label == query.label)
        }.map(\.key).sorted { $0.group < $1.group }
    }

    private func record(_ call: String, _ query: KeychainQuery) -> KeychainStatus? {
        _calls.append(call)
        _queries.append(query)
        return _failure
    }

    func read(_ query: KeychainQuery) -> Result<Data, KeychainStatus> {
        lock.locked {
            if let failure = record("read", query) { return .failure(failure) }
            guard let key = matches(query).first, let item = items[key], !item.invalidated else {
                return .failure(.itemNotFound)
            }
            return .success(item.data)
        }
    }

    func update(_ query: KeychainQuery, data: Data) -> KeychainStatus {
        lock.locked {
            if let failure = record("update", query) { return failure }
            let keys = matches(query)
            guard !keys.isEmpty else { return .itemNotFound }
            for key in keys { items[key]?.data = data }
            return .success
        }
    }

    func add(_ item: KeychainItem, data: Data) -> KeychainStatus {
        lock.locked {
            if let failure = record("add", item.query) { return failure }
            let key = Key(service: item.query.service, account: item.query.account, group: item.query.accessGroup ?? Self.defaultGroup)
            guard items[key] == nil else { return .duplicateItem }
            items[key] = Stored(data: data, label: item.query.label, accessibility: item.accessibility, protection: item.accessControl)
            return .success
        }
    }

    func delete(_ query: KeychainQuery) -> KeychainStatus {
        lock.locked {
            if let failure = record("delete", query) { return failure }
            let keys = matches(query)
            guard !keys.isEmpty else { return .itemNotFound }
            for key in keys { items[key] = nil }
            return .success
        }
    }

    func groups(_ query: KeychainQuery) -> Result<[String], KeychainStatus> {
        lock.locked {
            if let failure = record("groups", query) { return .failure(failure) }
            return .success(matches(query).map(\.group))
        }
    }
}

/// The Keychain store's decisions (queries, order of calls, statuses to storage error kinds),
/// against the fake; the Security framework calls themselves run in the macOS workflow.
@Suite struct KeychainStore {
    let keychain = FakeKeychain()

    func store(_ options: KeychainOptions = KeychainOptions()) -> KeychainStorage {
        KeychainStorage(
            service: KeychainStorage.serviceName(issuer: URL(string: "https://auth.company.com")!, clientID: "my-app"),
            options: options, items: keychain)
    }

    func kind(_ body: () throws -> Void) -> StorageErrorKind? {
        do {
            try body()
            return nil
        } catch {
            return (error as? SecureStorageError)?.kind
        }
    }

    /// Save, overwrite, load, delete (twice) and load again: what every store must do (the Rust
    /// stores' `round_trip`), for the fake and the real Keychain alike.
    static func roundTrip(_ store: any SecureStorage) throws {
        #expect(try store.data(forKey: "session") == nil)
        try store.setData(Data("one".utf8), forKey: "session")
        try store.setData(Data("two".utf8), forKey: "session")
        #expect(try store.data(forKey: "session") == Data("two".utf8))
        try store.removeData(forKey: "session")
        try store.removeData(forKey: "session")
        #expect(try store.data(forKey: "session") == nil)
    }

    @Test func storesReplacesLoadsAndDeletes() throws {
        try Self.roundTrip(store())
        #expect(keychain.calls.filter { $0 == "add" }.count == 1, "the second write updated in place")
    }

    @Test func itemsAreReadableAfterFirstUnlockOnThisDeviceOnly() throws {
        try store().setData(Data("x".utf8), forKey: "session")
        let key = FakeKeychain.Key(service: "keyfob:https://auth.company.com#my-app", account: "session", group: FakeKeychain.defaultGroup)
        let item = try #require(keychain.stored[key])
        #expect(item.accessibility == .afterFirstUnlockThisDeviceOnly)
        #expect(item.protection == .none)
        #expect(keychain.queries.allSatisfy { !$0.authenticates && $0.dataProtectionKeychain })
    }

    @Test func faceIDProtectionNeedsAnUnlockedDeviceAndTheSharedContext() throws {
        let store = store(KeychainOptions(protection: .biometryCurrentSet, authenticationPrompt: "Unlock your account"))
        try store.setData(Data("x".utf8), forKey: "session")
        let item = try #require(keychain.stored.values.first)
        #expect(item.accessibility == .whenUnlockedThisDeviceOnly)
        #expect(item.protection == .biometryCurrentSet)
        #expect(keychain.queries.allSatisfy { $0.authenticates }, "every query carries the one authentication context")
    }

    @Test func statusesMapOntoStorageErrorKinds() {
        let table: [(KeychainStatus, StorageErrorKind)] = [
            (.interactionNotAllowed, .unavailable), (.notAvailable, .unavailable),
            (.userCanceled, .unavailable), (.authFailed, .unavailable), (.decode, .corrupt),
            (.missingEntitlement, .failed), (.duplicateItem, .failed), (KeychainStatus(-50), .failed),
        ]
        for (status, kind) in table {
            let error = KeychainStatus.error("read", status)
            #expect(error.kind == kind, "OSStatus \(status.code)")
            #expect(error.reason.contains("\(status.code)"))
        }
    }

    @Test func aLockedKeychainIsUnavailableNeverSignedOut() throws {
        let store = store()
        try store.setData(Data("x".utf8), forKey: "session")
        keychain.failure = .interactionNotAllowed
        #expect(kind { _ = try store.data(forKey: "session") } == .unavailable)
        #expect(kind { try store.setData(Data("y".utf8), forKey: "session") } == .unavailable)
        keychain.failure = .userCanceled
        #expect(kind { _ = try store.data(forKey: "session") } == .unavailable, "a dismissed Face ID prompt")
        keychain.failure = nil
        #expect(try store.data(forKey: "session") == Data("x".utf8))
    }

    @Test func writingWithOtherProtectionReplacesTheItem() throws {
        try store().setData(Data("old".utf8), forKey: "session")
        let protected = store(KeychainOptions(protection: .userPresence))
        try protected.setData(Data("new".utf8), forKey: "session")
        let items = keychain.stored
        #expect(items.count == 1)
        #expect(items.values.first?.protection == .userPresence, "turning on user presence protects the item")
        #expect(items.values.first?.accessibility == .whenUnlockedThisDeviceOnly)
        #expect(Array(keychain.calls.suffix(4)) == ["update", "add", "delete", "add"])
        #expect(try protected.data(forKey: "session") == Data("new".utf8))
    }

    @Test func movingToAnAccessGroupDeletesTheOldCopy() throws {
        try store().setData(Data("v1".utf8), forKey: "session")
        let shared = store(KeychainOptions(accessGroup: "TEAMID.dev.keyfob.shared"))
        try shared.setData(Data("v2".utf8), forKey: "session")
        #expect(keychain.stored.keys.map(\.group) == ["TEAMID.dev.keyfob.shared"])
        #expect(try shared.data(forKey: "session") == Data("v2".utf8))
        try shared.removeData(forKey: "session")
        #expect(keychain.stored.isEmpty)
    }

    @Test func aChangedBiometrySetIsKeyInvalidated() throws {
        let store = store(KeychainOptions(protection: .biometryCurrentSet))
        try store.setData(Data("x".utf8), forKey: "session")
        keychain.invalidateAll()
        #expect(kind { _ = try store.data(forKey: "session") } == .keyInvalidated)
        // Signing in again writes a new item over the invalidated one.
        try store.setData(Data("y".utf8), forKey: "session")
        #expect(try store.data(forKey: "session") == Data("y".utf8))
        // Without biometry, a missing item is nothing stored.
        #expect(try self.store().data(forKey: "pending") == nil)
    }

    @Test func invalidKeysAreRefusedBeforeAnyQuery() {
        let store = store()
        for key in ["", "a b", "../x", String(repeating: "k", count: 65), "é"] {
            #expect(kind { _ = try store.data(forKey: key) } == .failed, "\(key)")
        }
        #expect(keychain.calls.isEmpty)
    }
}

extension TestkitSuite {
    /// A session in the Keychain store (the fake Keychain) through the client.
    @Suite struct KeychainSession {
        let kit: Testkit

        init() async throws {
            kit = try Testkit.current()
            try await kit.reset()
        }

        @Test func aKeychainSessionSurvivesALaunchAndAnInvalidatedOneAsksForSignIn() async throws {
            let keychain = FakeKeychain()
            let options = KeychainOptions(protection: .biometryCurrentSet)
            func launch() throws -> KeyfobClient {
                let store = KeychainStorage(service: "keyfob-test", options: options, items: keychain)
                return try KeyfobClient(configuration: kit.configuration(), storage: .custom(store))
            }
            try await kit.signIn(try launch())
            #expect(try await launch().restore() == .signedIn)

            keychain.invalidateAll()
            let afterEnrollment = try launch()
            let error = await keyfobError { try await afterEnrollment.restore() }
            guard case .storage(.keyInvalidated, _) = error else {
                Issue.record("expected storage(keyInvalidated), got \(String(describing: error))")
                return
            }
            #expect(error?.requiresSignIn == true)
            #expect(afterEnrollment.state == .needsReLogin)
        }
    }
}
