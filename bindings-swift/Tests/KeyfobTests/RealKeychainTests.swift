#if canImport(Security)
import Foundation
@testable import Keyfob
import Testing

/// The Security framework calls (`SecItemKeychain`) against the real Keychain: run by the macOS
/// workflow (`swift test` on macOS, `xcodebuild test` on the iOS simulator), never on Linux.
@Suite struct RealKeychain {
    /// A store of its own per test (a unique service), so that tests never meet each other's items.
    func store(_ protection: KeychainOptions.Protection = .none) -> KeychainStorage {
        store(service: "keyfob-test-\(UUID().uuidString)", protection).store
    }

    /// A store over `service`, and its Security framework calls.
    func store(service: String, _ protection: KeychainOptions.Protection = .none, interleaved: Bool = false)
        -> (store: KeychainStorage, items: any KeychainItems) {
        #if os(macOS)
        // `swift test` runs unsigned: the data protection keychain needs an application identifier.
        let options = KeychainOptions(protection: protection, usesDataProtectionKeychain: false)
        #else
        let options = KeychainOptions(protection: protection)
        #endif
        let real = SecItemKeychain(options: options)
        let items: any KeychainItems = interleaved ? InterleavedKeychain(real) : real
        return (KeychainStorage(service: service, options: options, items: items), items)
    }

    @Test func storesReplacesLoadsAndDeletesRealItems() throws {
        let store = store()
        defer { try? store.removeData(forKey: "session") }
        try KeychainStore.roundTrip(store)
    }

    /// The version matching in real `SecItemUpdate` / `SecItemDelete` queries: two stores (two
    /// processes) over one service, a sibling's write inside a swap, and an item written before
    /// versions.
    @Test func compareAndSwapIsAtomicOnRealItems() throws {
        try KeychainStore.compareAndSwap(store())

        let service = "keyfob-test-\(UUID().uuidString)"
        let (store, items) = store(service: service, interleaved: true)
        let interleaved = try #require(items as? InterleavedKeychain)
        let sibling = self.store(service: service).store
        defer { try? store.removeData(forKey: "session") }
        let (v1, mine, theirs) = (Data("v1".utf8), Data("mine".utf8), Data("theirs".utf8))
        #expect(try store.compareAndSwap(forKey: "session", expected: nil, new: v1))
        #expect(try !sibling.compareAndSwap(forKey: "session", expected: nil, new: theirs), "errSecDuplicateItem")
        interleaved.after("read") { #expect(try! sibling.compareAndSwap(forKey: "session", expected: v1, new: theirs)) }
        #expect(try !store.compareAndSwap(forKey: "session", expected: v1, new: mine), "the update's query matched no item")
        #expect(try store.data(forKey: "session") == theirs)
        interleaved.after("read") { #expect(try! sibling.compareAndSwap(forKey: "session", expected: theirs, new: v1)) }
        #expect(try !store.compareAndSwap(forKey: "session", expected: theirs, new: nil), "the delete's query matched no item")
        #expect(try sibling.compareAndSwap(forKey: "session", expected: v1, new: nil))

        // An item as Keyfob wrote it before versions: no kSecAttrGeneric, the old label.
        let legacy = KeychainItem(
            query: KeychainQuery(
                service: service, account: "session", accessGroup: nil, label: "keyfob/1 after-first-unlock", version: nil,
                dataProtectionKeychain: store.options.usesDataProtectionKeychain, authenticates: false),
            accessibility: .afterFirstUnlockThisDeviceOnly, accessControl: .none)
        #expect(items.add(legacy, data: Data("old".utf8)) == KeychainStatus.success)
        interleaved.after("read") { #expect(try! sibling.compareAndSwap(forKey: "session", expected: Data("old".utf8), new: theirs)) }
        #expect(try !store.compareAndSwap(forKey: "session", expected: Data("old".utf8), new: mine), "the old label is gone")
        #expect(try store.compareAndSwap(forKey: "session", expected: theirs, new: mine))
        let read = try items.read(store.query("session")).get()
        #expect(read.data == mine && read.attributes.label == "keyfob/2 after-first-unlock" && read.attributes.version != nil)
    }
}
#endif
