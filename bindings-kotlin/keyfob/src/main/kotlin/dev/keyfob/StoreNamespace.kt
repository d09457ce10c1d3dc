package dev.keyfob

import java.security.MessageDigest

/**
 * Where one client's session lives in a store: one directory per issuer and client id, named by
 * a hash of the two (as the core's `FileStorage` names its directories), so that two clients —
 * two tenants, two issuers — never read, refresh or overwrite each other's session. The core
 * also refuses a stored session of another issuer or client (`StorageErrorKind.FOREIGN`).
 */
public object StoreNamespace {
    /** `keyfob/` and 24 hex digits of SHA-256(`issuer` + "\n" + `clientId`). */
    public fun directory(issuer: String, clientId: String): String {
        val digest = MessageDigest.getInstance("SHA-256").digest("$issuer\n$clientId".toByteArray(Charsets.UTF_8))
        return "keyfob/" + digest.take(12).joinToString("") { "%02x".format(it) }
    }
}
