package dev.keyfob

import kotlinx.coroutines.runBlocking
import org.json.JSONObject
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.net.HttpURLConnection
import java.net.URI
import java.security.Signature

/**
 * Sender-constrained sessions (DPoP) and pushed authorization requests through the Kotlin layer,
 * with a software key ([JcaDpopKey]) behind the foreign key holder, against the testkit.
 */
class DpopTest {
    @AfterEach
    fun reset() {
        Testkit.clearFaults()
        Testkit.policy("{}")
    }

    /** What an app does for one API call with `HttpURLConnection`: authorize, send, retry once for a nonce. */
    private suspend fun Keyfob.get(url: String): Pair<Int, String> {
        var retried = false
        while (true) {
            val connection = URI(url).toURL().openConnection() as HttpURLConnection
            authorize(connection)
            val status = connection.responseCode
            val body = (if (status >= 400) connection.errorStream else connection.inputStream)
                ?.use { String(it.readBytes()) } ?: ""
            if (!retried && shouldRetry(connection)) {
                retried = true
                continue
            }
            return status to body
        }
    }

    @Test
    fun `a software key signs proofs with the public key it gives`() {
        val key = JcaDpopKey.generate()
        val spki = key.publicKey()
        assertEquals(91, spki.size, "a P-256 SubjectPublicKeyInfo")
        val signature = key.sign("input".toByteArray())
        val publicKey = java.security.KeyFactory.getInstance("EC")
            .generatePublic(java.security.spec.X509EncodedKeySpec(spki))
        val verifier = Signature.getInstance("SHA256withECDSA").apply {
            initVerify(publicKey)
            update("input".toByteArray())
        }
        assertTrue(verifier.verify(signature))
        assertFalse("MII" in key.toString(), "no key material in toString")
        assertArrayEquals(spki, key.publicKey())
    }

    @Test
    fun `signs in, calls A and B, refreshes and signs out with proofs`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage(), dpopKey = JcaDpopKey.generate()).use { keyfob ->
            keyfob.signIn()
            val tokens = keyfob.tokens()!!
            assertEquals("DPoP", tokens.tokenType)

            val crm = Testkit.crm + "/api/customers"
            val (status, body) = keyfob.get(crm)
            assertEquals(200, status, body)
            assertEquals("crm", JSONObject(body).getString("server"))
            assertEquals(200, keyfob.get(Testkit.orders + "/api/orders").first)
            assertEquals(401, Testkit.callApi(crm, tokens.accessToken).first, "the token alone is refused")
            val headers = keyfob.authorizationHeaders("GET", crm)
            assertTrue(headers.getValue("Authorization").startsWith("DPoP "))
            assertTrue("DPoP" in headers)
            // Printed, the headers show neither the token nor the proof.
            val shown = headers.toString()
            assertTrue("DPoP" in shown, shown)
            assertFalse(tokens.accessToken in shown || headers.getValue("DPoP") in shown, shown)
            assertEquals(headers.toMap(), headers, "still a map")

            keyfob.refresh()
            assertEquals(200, keyfob.get(crm).first)
            val revocationsBefore = Testkit.count("revoke")
            keyfob.logout()
            assertEquals(revocationsBefore + 1, Testkit.count("revoke"))
            assertEquals(0, Testkit.count("dpop_proofs_rejected"))
        }
    }

    @Test
    fun `server nonces cost one retry and are remembered`() = runBlocking<Unit> {
        Testkit.policy("""{"dpop_nonce": true}""")
        Keyfob(testConfig(), MapStorage(), dpopKey = JcaDpopKey.generate()).use { keyfob ->
            keyfob.signIn()
            val crm = Testkit.crm + "/api/customers"
            val rejectedBefore = Testkit.count("crm_rejected")
            assertEquals(200, keyfob.get(crm).first)
            assertEquals(200, keyfob.get(crm).first)
            assertEquals(rejectedBefore + 1, Testkit.count("crm_rejected"), "one retry, then the nonce is known")
            Testkit.rotateDpopNonces()
            val tokenRequests = Testkit.count("token")
            keyfob.refresh()
            assertEquals(tokenRequests + 2, Testkit.count("token"), "one use_dpop_nonce, one refresh")
        }
    }

    /** A key holder whose key the platform lost (a lock-screen change). */
    @Test
    fun `an API redirect is returned and its target gets no headers`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage(), dpopKey = JcaDpopKey.generate()).use { keyfob ->
            keyfob.signIn()
            // Server A redirects to server B: following it would hand B the token and a proof.
            val target = Testkit.orders + "/api/orders"
            Testkit.faults(
                """{"endpoints": [{"path": "/api/customers", "status": 302, "headers": [["Location", "$target"]]}]}""",
            )
            val crmBefore = Testkit.count("crm")
            val ordersBefore = Testkit.count("orders")
            assertEquals(302, keyfob.get(Testkit.crm + "/api/customers").first)
            assertEquals(crmBefore + 1, Testkit.count("crm"))
            assertEquals(ordersBefore, Testkit.count("orders"), "the redirect target was requested")
        }
    }

    private class LostKey : DpopKey {
        override fun publicKey(): ByteArray = throw StorageException.KeyInvalidated("the key is gone")
        override fun sign(message: ByteArray): ByteArray = publicKey()
    }

    @Test
    fun `a session whose key is gone must sign in again`() = runBlocking<Unit> {
        val storage = MapStorage()
        Keyfob(testConfig(), storage, dpopKey = JcaDpopKey.generate()).use { it.signIn() }
        // The same storage, another key (the Keystore key was replaced), then none usable.
        for (key in listOf(JcaDpopKey.generate(), LostKey())) {
            Keyfob(testConfig(), storage, dpopKey = JcaDpopKey.generate()).use { it.signIn() }
            Keyfob(testConfig(), storage, dpopKey = key).use { keyfob ->
                val e = expectFailure<KeyfobException.Storage> {
                    keyfob.authorizationHeaders("GET", Testkit.crm + "/api/customers")
                }
                assertEquals(StorageErrorKind.KEY_INVALIDATED, e.kind)
                assertTrue(e.requiresSignIn)
                assertEquals(SessionState.NEEDS_RE_LOGIN, keyfob.state.value)
            }
        }
    }

    @Test
    fun `a provider that requires PAR gets a pushed request`() = runBlocking<Unit> {
        Testkit.policy("""{"require_par": true}""")
        Keyfob(testConfig(), MapStorage(), dpopKey = JcaDpopKey.generate()).use { keyfob ->
            val url = keyfob.beginLogin()
            val names = URI(url).rawQuery.split('&').map { it.substringBefore('=') }
            assertEquals(listOf("client_id", "request_uri"), names)
            keyfob.handleRedirect(Testkit.authorize(url))
            assertEquals("DPoP", keyfob.tokens()!!.tokenType)
        }
    }

    @Test
    fun `a refused push is a provider error and nothing is stored`() = runBlocking<Unit> {
        Testkit.policy("""{"require_par": true}""")
        Testkit.faults("""{"endpoints": [{"path": "/par", "status": 400, "body": "{\"error\": \"invalid_request\"}"}]}""")
        val storage = MapStorage()
        Keyfob(testConfig(), storage).use { keyfob ->
            val e = expectFailure<KeyfobException.Provider> { keyfob.beginLogin() }
            assertEquals("invalid_request", e.error)
            assertEquals(setOf("metadata"), storage.entries.keys, "no pending login, no session: only the provider's public metadata (issue 15)")
            assertEquals(SessionState.SIGNED_OUT, keyfob.restored())
        }
    }
}
