#if canImport(Security)
import Foundation
@testable import Keyfob
import Testing

/// The Security framework calls (`SecItemKeychain`) against the real Keychain: run by the macOS
/// workflow (`swift test` on macOS, `xcodebuild test` on the iOS simulator), never on Linux.
@Suite struct RealKeychain {
    /// A store of its own per test (a unique service), so that tests never meet each other's items.
    func store(_ protection: KeychainOptions.Protection = .none) -> KeychainStorage {
        #if os(macOS)
        // `swift test` runs unsigned: the data protection keychain needs an application identifier.
        let options = KeychainOptions(protection: protection, usesDataProtectionKeychain: false)
        #else
        let options = KeychainOptions(protection: protection)
        #endif
        return KeychainStorage(service: "keyfob-test-\(UUID().uuidString)", options: options, items: SecItemKeychain(options: options))
    }

    @Test func storesReplacesLoadsAndDeletesRealItems() throws {
        let store = store()
        defer { try? store.removeData(forKey: "session") }
        try KeychainStore.roundTrip(store)
    }
}
#endif
