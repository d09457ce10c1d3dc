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
/// - service `keyfob:{issuer}#{client id}`: one per provider and app (the Rust core's former
///   Keychain store used the same, so the items it wrote are read and replaced);
/// - account: the storage key;
/// - label: the item's format and the protection it was written with, so that a write under
///   other options replaces the item rather than updating only its data;
/// - generic attribute (`kSecAttrGeneric`): a random version, new at every write;
/// - accessible after the first unlock (or, with user presence or biometry, when unlocked), on
///   this device only: never in backups, never migrated to another device.
///
/// # Compare-and-swap across processes
///
/// An app and its extensions share the session through an access group, each process with a
/// store of its own, so ``compareAndSwap(forKey:expected:new:)`` must be atomic across processes.
/// The Keychain has no transaction, but one `SecItemUpdate` or `SecItemDelete` is atomic and
/// changes only the items its query matches. So a swap reads the item's data together with its
/// version (one call), compares the data, and writes with a query that also matches that
/// version: if another process wrote in between, the version changed, the query matches
/// nothing, `errSecItemNotFound` answers, and the swap reports `false` having written nothing.
/// From nothing stored, the swap is one `SecItemAdd`; `errSecDuplicateItem` means another
/// process added first.
///
/// Items written before versions (label `keyfob/1 …`, no version) are read as usual and replaced
/// at their first swap by an update whose query matches their old label, which no versioned
/// item has: as atomic as the versioned case. Two replacements are a delete and an add, with the
/// key absent in between: an item written with other protection (the access control of an item
/// cannot be updated), and an item of the Rust core's former store (no label, no version, so no
/// query singles it out). A sibling that adds a session in that gap wins; this swap then
/// reports `false`.
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

    /// What the label of a versioned item records: the protection it was written with.
    var protectionTag: String {
        "keyfob/2 \(Self.protectionName(options.protection))"
    }

    /// The label of an item written with this protection before items had versions.
    var unversionedProtectionTag: String {
        "keyfob/1 \(Self.protectionName(options.protection))"
    }

    private static func protectionName(_ protection: KeychainOptions.Protection) -> String {
        switch protection {
        case .none: return "after-first-unlock"
        case .userPresence: return "user-presence"
        case .biometryCurrentSet: return "biometry-current-set"
        }
    }

    /// A new version for an item: 16 random bytes, so that no two writes share one.
    static func newVersion() -> Data {
        var generator = SystemRandomNumberGenerator()
        return withUnsafeBytes(of: (generator.next() as UInt64, generator.next() as UInt64)) { Data($0) }
    }

    /// The item holding `key` in this store's access group (any of the app's groups when none is
    /// configured).
    func query(_ key: String, tagged: Bool = false) -> KeychainQuery {
        KeychainQuery(
            service: service, account: key, accessGroup: options.accessGroup,
            label: tagged ? protectionTag : nil, version: nil,
            dataProtectionKeychain: options.usesDataProtectionKeychain,
            authenticates: options.protection != .none)
    }

    /// Exactly the item that `attributes` describe: its group, label and version. An item
    /// without a label and version (the Rust core's former store) cannot be singled out: the
    /// query then matches whatever item holds `key` in its group.
    func query(_ key: String, matching attributes: KeychainAttributes) -> KeychainQuery {
        var query = query(key)
        query.accessGroup = attributes.accessGroup ?? query.accessGroup
        query.label = attributes.label
        query.version = attributes.version
        return query
    }

    /// The item as it is added: the query plus its protection and a new version.
    func newItem(_ key: String) -> KeychainItem {
        var query = query(key, tagged: true)
        query.version = Self.newVersion()
        return KeychainItem(
            query: query,
            accessibility: options.protection == .none ? .afterFirstUnlockThisDeviceOnly : .whenUnlockedThisDeviceOnly,
            accessControl: options.protection)
    }

    func data(forKey key: String) throws -> Data? {
        try Self.checkKey(key)
        switch try snapshot(key) {
        case .nothing:
            return nil
        case .value(let data, _):
            return data
        case .unreadable(_, let status) where status == KeychainStatus.decode:
            throw KeychainStatus.error("read", status)
        case .unreadable(let item, let status):
            // An item whose biometry set changed still has its attributes but no readable data.
            guard options.protection == .biometryCurrentSet else { return nil }
            // Its data is lost for good: remove it, so that the next sign-in writes afresh.
            _ = items.delete(query(key, matching: item))
            throw SecureStorageError(.keyInvalidated, "Keychain read: the enrolled biometry changed; the session is lost (OSStatus \(status.code))")
        }
    }

    /// Updates the item in place when it was written with the same protection; otherwise adds it,
    /// replacing an item written with other protection (the only time the session is briefly
    /// absent). Then removes copies left in other access groups. Unconditional: the session
    /// itself is written with ``compareAndSwap(forKey:expected:new:)``.
    func setData(_ data: Data, forKey key: String) throws {
        try Self.checkKey(key)
        var status = items.update(query(key, tagged: true), data: data, version: Self.newVersion(), label: protectionTag)
        if status == KeychainStatus.itemNotFound {
            status = items.add(newItem(key), data: data)
            if status == KeychainStatus.duplicateItem {
                // Written with other protection (or by an older version): replace it.
                try delete(query(key))
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
        try delete(anyGroup)
    }

    /// Atomic across processes (see the type's documentation): one read of the data with its
    /// version, then one add, update or delete that only happens if nobody wrote meanwhile. An
    /// item whose data cannot be read (its biometry set changed, undecodable) compares as
    /// nothing stored, so that a new sign-in replaces it.
    func compareAndSwap(forKey key: String, expected: Data?, new: Data?) throws -> Bool {
        try Self.checkKey(key)
        let swapped: Bool
        if expected == nil, let new {
            swapped = try add(key, new)
        } else {
            swapped = try replace(key, expected: expected, new: new)
        }
        if swapped {
            try removeCopiesInOtherGroups(key)
        }
        return swapped
    }

    /// The item under a key as one read saw it.
    private enum Snapshot {
        /// No item.
        case nothing
        /// An item's data and attributes, read together.
        case value(Data, KeychainAttributes)
        /// An item whose data cannot be read: `itemNotFound` (its biometry set changed) or
        /// `decode`.
        case unreadable(KeychainAttributes, KeychainStatus)
    }

    /// Reads the item under `key`. When its data cannot be read, its attributes tell an
    /// unreadable item from none; the item they describe is then read again by its version, so
    /// that an item another process added meanwhile is not taken for an unreadable one.
    private func snapshot(_ key: String) throws -> Snapshot {
        if case .success(let read) = try readData(query(key)) {
            return .value(read.data, read.attributes)
        }
        guard let item = try firstItem(query(key)) else { return .nothing }
        let exact = query(key, matching: item)
        switch try readData(exact) {
        case .success(let read):
            return .value(read.data, read.attributes)
        case .failure(let status):
            // Gone meanwhile (another process deleted it) is nothing stored, not unreadable.
            return try firstItem(exact) == nil ? .nothing : .unreadable(item, status)
        }
    }

    /// From nothing stored: one add. An item there already means another process wrote first,
    /// unless its data cannot be read: that item compares as nothing, and is replaced.
    private func add(_ key: String, _ new: Data) throws -> Bool {
        let status = items.add(newItem(key), data: new)
        if status == KeychainStatus.success { return true }
        guard status == KeychainStatus.duplicateItem else { throw KeychainStatus.error("write", status) }
        guard case .unreadable(let item, _) = try snapshot(key) else { return false }
        try delete(query(key, matching: item))
        return try added(items.add(newItem(key), data: new))
    }

    /// From a value: read it with its version, compare, and write only that version.
    private func replace(_ key: String, expected: Data?, new: Data?) throws -> Bool {
        guard case .value(let data, let item) = try snapshot(key) else {
            // Nothing (readable) is stored: a swap from nothing to nothing changes nothing.
            return expected == nil && new == nil
        }
        guard data == expected else { return false }
        let exact = query(key, matching: item)
        guard let new else {
            return try deleted(items.delete(exact))
        }
        if item.label == protectionTag || item.label == unversionedProtectionTag {
            let status = items.update(exact, data: new, version: Self.newVersion(), label: protectionTag)
            if status == KeychainStatus.itemNotFound { return false }
            guard status == KeychainStatus.success else { throw KeychainStatus.error("write", status) }
            return true
        }
        // Written with other protection, or without a label: replaced (the access control of an
        // item cannot be updated).
        guard try deleted(items.delete(exact)) else { return false }
        return try added(items.add(newItem(key), data: new))
    }

    /// One read of an item's data and attributes: "not found" and "cannot decode" are answered
    /// (the caller looks further); any other failure throws.
    private func readData(_ query: KeychainQuery) throws -> Result<KeychainRead, KeychainStatus> {
        let read = items.read(query)
        if case .failure(let status) = read, status != KeychainStatus.itemNotFound, status != KeychainStatus.decode {
            throw KeychainStatus.error("read", status)
        }
        return read
    }

    /// The attributes of the first item `query` matches, without its data (no prompt).
    private func firstItem(_ query: KeychainQuery) throws -> KeychainAttributes? {
        switch items.attributes(query) {
        case .success(let found): return found.first
        case .failure(let status): throw KeychainStatus.error("read", status)
        }
    }

    /// Whether a conditional add happened: `duplicateItem` is another process's item.
    private func added(_ status: KeychainStatus) throws -> Bool {
        if status == KeychainStatus.duplicateItem { return false }
        guard status == KeychainStatus.success else { throw KeychainStatus.error("write", status) }
        return true
    }

    /// Whether a conditional delete happened: `itemNotFound` means the item changed meanwhile.
    private func deleted(_ status: KeychainStatus) throws -> Bool {
        if status == KeychainStatus.itemNotFound { return false }
        guard status == KeychainStatus.success else { throw KeychainStatus.error("delete", status) }
        return true
    }

    /// Deletes what `query` matches; nothing to delete is fine.
    private func delete(_ query: KeychainQuery) throws {
        _ = try deleted(items.delete(query))
    }

    /// After a write to a configured access group, the copies in the app's other groups (written
    /// before the group changed) are deleted, so that no extension keeps reading an old session.
    private func removeCopiesInOtherGroups(_ key: String) throws {
        guard let group = options.accessGroup else { return }
        var anyGroup = query(key)
        anyGroup.accessGroup = nil
        guard case .success(let found) = items.attributes(anyGroup) else { return }
        for other in Set(found.compactMap(\.accessGroup)) where other != group {
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
    /// `kSecAttrGeneric`: the item's version, matched when searching and set when adding.
    var version: Data?
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

/// What an item holds besides its identity and data, read without its data (no prompt).
struct KeychainAttributes: Sendable, Equatable, Hashable {
    /// `kSecAttrAccessGroup`.
    var accessGroup: String?
    /// `kSecAttrLabel`.
    var label: String?
    /// `kSecAttrGeneric`; `nil` for items written before versions.
    var version: Data?
}

/// An item's data and its attributes, read in one call: the data is the version's.
struct KeychainRead: Sendable, Equatable, Hashable {
    /// `kSecValueData`.
    var data: Data
    /// The item's attributes.
    var attributes: KeychainAttributes
}

/// The Keychain calls the store needs, answering `OSStatus` codes for the store to interpret.
/// `SecItemKeychain` makes them on Apple platforms; the tests use a fake. Each is one `SecItem…`
/// call, so each is atomic: what ``KeychainStorage/compareAndSwap(forKey:expected:new:)``
/// builds on.
protocol KeychainItems: Sendable {
    /// `SecItemCopyMatching` for the data and attributes of the first matching item.
    func read(_ query: KeychainQuery) -> Result<KeychainRead, KeychainStatus>
    /// `SecItemUpdate` of the matching items: their data, version and label.
    func update(_ query: KeychainQuery, data: Data, version: Data, label: String) -> KeychainStatus
    /// `SecItemAdd`.
    func add(_ item: KeychainItem, data: Data) -> KeychainStatus
    /// `SecItemDelete` of every matching item.
    func delete(_ query: KeychainQuery) -> KeychainStatus
    /// `SecItemCopyMatching` for the attributes of every matching item (no data, no prompt).
    func attributes(_ query: KeychainQuery) -> Result<[KeychainAttributes], KeychainStatus>
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
