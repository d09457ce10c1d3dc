#if canImport(Security) && (os(iOS) || os(macOS))
import Foundation
import Security

/// A DPoP key in the Secure Enclave: a P-256 key made by the Secure Enclave
/// (`kSecAttrTokenIDSecureEnclave`), usable only on this device, after its first unlock. The
/// private key never leaves the Secure Enclave, not even to Keyfob: Keyfob hands it each
/// proof to sign.
///
/// One key per `tag`: the sessions of every account signed in with it are bound to it. Share
/// the tag (and the Keychain `accessGroup`) with an app extension that uses the same sessions.
/// Call ``delete()`` when the last account signs out, if no session should outlive it.
///
/// Devices without a Secure Enclave (the iOS Simulator before Xcode 15 on Intel Macs, Macs
/// without a T2 or Apple silicon) cannot make the key: ``publicKey()`` throws `failed`.
public final class SecureEnclaveDPoPKey: DPoPKey, Sendable {
    private let key: StoredDPoPKey<SecureEnclaveKeyStore>

    /// The Secure Enclave key under `tag`, made at the first sign-in that needs it.
    public init(tag: String = "dev.keyfob.dpop", accessGroup: String? = nil) {
        key = StoredDPoPKey(store: SecureEnclaveKeyStore(tag: Data(tag.utf8), accessGroup: accessGroup))
    }

    public func publicKey() throws -> Data { try key.publicKey() }

    public func sign(_ message: Data) throws -> Data { try key.sign(message) }

    /// Deletes the key. Sessions bound to it can no longer be used; the next sign-in makes a
    /// new key.
    public func delete() throws { try key.delete() }
}

/// ``P256KeyStore`` on the Security framework: a permanent Secure Enclave key under an
/// application tag. Decides nothing: ``StoredDPoPKey`` holds the rules.
struct SecureEnclaveKeyStore: P256KeyStore {
    let tag: Data
    let accessGroup: String?

    private var query: [String: Any] {
        var query: [String: Any] = [
            kSecClass as String: kSecClassKey,
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrApplicationTag as String: tag,
        ]
        if let accessGroup { query[kSecAttrAccessGroup as String] = accessGroup }
        return query
    }

    func find() throws -> SecKey? {
        var query = self.query
        query[kSecReturnRef as String] = true
        query[kSecMatchLimit as String] = kSecMatchLimitOne
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecItemNotFound { return nil }
        guard status == errSecSuccess, let item else { throw Self.failure(status, "reading") }
        // A SecItemCopyMatching result for kSecClassKey with kSecReturnRef is a SecKey.
        return (item as! SecKey)
    }

    func create() throws -> SecKey {
        var error: Unmanaged<CFError>?
        guard let access = SecAccessControlCreateWithFlags(
            nil, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly, .privateKeyUsage, &error)
        else {
            throw SecureStorageError(.failed, "cannot describe the DPoP key's access: \(String(describing: error?.takeRetainedValue()))")
        }
        var privateAttributes: [String: Any] = [
            kSecAttrIsPermanent as String: true,
            kSecAttrApplicationTag as String: tag,
            kSecAttrAccessControl as String: access,
        ]
        if let accessGroup { privateAttributes[kSecAttrAccessGroup as String] = accessGroup }
        let attributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecAttrTokenID as String: kSecAttrTokenIDSecureEnclave,
            kSecPrivateKeyAttrs as String: privateAttributes,
        ]
        guard let key = SecKeyCreateRandomKey(attributes as CFDictionary, &error) else {
            throw SecureStorageError(.failed, "the Secure Enclave could not make a DPoP key: \(String(describing: error?.takeRetainedValue()))")
        }
        return key
    }

    func publicKey(of key: SecKey) throws -> Data {
        var error: Unmanaged<CFError>?
        guard let publicKey = SecKeyCopyPublicKey(key),
              let point = SecKeyCopyExternalRepresentation(publicKey, &error) as Data?
        else {
            throw SecureStorageError(.failed, "cannot read the DPoP key's public key")
        }
        return point
    }

    func sign(_ message: Data, with key: SecKey) throws -> Data {
        var error: Unmanaged<CFError>?
        guard let signature = SecKeyCreateSignature(
            key, .ecdsaSignatureMessageX962SHA256, message as CFData, &error) as Data?
        else {
            let code = error.map { CFErrorGetCode($0.takeRetainedValue()) } ?? 0
            throw Self.failure(OSStatus(truncatingIfNeeded: code), "signing with")
        }
        return signature
    }

    func delete() throws {
        let status = SecItemDelete(query as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else {
            throw Self.failure(status, "deleting")
        }
    }

    /// A Security status as a storage failure: a locked device is `unavailable`, a missing key
    /// `keyInvalidated`, anything else `failed`.
    private static func failure(_ status: OSStatus, _ doing: String) -> SecureStorageError {
        switch status {
        case errSecInteractionNotAllowed:
            return SecureStorageError(.unavailable, "the device is locked: \(doing) the DPoP key must wait")
        case errSecItemNotFound:
            return SecureStorageError(.keyInvalidated, "the DPoP key is gone")
        default:
            return SecureStorageError(.failed, "\(doing) the DPoP key failed (OSStatus \(status))")
        }
    }
}
#endif
