#if canImport(Security)
import Foundation
import Security
#if canImport(LocalAuthentication)
import LocalAuthentication
#endif

/// ``KeychainItems`` on the Security framework: each ``KeychainQuery`` becomes a
/// `kSecClassGenericPassword` dictionary, each call one `SecItem…` function. Decides nothing;
/// ``KeychainStorage`` interprets the statuses.
///
/// With Face ID / Touch ID protection, one `LAContext` is kept for the store's life and sent
/// with every query (`kSecUseAuthenticationContext`): once the user authenticated, the later
/// reads and writes of the session do not ask again.
final class SecItemKeychain: KeychainItems, @unchecked Sendable {
    // @unchecked: the context is immutable here and only handed to the Security framework,
    // which may use it from any thread.
    #if canImport(LocalAuthentication)
    private let context: LAContext?
    #endif

    init(options: KeychainOptions) {
        #if canImport(LocalAuthentication)
        if options.protection == .none {
            context = nil
        } else {
            let context = LAContext()
            if let prompt = options.authenticationPrompt {
                context.localizedReason = prompt
            }
            #if os(iOS) || os(macOS)
            context.touchIDAuthenticationAllowableReuseDuration =
                min(max(options.authenticationReuseDuration, 0), LATouchIDAuthenticationMaximumAllowableReuseDuration)
            #endif
            self.context = context
        }
        #endif
    }

    func read(_ query: KeychainQuery) -> Result<KeychainRead, KeychainStatus> {
        var dictionary = securityQuery(query)
        dictionary[kSecReturnData as String] = true
        dictionary[kSecReturnAttributes as String] = true
        dictionary[kSecMatchLimit as String] = kSecMatchLimitOne
        var result: CFTypeRef?
        let status = SecItemCopyMatching(dictionary as CFDictionary, &result)
        guard status == errSecSuccess else { return .failure(KeychainStatus(status)) }
        guard let item = result as? [String: Any], let data = item[kSecValueData as String] as? Data else {
            return .failure(.decode)
        }
        return .success(KeychainRead(data: data, attributes: Self.attributes(of: item)))
    }

    func update(_ query: KeychainQuery, data: Data, version: Data, label: String) -> KeychainStatus {
        let changes: [String: Any] = [
            kSecValueData as String: data,
            kSecAttrGeneric as String: version,
            kSecAttrLabel as String: label,
        ]
        return KeychainStatus(SecItemUpdate(securityQuery(query) as CFDictionary, changes as CFDictionary))
    }

    func add(_ item: KeychainItem, data: Data) -> KeychainStatus {
        var dictionary = securityQuery(item.query)
        dictionary[kSecValueData as String] = data
        let accessible: CFString
        switch item.accessibility {
        case .afterFirstUnlockThisDeviceOnly: accessible = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        case .whenUnlockedThisDeviceOnly: accessible = kSecAttrAccessibleWhenUnlockedThisDeviceOnly
        }
        let flags: SecAccessControlCreateFlags
        switch item.accessControl {
        case .none:
            dictionary[kSecAttrAccessible as String] = accessible
            return KeychainStatus(SecItemAdd(dictionary as CFDictionary, nil))
        case .userPresence: flags = .userPresence
        case .biometryCurrentSet: flags = .biometryCurrentSet
        }
        guard let access = SecAccessControlCreateWithFlags(nil, accessible, flags, nil) else {
            return KeychainStatus(errSecParam)
        }
        dictionary[kSecAttrAccessControl as String] = access
        return KeychainStatus(SecItemAdd(dictionary as CFDictionary, nil))
    }

    func delete(_ query: KeychainQuery) -> KeychainStatus {
        KeychainStatus(SecItemDelete(securityQuery(query) as CFDictionary))
    }

    func attributes(_ query: KeychainQuery) -> Result<[KeychainAttributes], KeychainStatus> {
        var dictionary = securityQuery(query)
        dictionary[kSecReturnAttributes as String] = true
        dictionary[kSecMatchLimit as String] = kSecMatchLimitAll
        var result: CFTypeRef?
        let status = SecItemCopyMatching(dictionary as CFDictionary, &result)
        if status == errSecItemNotFound { return .success([]) }
        guard status == errSecSuccess else { return .failure(KeychainStatus(status)) }
        let items = result as? [[String: Any]] ?? []
        return .success(items.map(Self.attributes(of:)))
    }

    /// The attributes the store reads from a returned item.
    private static func attributes(of item: [String: Any]) -> KeychainAttributes {
        KeychainAttributes(
            accessGroup: item[kSecAttrAccessGroup as String] as? String,
            label: item[kSecAttrLabel as String] as? String,
            version: item[kSecAttrGeneric as String] as? Data)
    }

    /// The query as a Security framework dictionary.
    private func securityQuery(_ query: KeychainQuery) -> [String: Any] {
        var dictionary: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: query.service,
            kSecAttrAccount as String: query.account,
        ]
        if let group = query.accessGroup {
            dictionary[kSecAttrAccessGroup as String] = group
        }
        if let label = query.label {
            dictionary[kSecAttrLabel as String] = label
        }
        if let version = query.version {
            dictionary[kSecAttrGeneric as String] = version
        }
        #if os(macOS)
        if query.dataProtectionKeychain {
            dictionary[kSecUseDataProtectionKeychain as String] = true
        }
        #endif
        #if canImport(LocalAuthentication)
        if query.authenticates, let context {
            dictionary[kSecUseAuthenticationContext as String] = context
        }
        #endif
        return dictionary
    }
}
#endif
