package dev.keyfob

import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File
import kotlin.time.Duration.Companion.seconds

/**
 * The classification table shared with the Rust and Swift tests
 * (core/tests/data/error_classification.json): every error kind, built as the
 * [KeyfobException] an app catches, answers [KeyfobException.isRetryable],
 * [KeyfobException.requiresSignIn] and `retryAfter` as the table says.
 */
class ErrorClassificationTest {
    private fun table(): List<JSONObject> {
        var dir: File? = File(System.getProperty("user.dir")).absoluteFile
        while (dir != null) {
            val file = File(dir, "core/tests/data/error_classification.json")
            if (file.isFile) {
                val rows = JSONObject(file.readText()).getJSONArray("rows")
                return (0 until rows.length()).map { rows.getJSONObject(it) }
            }
            dir = dir.parentFile
        }
        error("core/tests/data/error_classification.json not found above ${System.getProperty("user.dir")}")
    }

    private fun exceptionOf(row: JSONObject): KeyfobException {
        val reason = "reason"
        return when (val kind = row.getString("kind")) {
            "Config" -> KeyfobException.Config(reason)
            "InsecureUrl" -> KeyfobException.InsecureUrl(reason)
            "Network" -> KeyfobException.Network(reason)
            "Timeout" -> KeyfobException.Timeout(reason)
            "HttpStatus" -> KeyfobException.HttpStatus(
                row.getInt("status"),
                reason,
                retryAfter = if (row.has("retry_after")) row.getLong("retry_after").seconds else null,
            )
            "Provider" -> KeyfobException.Provider(row.getString("error"), reason)
            "InvalidResponse" -> KeyfobException.InvalidResponse(reason)
            "Discovery" -> KeyfobException.Discovery(reason)
            "InvalidCallback" -> KeyfobException.InvalidCallback(reason)
            "StateMismatch" -> KeyfobException.StateMismatch(reason)
            "IssuerMismatch" -> KeyfobException.IssuerMismatch(reason)
            "NoPendingLogin" -> KeyfobException.NoPendingLogin(reason)
            "IdToken" -> {
                assertEquals("Expired", row.getString("check"), "add this IdTokenCheck here")
                KeyfobException.IdToken(IdTokenCheck.EXPIRED, reason)
            }
            "NotSignedIn" -> KeyfobException.NotSignedIn(reason)
            "ReLoginRequired" -> KeyfobException.ReLoginRequired(reason)
            "Storage" -> KeyfobException.Storage(
                when (row.getString("storage")) {
                    "Unavailable" -> StorageErrorKind.UNAVAILABLE
                    "KeyInvalidated" -> StorageErrorKind.KEY_INVALIDATED
                    "Corrupt" -> StorageErrorKind.CORRUPT
                    "Failed" -> StorageErrorKind.FAILED
                    "Foreign" -> StorageErrorKind.FOREIGN
                    else -> error("unknown storage kind in $row")
                },
                reason,
            )
            "MinTtlExceedsLifetime" -> KeyfobException.MinTtlExceedsLifetime(reason)
            "Internal" -> KeyfobException.Internal(reason)
            else -> error("unknown kind $kind")
        }
    }

    @Test
    fun `every error kind is classified as the table says`() {
        val rows = table()
        // A row at least for each of KeyfobException's subclasses that the core raises (all but
        // Cancelled and NoBrowser, this layer's own).
        val kinds = KeyfobException::class.java.declaredClasses.count { KeyfobException::class.java.isAssignableFrom(it) } - 2
        assertEquals(18, kinds)
        assertEquals(kinds, rows.map { it.getString("kind") }.toSet().size)
        for (row in rows) {
            val e = exceptionOf(row)
            assertEquals(row.getBoolean("retryable"), e.isRetryable, "retryable: $row")
            assertEquals(row.getBoolean("sign_in"), e.requiresSignIn, "sign in: $row")
            if (e is KeyfobException.HttpStatus) {
                assertEquals(if (row.has("retry_after")) row.getLong("retry_after").seconds else null, e.retryAfter)
            }
            assertFalse(e.isRetryable && e.requiresSignIn, "a retryable error never means the session is gone: $row")
        }
    }

    @Test
    fun `every exception maps to the generated error and back to the same kind`() {
        for (row in table()) {
            val e = exceptionOf(row)
            val back = KeyfobException.from(e.toGenerated()!!)
            assertEquals(e::class, back::class, "$row")
            assertEquals(e.reason, back.reason)
            assertTrue(back.cause is dev.keyfob.ffi.FfiException)
        }
    }

    @Test
    fun `the kinds only the Kotlin layer raises are neither retryable nor a reason to sign in`() {
        for (e in listOf(KeyfobException.Cancelled("closed"), KeyfobException.NoBrowser("none"))) {
            assertFalse(e.isRetryable, "$e")
            assertFalse(e.requiresSignIn, "$e")
        }
    }

    @Test
    fun `the public enums name every generated value`() {
        assertEquals(
            dev.keyfob.ffi.IdTokenCheck.entries.map { it.name },
            IdTokenCheck.entries.map { it.name },
        )
        for (check in dev.keyfob.ffi.IdTokenCheck.entries) assertEquals(check, check.sameNamed<IdTokenCheck>().sameNamed<dev.keyfob.ffi.IdTokenCheck>())
        assertEquals(
            dev.keyfob.ffi.StorageErrorKind.entries.map { it.name },
            StorageErrorKind.entries.map { it.name },
        )
        // Every core state has a public one; RESTORING is this layer's own.
        assertEquals(
            dev.keyfob.ffi.SessionState.entries.map { it.name },
            SessionState.entries.filter { it != SessionState.RESTORING }.map { it.name },
        )
        for (state in dev.keyfob.ffi.SessionState.entries) assertEquals(state.name, SessionState.from(state).name)
    }
}
