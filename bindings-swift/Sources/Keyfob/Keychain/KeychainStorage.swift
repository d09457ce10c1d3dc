import Foundation

/// How the session's Keychain items are shared and protected.
public struct KeychainOptions: Sendable, Equatable, Hashable {
    /// Who must be present to read or write the session.
    public enum Protection: Sendable, Equatable, Hashable, CaseIterable {
        /// Nobody: readable from the first unlock after a restart, also while the device is
        /// locked, so background refreshes work. The default.
        case none
        /// Face ID, Touch ID or the passcode; readable only while the device is unlocked.
        case userPresence
        /// Face ID or Touch ID with the faces or fingers enrolled now: enrolling another one
        /// invalidates the session (``StorageErrorKind/keyInvalidated``: the user signs in again).
        case biometryCurrentSet
    }

    /// A Keychain access group shared with app extensions, e.g. `ABCDE12345.com.example.shared`
    /// (the app needs the `keychain-access-groups` entitlement); `nil`: the app's default group.
    /// Changing it moves the session at its next write: the copy in the old group is deleted.
    public var accessGroup: String?
    /// Who must be present to read or write the session. Changing it applies at the next write.
    public var protection: Protection
    /// The text of the Face ID / Touch ID prompt (`LAContext.localizedReason`), e.g. "Unlock
    /// your account". Used when ``protection`` is not `.none`.
    public var authenticationPrompt: String?
    /// How long an unlock of the device counts as authentication (0–300 s,
    /// `LAContext.touchIDAuthenticationAllowableReuseDuration`). One authentication context is
    /// kept for the client's life, so that the user is asked once rather than at every read and
    /// write.
    public var authenticationReuseDuration: TimeInterval
    /// macOS only: use the data protection keychain (`kSecUseDataProtectionKeychain`), as iOS
    /// does. It needs a signed app with an application identifier; turn it off only for unsigned
    /// tools and tests.
    public var usesDataProtectionKeychain: Bool

    /// Options; the defaults keep the session readable after the first unlock, on this device
    /// only, in the app's default access group.
    public init(
        accessGroup: String? = nil,
        protection: Protection = .none,
        authenticationPrompt: String? = nil,
        authenticationReuseDuration: TimeInterval = 0,
        usesDataProtectionKeychain: Bool = true
    ) {
        self.accessGroup = accessGroup
        self.protection = protection
        self.authenticationPrompt = authenticationPrompt
        self.authenticationReuseDuration = authenticationReuseDuration
        self.usesDataProtectionKeychain = usesDataProtectionKeychain
    }
}

/// The session in the Keychain: one generic-password item per storage key.
///
/// - service `keyfob:{issuer}#{client id}`: one per provider and app (the Rust core's Keychain
///   store used the same, so its items are found and migrated on their next write);
/// - account: the storage key;
/// - label: the protection the item was written with, so that a write under other options
///   replaces the item rather than updating only its data;
/// - accessible after the first unlock (or, with user presence or biometry, when unlocked), on
///   this device only: never in backups, never migrated to another device.
///
/// Every decision (queries, the order of calls, status codes to storage error kinds) is made
/// here and tested on every platform against ``KeychainItems``; the Security framework calls are
/// in `SecItemKeychain`, Apple only.
final class KeychainStorage: SecureStorage {
    let service: String
    let options: KeychainOptions
    private let items: any KeychainItems

    init(service: String, options: KeychainOptions, items: any KeychainItems) {
        self.service = service
        self.options = options
        self.items = items
    }

    /// `keyfob:{issuer}#{client id}`: unambiguous, since a valid issuer has no fragment.
    static func serviceName(issuer: URL, clientID: String) -> String {
        "keyfob:\(issuer.absoluteString)#\(clientID)"
    }

    /// What the item's label records: the protection it was written with.
    var protectionTag: String {
        switch options.protection {
        case .none: return "keyfob/1 after-first-unlock"
        case .userPresence: return "keyfob/1 user-presence"
        case .biometryCurrentSet: return "keyfob/1 biometry-current-set"
        }
    }

    /// The item holding `key` in this store's access group (any of the app's groups when none is
    /// configured).
    func query(_ key: String, tagged: Bool = false) -> KeychainQuery {
        KeychainQuery(
            service: service, account: key, accessGroup: options.accessGroup,
            label: tagged ? protectionTag : nil,
            dataProtectionKeychain: options.usesDataProtectionKeychain,
            authenticates: options.protection != .none)
    }

    /// The item as it is added: the query plus its protection.
    func newItem(_ key: String) -> KeychainItem {
        KeychainItem(
            query: query(key, tagged: true),
            accessibility: options.protection == .none ? .afterFirstUnlockThisDeviceOnly : .whenUnlockedThisDeviceOnly,
            accessControl: options.protection)
    }

    func data(forKey key: String) throws -> Data? {
        try Self.checkKey(key)
        switch items.read(query(key)) {
        case .success(let data):
            return data
        case .failure(let status) where status == KeychainStatus.itemNotFound:
            // An item whose biometry set changed still has its attributes but no readable data.
            if options.protection == .biometryCurrentSet, case .success(let groups) = items.groups(query(key)), !groups.isEmpty {
                // Its data is lost for good: remove it, so that the next sign-in writes afresh.
                _ = items.delete(query(key))
                throw SecureStorageError(.keyInvalidated, "Keychain read: the enrolled biometry changed; the session is lost (OSStatus \(status))")
            }
            return nil
        case .failure(let status):
            throw KeychainStatus.error("read", status)
        }
    }

    /// Updates the item in place when it was written with the same protection; otherwise adds it,
    /// replacing an item written with other protection (the only time the session is briefly
    /// absent). Then removes copies left in other access groups.
    func setData(_ data: Data, forKey key: String) throws {
        try Self.checkKey(key)
        var status = items.update(query(key, tagged: true), data: data)
        if status == KeychainStatus.itemNotFound {
            status = items.add(newItem(key), data: data)
            if status == KeychainStatus.duplicateItem {
                // Written with other protection (or by an older version): replace it.
                let deleted = items.delete(query(key))
                guard deleted == KeychainStatus.success || deleted == KeychainStatus.itemNotFound else {
                    throw KeychainStatus.error("write", deleted)
                }
                status = items.add(newItem(key), data: data)
            }
        }
        guard status == KeychainStatus.success else { throw KeychainStatus.error("write", status) }
        try removeCopiesInOtherGroups(key)
    }

    /// Deletes the item in every access group of the app.
    func removeData(forKey key: String) throws {
        try Self.checkKey(key)
        var anyGroup = query(key)
        anyGroup.accessGroup = nil
        let status = items.delete(anyGroup)
        guard status == KeychainStatus.success || status == KeychainStatus.itemNotFound else {
            throw KeychainStatus.error("delete", status)
        }
    }

    /// After a write to a configured access group, the copies in the app's other groups (written
    /// before the group changed) are deleted, so that no extension keeps reading an old session.
    private func removeCopiesInOtherGroups(_ key: String) throws {
        guard let group = options.accessGroup else { return }
        var anyGroup = query(key)
        anyGroup.accessGroup = nil
        guard case .success(let groups) = items.groups(anyGroup) else { return }
        for other in groups where other != group {
            var stale = anyGroup
            stale.accessGroup = other
            let status = items.delete(stale)
            guard status == KeychainStatus.success || status == KeychainStatus.itemNotFound else {
                throw KeychainStatus.error("delete an old copy", status)
            }
        }
    }

    /// Storage keys are short ASCII names (as the core's own stores check); anything else is a
    /// bug, refused before any query.
    static func checkKey(_ key: String) throws {
        let valid = !key.isEmpty && key.utf8.count <= 64 && key.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        guard valid else { throw SecureStorageError(.failed, "invalid storage key") }
    }
}

/// The identity of Keychain items (`kSecClassGenericPassword`) and how to reach them.
struct KeychainQuery: Sendable, Equatable, Hashable {
    /// `kSecAttrService`.
    var service: String
    /// `kSecAttrAccount`.
    var account: String
    /// `kSecAttrAccessGroup`; `nil`: the app's default group when adding, any group when searching.
    var accessGroup: String?
    /// `kSecAttrLabel`, matched when searching and set when adding.
    var label: String?
    /// `kSecUseDataProtectionKeychain` (macOS; iOS always uses it).
    var dataProtectionKeychain: Bool
    /// Whether the store's authentication context goes with the query (`kSecUseAuthenticationContext`).
    var authenticates: Bool
}

/// An item as it is added.
struct KeychainItem: Sendable, Equatable, Hashable {
    /// Its identity and label.
    var query: KeychainQuery
    /// `kSecAttrAccessible…`.
    var accessibility: Accessibility
    /// The access control flags (`SecAccessControlCreateFlags`).
    var accessControl: KeychainOptions.Protection

    /// When the item can be read.
    enum Accessibility: Sendable, Equatable, Hashable {
        /// `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`.
        case afterFirstUnlockThisDeviceOnly
        /// `kSecAttrAccessibleWhenUnlockedThisDeviceOnly`.
        case whenUnlockedThisDeviceOnly
    }
}

/// The four Keychain calls the store needs, answering `OSStatus` codes for the store to
/// interpret. `SecItemKeychain` makes them on Apple platforms; the tests use a fake.
protocol KeychainItems: Sendable {
    /// `SecItemCopyMatching` for the data of the first matching item.
    func read(_ query: KeychainQuery) -> Result<Data, KeychainStatus>
    /// `SecItemUpdate` of the matching items' data.
    func update(_ query: KeychainQuery, data: Data) -> KeychainStatus
    /// `SecItemAdd`.
    func add(_ item: KeychainItem, data: Data) -> KeychainStatus
    /// `SecItemDelete` of every matching item.
    func delete(_ query: KeychainQuery) -> KeychainStatus
    /// The access groups of the matching items (attributes only: no data, no prompt).
    func groups(_ query: KeychainQuery) -> Result<[String], KeychainStatus>
}

/// An `OSStatus` of the Security framework, and what each one means for the session.
struct KeychainStatus: Error, Sendable, Equatable, Hashable {
    let code: Int32

    init(_ code: Int32) {
        self.code = code
    }

    /// `errSecSuccess`.
    static let success = KeychainStatus(0)
    /// `errSecItemNotFound`.
    static let itemNotFound = KeychainStatus(-25300)
    /// `errSecDuplicateItem`.
    static let duplicateItem = KeychainStatus(-25299)
    /// `errSecInteractionNotAllowed`: locked device, or a prompt needed while in background.
    static let interactionNotAllowed = KeychainStatus(-25308)
    /// `errSecNotAvailable`: no Keychain available.
    static let notAvailable = KeychainStatus(-25291)
    /// `errSecUserCanceled`: the user dismissed the authentication prompt.
    static let userCanceled = KeychainStatus(-128)
    /// `errSecAuthFailed`: the user could not be authenticated.
    static let authFailed = KeychainStatus(-25293)
    /// `errSecDecode`: the item cannot be decoded.
    static let decode = KeychainStatus(-26275)
    /// `errSecMissingEntitlement`: the access group (or, on macOS, the data protection keychain)
    /// needs an entitlement the app lacks.
    static let missingEntitlement = KeychainStatus(-34018)

    /// The storage error for a failed call (`operation` names it; never the data). A locked
    /// device or a dismissed prompt is `unavailable`: the session is not gone.
    static func error(_ operation: String, _ status: KeychainStatus) -> SecureStorageError {
        let (kind, what): (StorageErrorKind, String)
        switch status {
        case interactionNotAllowed:
            (kind, what) = (.unavailable, "the Keychain is locked (device locked, or a prompt is needed while in background)")
        case notAvailable: (kind, what) = (.unavailable, "no Keychain is available")
        case userCanceled: (kind, what) = (.unavailable, "the user dismissed the authentication prompt")
        case authFailed: (kind, what) = (.unavailable, "the user could not be authenticated")
        case decode: (kind, what) = (.corrupt, "the item cannot be decoded")
        case missingEntitlement:
            (kind, what) = (.failed, "the app lacks the entitlement (keychain-access-groups, or an application identifier for the data protection keychain)")
        default: (kind, what) = (.failed, "the Keychain call failed")
        }
        return SecureStorageError(kind, "Keychain \(operation): \(what) (OSStatus \(status.code))")
    }
}
