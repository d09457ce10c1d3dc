import Foundation
@testable import Keyfob
import Testing

/// The Keychain as the Security framework behaves, in memory: items by service, account and
/// access group; labels, versions (`kSecAttrGeneric`) and protection kept; a query matches an
/// item only if every attribute it names (group, label, version) is the item's; each call is
/// atomic (one lock), as each `SecItem…` call is; statuses as `SecItem…` answers them.
final class FakeKeychain: KeychainItems, @unchecked Sendable {
    struct Stored: Equatable {
        var data: Data
        var label: String?
        var version: Data?
        var accessibility: KeychainItem.Accessibility
        var protection: KeychainOptions.Protection
        /// The biometry set changed: the data cannot be read any more.
        var invalidated = false
        /// The data cannot be decoded.
        var undecodable = false
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

    /// Puts an item as an earlier version of Keyfob (or another app) wrote it, attributes as given.
    func seed(_ key: Key, _ item: Stored) {
        lock.locked { items[key] = item }
    }

    private func matches(_ query: KeychainQuery) -> [Key] {
        items.filter { key, item in
            key.service == query.service && key.account == query.account
                && (query.accessGroup == nil || key.group == query.accessGroup)
                && (query.label == nil || item.label == query.label)
                && (query.version == nil || item.version == query.version)
        }.map(\.key).sorted { $0.group < $1.group }
    }

    private func attributes(_ key: Key) -> KeychainAttributes {
        KeychainAttributes(accessGroup: key.group, label: items[key]?.label, version: items[key]?.version)
    }

    private func record(_ call: String, _ query: KeychainQuery) -> KeychainStatus? {
        _calls.append(call)
        _queries.append(query)
        return _failure
    }

    func read(_ query: KeychainQuery) -> Result<KeychainRead, KeychainStatus> {
        lock.locked {
            if let failure = record("read", query) { return .failure(failure) }
            guard let key = matches(query).first, let item = items[key], !item.invalidated else {
                return .failure(.itemNotFound)
            }
            if item.undecodable { return .failure(.decode) }
            return .success(KeychainRead(data: item.data, attributes: attributes(key)))
        }
    }

    func update(_ query: KeychainQuery, data: Data, version: Data, label: String) -> KeychainStatus {
        lock.locked {
            if let failure = record("update", query) { return failure }
            let keys = matches(query)
            guard !keys.isEmpty else { return .itemNotFound }
            for key in keys {
                items[key]?.data = data
                items[key]?.version = version
                items[key]?.label = label
                items[key]?.undecodable = false
            }
            return .success
        }
    }

    func add(_ item: KeychainItem, data: Data) -> KeychainStatus {
        lock.locked {
            if let failure = record("add", item.query) { return failure }
            let key = Key(service: item.query.service, account: item.query.account, group: item.query.accessGroup ?? Self.defaultGroup)
            // The primary key of a generic password: service, account and group; never the label
            // or the version.
            guard items[key] == nil else { return .duplicateItem }
            items[key] = Stored(
                data: data, label: item.query.label, version: item.query.version,
                accessibility: item.accessibility, protection: item.accessControl)
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

    func attributes(_ query: KeychainQuery) -> Result<[KeychainAttributes], KeychainStatus> {
        lock.locked {
            if let failure = record("attributes", query) { return .failure(failure) }
            return .success(matches(query).map(attributes))
        }
    }
}

/// Other Keychain clients (sibling processes) acting between two calls of a store: `action`
/// runs once, right after the next call named `call` returns (`"read"`, `"update"`, …), so a
/// test can put a sibling's write exactly inside a compare-and-swap. With a `pause`, every call
/// returns that many microseconds late, as a real one (a round trip to `securityd`) leaves other
/// threads time to call in between. Wraps the fake or the real Keychain alike.
final class InterleavedKeychain: KeychainItems, @unchecked Sendable {
    private let base: any KeychainItems
    private let pause: UInt32
    // @unchecked: `pending` is guarded by `lock`.
    private let lock = NSLock()
    private var pending: (call: String, action: () -> Void)?

    init(_ base: any KeychainItems, pause: UInt32 = 0) {
        self.base = base
        self.pause = pause
    }

    /// Runs `action` once, after the next `call`.
    func after(_ call: String, _ action: @escaping () -> Void) {
        lock.locked { pending = (call, action) }
    }

    private func returning<T>(_ call: String, _ result: T) -> T {
        if pause > 0 { usleep(pause) }
        let action: (() -> Void)? = lock.locked {
            guard let pending, pending.call == call else { return nil }
            self.pending = nil
            return pending.action
        }
        action?()
        return result
    }

    func read(_ query: KeychainQuery) -> Result<KeychainRead, KeychainStatus> {
        returning("read", base.read(query))
    }

    func update(_ query: KeychainQuery, data: Data, version: Data, label: String) -> KeychainStatus {
        returning("update", base.update(query, data: data, version: version, label: label))
    }

    func add(_ item: KeychainItem, data: Data) -> KeychainStatus {
        returning("add", base.add(item, data: data))
    }

    func delete(_ query: KeychainQuery) -> KeychainStatus {
        returning("delete", base.delete(query))
    }

    func attributes(_ query: KeychainQuery) -> Result<[KeychainAttributes], KeychainStatus> {
        returning("attributes", base.attributes(query))
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

    /// Compare-and-swap from nothing, on a match, on a mismatch, and to nothing (the Rust stores'
    /// `compare_and_swap`), for the fake and the real Keychain alike.
    static func compareAndSwap(_ store: any SecureStorage) throws {
        let (one, two, three) = (Data("one".utf8), Data("two".utf8), Data("three".utf8))
        #expect(try store.compareAndSwap(forKey: "session", expected: nil, new: one))
        #expect(try !store.compareAndSwap(forKey: "session", expected: nil, new: two), "something is stored already")
        #expect(try !store.compareAndSwap(forKey: "session", expected: two, new: three))
        #expect(try store.data(forKey: "session") == one)
        #expect(try store.compareAndSwap(forKey: "session", expected: one, new: two))
        #expect(try !store.compareAndSwap(forKey: "session", expected: one, new: nil))
        #expect(try store.data(forKey: "session") == two)
        #expect(try store.compareAndSwap(forKey: "session", expected: two, new: nil))
        #expect(try store.data(forKey: "session") == nil)
        #expect(try !store.compareAndSwap(forKey: "session", expected: one, new: nil), "nothing stored is not `one`")
        #expect(try store.compareAndSwap(forKey: "session", expected: nil, new: nil), "nothing stays nothing")
    }

    /// Two processes' stores over one Keychain: `sibling` writes right after `store`'s next
    /// `call`, through its own store object.
    func siblings(_ options: KeychainOptions = KeychainOptions()) -> (store: KeychainStorage, interleaved: InterleavedKeychain, sibling: KeychainStorage) {
        let interleaved = InterleavedKeychain(keychain)
        let service = KeychainStorage.serviceName(issuer: URL(string: "https://auth.company.com")!, clientID: "my-app")
        return (
            KeychainStorage(service: service, options: options, items: interleaved), interleaved,
            KeychainStorage(service: service, options: options, items: keychain)
        )
    }

    static let sessionItem = FakeKeychain.Key(service: "keyfob:https://auth.company.com#my-app", account: "session", group: FakeKeychain.defaultGroup)

    @Test func storesReplacesLoadsAndDeletes() throws {
        try Self.roundTrip(store())
        #expect(keychain.calls.filter { $0 == "add" }.count == 1, "the second write updated in place")
    }

    @Test func compareAndSwapWritesOnlyOverWhatItExpected() throws {
        try Self.compareAndSwap(store())
    }

    @Test func aSwapIsOneAddFromNothingAndOneReadAndOneVersionedUpdateFromAValue() throws {
        let store = store()
        #expect(try store.compareAndSwap(forKey: "session", expected: nil, new: Data("one".utf8)))
        #expect(keychain.calls == ["add"])
        let first = try #require(keychain.stored[Self.sessionItem])
        let firstVersion = try #require(first.version, "every write sets a version")
        #expect(first.label == "keyfob/2 after-first-unlock")

        #expect(try store.compareAndSwap(forKey: "session", expected: Data("one".utf8), new: Data("two".utf8)))
        #expect(keychain.calls.suffix(2) == ["read", "update"])
        #expect(keychain.queries.last?.version == firstVersion, "the update matches the version read with the data")
        let second = try #require(keychain.stored[Self.sessionItem])
        #expect(second.data == Data("two".utf8))
        #expect(second.version != nil && second.version != firstVersion, "a new version at every write")

        #expect(try store.compareAndSwap(forKey: "session", expected: Data("two".utf8), new: nil))
        #expect(keychain.calls.suffix(2) == ["read", "delete"])
        #expect(keychain.queries.last?.version == second.version, "the delete matches the version read with the data")
        #expect(keychain.stored.isEmpty)
    }

    @Test func aSiblingsWriteBetweenTheReadAndTheUpdateWins() throws {
        let (store, interleaved, sibling) = siblings()
        let (v1, mine, theirs) = (Data("v1".utf8), Data("mine".utf8), Data("theirs".utf8))
        #expect(try store.compareAndSwap(forKey: "session", expected: nil, new: v1))

        // The sibling swaps v1 for its tokens after this store read v1 and before it writes.
        interleaved.after("read") { #expect(try! sibling.compareAndSwap(forKey: "session", expected: v1, new: theirs)) }
        #expect(try !store.compareAndSwap(forKey: "session", expected: v1, new: mine), "the version changed: nothing written")
        #expect(try store.data(forKey: "session") == theirs)

        // The same for a sign-out.
        interleaved.after("read") { #expect(try! sibling.compareAndSwap(forKey: "session", expected: theirs, new: v1)) }
        #expect(try !store.compareAndSwap(forKey: "session", expected: theirs, new: nil))
        #expect(try store.data(forKey: "session") == v1)

        // The interleaving lands in the window: the protocol's read-compare-write loses the
        // sibling's write there.
        let readCompareWrite = ReadCompareWrite(store)
        interleaved.after("read") { #expect(try! sibling.compareAndSwap(forKey: "session", expected: v1, new: theirs)) }
        #expect(try readCompareWrite.compareAndSwap(forKey: "session", expected: v1, new: mine))
        #expect(try store.data(forKey: "session") == mine, "the sibling's tokens were overwritten")
    }

    @Test func addingWhereASiblingAddedFirstIsAConflict() throws {
        let (store, _, sibling) = siblings()
        #expect(try sibling.compareAndSwap(forKey: "session", expected: nil, new: Data("theirs".utf8)))
        #expect(try !store.compareAndSwap(forKey: "session", expected: nil, new: Data("mine".utf8)))
        #expect(keychain.calls == ["add", "add", "read"], "refused by the add; the read shows a readable item, not an unreadable one")
        #expect(try store.data(forKey: "session") == Data("theirs".utf8))
    }

    @Test func racingStoresOverOneKeychainLoseNoUpdate() throws {
        // Two processes' stores, each call 20 µs long: the workers' swaps overlap all the time
        // (measured: ~390 conflicts for 400 increments; the read-compare-write swap loses about
        // half the increments so).
        let options = KeychainOptions(accessGroup: "TEAMID.dev.keyfob.shared")
        let app = KeychainStorage(service: "keyfob-test", options: options, items: InterleavedKeychain(keychain, pause: 20))
        let widget = KeychainStorage(service: "keyfob-test", options: options, items: InterleavedKeychain(keychain, pause: 20))
        let workers = 8, increments = 50
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            // Half the workers in each process.
            let mine = worker.isMultiple(of: 2) ? app : widget
            for _ in 0..<increments {
                while true {
                    let current = try! mine.data(forKey: "session")
                    let count = current.map { Int(String(decoding: $0, as: UTF8.self))! } ?? 0
                    if try! mine.compareAndSwap(forKey: "session", expected: current, new: Data("\(count + 1)".utf8)) {
                        break
                    }
                }
            }
        }
        #expect(try app.data(forKey: "session") == Data("\(workers * increments)".utf8), "every increment is in the count")
        #expect(keychain.stored.count == 1)
    }

    @Test func itemsWrittenBeforeVersionsAreReadAndReplacedAtomically() throws {
        let (store, interleaved, sibling) = siblings()
        let old = Data("old".utf8)
        keychain.seed(Self.sessionItem, .init(data: old, label: "keyfob/1 after-first-unlock", accessibility: .afterFirstUnlockThisDeviceOnly, protection: .none))
        #expect(try store.data(forKey: "session") == old)
        #expect(try !store.compareAndSwap(forKey: "session", expected: Data("other".utf8), new: Data("x".utf8)))
        #expect(keychain.stored[Self.sessionItem]?.data == old)

        // Both stores replace it at once: the sibling first, between this store's read and update.
        interleaved.after("read") { #expect(try! sibling.compareAndSwap(forKey: "session", expected: old, new: Data("theirs".utf8))) }
        #expect(try !store.compareAndSwap(forKey: "session", expected: old, new: Data("mine".utf8)))
        let refused = try #require(keychain.queries.last)
        #expect(keychain.calls.last == "update" && refused.label == "keyfob/1 after-first-unlock" && refused.version == nil,
                "this store's update matched the old label, which the replaced item no longer has")
        let replaced = try #require(keychain.stored[Self.sessionItem])
        #expect(replaced.data == Data("theirs".utf8))
        #expect(replaced.label == "keyfob/2 after-first-unlock" && replaced.version != nil, "updated in place to a versioned item")
        #expect(!keychain.calls.contains("add") && !keychain.calls.contains("delete"))
        #expect(try store.compareAndSwap(forKey: "session", expected: Data("theirs".utf8), new: Data("mine".utf8)))
    }

    @Test func itemsOfTheRustStoreAreReplaced() throws {
        let store = store()
        keychain.seed(Self.sessionItem, .init(data: Data("rust".utf8), label: nil, accessibility: .afterFirstUnlockThisDeviceOnly, protection: .none))
        #expect(try store.data(forKey: "session") == Data("rust".utf8))
        #expect(try !store.compareAndSwap(forKey: "session", expected: Data("other".utf8), new: Data("x".utf8)))
        #expect(try store.compareAndSwap(forKey: "session", expected: Data("rust".utf8), new: Data("new".utf8)))
        #expect(keychain.calls.suffix(3) == ["read", "delete", "add"])
        let item = try #require(keychain.stored[Self.sessionItem])
        #expect(item.data == Data("new".utf8) && item.label == "keyfob/2 after-first-unlock" && item.version != nil)
    }

    @Test func aSwapUnderOtherProtectionReplacesTheItemItExpected() throws {
        let v1 = Data("v1".utf8)
        #expect(try store().compareAndSwap(forKey: "session", expected: nil, new: v1))
        let protected = store(KeychainOptions(protection: .userPresence))
        #expect(try !protected.compareAndSwap(forKey: "session", expected: Data("stale".utf8), new: Data("v2".utf8)))
        #expect(keychain.stored[Self.sessionItem]?.protection == KeychainOptions.Protection.none, "a stale swap deletes nothing")
        #expect(try protected.compareAndSwap(forKey: "session", expected: v1, new: Data("v2".utf8)))
        let item = try #require(keychain.stored[Self.sessionItem])
        #expect(item.protection == .userPresence && item.accessibility == .whenUnlockedThisDeviceOnly)
        #expect(item.label == "keyfob/2 user-presence")
        #expect(try protected.data(forKey: "session") == Data("v2".utf8))
    }

    @Test func aSwapReplacesTheItemOnlyIfTheVersionItReadIsStillThere() throws {
        // Other protection: a delete of the version read, then an add. The sibling's write
        // between the read and the delete survives.
        let (store, interleaved, sibling) = siblings(KeychainOptions(protection: .userPresence))
        let v1 = Data("v1".utf8)
        #expect(try self.store().compareAndSwap(forKey: "session", expected: nil, new: v1))
        interleaved.after("read") { #expect(try! sibling.compareAndSwap(forKey: "session", expected: v1, new: Data("theirs".utf8))) }
        #expect(try !store.compareAndSwap(forKey: "session", expected: v1, new: Data("mine".utf8)))
        #expect(try store.data(forKey: "session") == Data("theirs".utf8))
    }

    @Test func anUnreadableItemComparesAsNothingStored() throws {
        let store = store(KeychainOptions(protection: .biometryCurrentSet))
        #expect(try store.compareAndSwap(forKey: "session", expected: nil, new: Data("x".utf8)))
        keychain.invalidateAll()
        #expect(try !store.compareAndSwap(forKey: "session", expected: Data("x".utf8), new: Data("y".utf8)), "its data is lost: not `x`")
        #expect(try store.compareAndSwap(forKey: "session", expected: nil, new: nil), "nothing to nothing writes nothing")
        #expect(keychain.stored.count == 1)
        // A new sign-in replaces it.
        #expect(try store.compareAndSwap(forKey: "session", expected: nil, new: Data("y".utf8)))
        #expect(try store.data(forKey: "session") == Data("y".utf8))
        #expect(keychain.stored[Self.sessionItem]?.invalidated == false)

        // An undecodable item as well.
        var undecodable = try #require(keychain.stored[Self.sessionItem])
        undecodable.undecodable = true
        keychain.seed(Self.sessionItem, undecodable)
        #expect(kind { _ = try store.data(forKey: "session") } == .corrupt)
        #expect(try store.compareAndSwap(forKey: "session", expected: nil, new: Data("z".utf8)))
        #expect(try store.data(forKey: "session") == Data("z".utf8))
    }

    @Test func anItemAddedDuringAReadIsReadNotTakenForAnInvalidatedOne() throws {
        let (store, interleaved, sibling) = siblings(KeychainOptions(protection: .biometryCurrentSet))
        interleaved.after("read") { #expect(try! sibling.compareAndSwap(forKey: "session", expected: nil, new: Data("theirs".utf8))) }
        // The first read finds nothing, the attributes find the sibling's item: it is read again.
        #expect(try store.data(forKey: "session") == Data("theirs".utf8))
        #expect(keychain.stored.count == 1, "not deleted")
    }

    @Test func aSiblingsAddDuringAnInvalidatedItemsReplacementWins() throws {
        let (store, interleaved, sibling) = siblings(KeychainOptions(protection: .biometryCurrentSet))
        #expect(try store.compareAndSwap(forKey: "session", expected: nil, new: Data("x".utf8)))
        keychain.invalidateAll()
        // After this store deleted the invalidated item, the sibling signs in first.
        interleaved.after("delete") { #expect(try! sibling.compareAndSwap(forKey: "session", expected: nil, new: Data("theirs".utf8))) }
        #expect(try !store.compareAndSwap(forKey: "session", expected: nil, new: Data("mine".utf8)))
        #expect(try store.data(forKey: "session") == Data("theirs".utf8))
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
        #expect(kind { _ = try store.compareAndSwap(forKey: "session", expected: Data("x".utf8), new: Data("y".utf8)) } == .unavailable)
        #expect(kind { _ = try store.compareAndSwap(forKey: "session", expected: nil, new: Data("y".utf8)) } == .unavailable)
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

        // A swap moves the session too: in the new group nothing is stored yet.
        #expect(try store().compareAndSwap(forKey: "session", expected: nil, new: Data("v3".utf8)))
        #expect(try shared.compareAndSwap(forKey: "session", expected: nil, new: Data("v4".utf8)))
        #expect(keychain.stored.keys.map(\.group) == ["TEAMID.dev.keyfob.shared"])
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
            #expect(kind { _ = try store.compareAndSwap(forKey: key, expected: nil, new: Data("x".utf8)) } == .failed, "\(key)")
        }
        #expect(keychain.calls.isEmpty)
    }
}

/// A store with the protocol's own compare-and-swap (read, compare, write) over `base`'s reads and
/// writes: what the Keychain store did before its swap was atomic.
struct ReadCompareWrite: SecureStorage {
    let base: KeychainStorage

    init(_ base: KeychainStorage) {
        self.base = base
    }

    func data(forKey key: String) throws -> Data? { try base.data(forKey: key) }
    func setData(_ data: Data, forKey key: String) throws { try base.setData(data, forKey: key) }
    func removeData(forKey key: String) throws { try base.removeData(forKey: key) }
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

        @Test func aLaunchWithAnExpiredTokenRefreshesWithOneRequestFromTheKeychain() async throws {
            let keychain = FakeKeychain()
            func launch() throws -> KeyfobClient {
                let store = KeychainStorage(service: "keyfob-test", options: KeychainOptions(), items: keychain)
                return try KeyfobClient(configuration: kit.configuration(), storage: .custom(store))
            }
            // Issued for 0 s: expired at the next launch (a 1 s token would serve for its second:
            // the refresh margin is at most half a token's lifetime).
            try await kit.setFaults(#"{"token_response": {"expires_in": 0}}"#)
            try await kit.signIn(try launch())
            #expect(Set(keychain.stored.keys.map(\.account)) == ["session", "metadata"])
            try await kit.reset()

            // The next launch reads the session and the provider's metadata from the Keychain:
            // the expired access token costs one request, the refresh.
            let token = try await launch().accessToken()
            #expect(!token.isEmpty)
            #expect(try await kit.stats().launchRequests == [1, 1, 0, 0])
        }

        @Test func anAppAndItsWidgetShareOneKeychainSessionAndOneRefresh() async throws {
            let keychain = FakeKeychain()
            let options = KeychainOptions(accessGroup: "TEAMID.dev.keyfob.shared")
            // Each client with a store of its own over the one Keychain: two processes.
            func process() throws -> KeyfobClient {
                let store = KeychainStorage(service: "keyfob-test", options: options, items: keychain)
                return try KeyfobClient(configuration: kit.configuration(), storage: .custom(store))
            }
            let app = try process()
            // Signed in with a token issued for 0 s: expired at once, so the app refreshes it
            // while it waits (a 1 s token would be served for its last second, not refreshed).
            try await kit.setFaults(#"{"token_response": {"expires_in": 0}}"#)
            try await kit.signIn(app)
            let widget = try process()
            #expect(try await widget.restore() == .signedIn)
            try await kit.reset()

            let token = try await app.accessToken()
            #expect(try await kit.stats().refreshToken == 1)
            #expect(try await widget.accessToken() == token, "the widget adopts the app's refresh")
            #expect(try await kit.stats().refreshToken == 1)
            // The session and the provider's metadata (issue 15), one item each.
            #expect(Set(keychain.stored.keys.map(\.account)) == ["session", "metadata"])

            try await app.logout()
            #expect(try await widget.reload() == .signedOut)
        }
    }
}
