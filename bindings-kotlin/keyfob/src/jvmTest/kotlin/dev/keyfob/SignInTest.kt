package dev.keyfob

import kotlinx.coroutines.runBlocking
import org.json.JSONObject
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** The seed scenario through the Kotlin layer, the real library and the testkit provider. */
class SignInTest {
    @AfterEach
    fun clearFaults() = Testkit.clearFaults()

    @Test
    fun `signs in, calls A and B with the bearer token, refreshes and logs out`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            assertEquals(SessionState.SIGNED_OUT, keyfob.restored())

            val url = keyfob.beginLogin()
            assertTrue(url.startsWith(Testkit.issuer + "/authorize?"), url)
            assertTrue("code_challenge_method=S256" in url)
            assertEquals(SessionState.LOGIN_PENDING, keyfob.state.value)
            val callback = Testkit.authorize(url)
            assertTrue(callback.startsWith("myapp://callback?"), callback)

            val claims = keyfob.handleRedirect(callback)
            assertEquals("user-123", claims.subject)
            assertEquals("ada@company.com", claims.email)
            assertEquals(Testkit.issuer, claims.issuer)
            assertEquals(SessionState.SIGNED_IN, keyfob.state.value)
            assertEquals("user-123", keyfob.claims()?.subject)

            val token = keyfob.accessToken()
            assertEquals(token, keyfob.cachedAccessToken())
            val (crmStatus, crmBody) = Testkit.callApi(Testkit.crm + "/api/customers", token)
            assertEquals(200, crmStatus, crmBody)
            val (ordersStatus, ordersBody) = Testkit.callApi(Testkit.orders + "/api/orders", token)
            assertEquals(200, ordersStatus, ordersBody)

            val refreshesBefore = Testkit.count("refresh_token")
            keyfob.refresh()
            assertEquals(refreshesBefore + 1, Testkit.count("refresh_token"))
            val refreshed = keyfob.accessToken()
            assertNotEquals(token, refreshed)
            assertEquals(200, Testkit.callApi(Testkit.crm + "/api/customers", refreshed).first)
            assertEquals(200, Testkit.callApi(Testkit.orders + "/api/orders", refreshed).first)
            // The rotated refresh token is the one in use: a second refresh succeeds (the
            // testkit revokes the whole family when an old refresh token is replayed).
            keyfob.refresh()
            assertEquals(refreshesBefore + 2, Testkit.count("refresh_token"))

            val userinfo = JSONObject(keyfob.userinfo())
            assertEquals("user-123", userinfo.getString("sub"))

            val revocationsBefore = Testkit.count("revoke")
            val logout = keyfob.logout()
            assertNull(logout.revocationError)
            assertNotNull(logout.endSessionUrl)
            assertEquals(revocationsBefore + 1, Testkit.count("revoke"))
            assertEquals(SessionState.SIGNED_OUT, keyfob.state.value)
            assertNull(keyfob.claims())
            expectFailure<KeyfobException.NotSignedIn> { keyfob.accessToken() }
        }
    }

    @Test
    fun `a new client restores the session from a Kotlin storage`() = runBlocking<Unit> {
        val storage = MapStorage()
        val token = Keyfob(testConfig(), storage).use { first ->
            first.signIn()
            first.accessToken()
        }
        assertTrue(storage.entries.containsKey("session"))

        Keyfob(testConfig(), storage).use { second ->
            assertEquals(SessionState.SIGNED_IN, second.restored())
            assertEquals("user-123", second.claims()?.subject)
            assertEquals(token, second.accessToken())
            second.logout()
        }
        // Logout leaves no session: only the provider's public metadata, for the next sign-in.
        assertEquals(setOf("metadata"), storage.entries.keys, "logout leaves no session")
    }

    @Test
    fun `a login survives the app being killed while the browser is open`() = runBlocking<Unit> {
        val storage = MapStorage()
        val url = Keyfob(testConfig(), storage).use { it.beginLogin() }
        assertTrue(storage.entries.containsKey("pending"), "the pending login is stored before the URL is returned")
        val callback = Testkit.authorize(url)

        // A new process: a new client over the same storage receives the deep link.
        Keyfob(testConfig(), storage).use { restarted ->
            assertEquals("user-123", restarted.handleRedirect(callback).subject)
            assertEquals(SessionState.SIGNED_IN, restarted.state.value)
            assertEquals(200, Testkit.callApi(Testkit.crm + "/api/customers", restarted.accessToken()).first)
        }
    }

    @Test
    fun `the session is kept without storage for the life of the client`() = runBlocking<Unit> {
        Keyfob(testConfig()).use { keyfob ->
            keyfob.signIn()
            assertEquals(SessionState.SIGNED_IN, keyfob.state.value)
            assertEquals(200, Testkit.callApi(Testkit.orders + "/api/orders", keyfob.accessToken()).first)
        }
    }
}
