package dev.keyfob

import dev.keyfob.ffi.KeyfobHttpRequest
import dev.keyfob.ffi.TransportFailure
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** The public value types: plain Kotlin (no generated or unsigned types), converted at the edge, secrets hidden. */
class TypesTest {
    @Test
    fun `the configuration converts to the core's, and a negative number is a Config error`() {
        val config = KeyfobConfig(
            "https://auth.company.com", "app", "com.example.app:/callback",
            scopes = listOf("email"), extraParams = listOf(AuthParam("audience", "api")), httpTimeoutSecs = 15,
        )
        val ffi = config.toFfi()
        assertEquals(15u, ffi.httpTimeoutSecs)
        assertEquals(listOf(dev.keyfob.ffi.AuthParam("audience", "api")), ffi.extraParams)
        assertThrows<KeyfobException.Config> { config.copy(refreshMarginSecs = -1).toFfi() }
        assertEquals(86_400u to 60u, ffi.metadataMaxAgeSecs to ffi.metadataMinAgeSecs)
        assertThrows<KeyfobException.Config> { Keyfob(config.copy(metadataMinAgeSecs = 0)) }
        assertThrows<KeyfobException.Config> { Keyfob(config.copy(clockSkewSecs = -5)) }
    }

    @Test
    fun `the core validates the rest when the client is created`() {
        assertThrows<KeyfobException.Config> { Keyfob(testConfig(httpTimeoutSecs = 0)) }
        assertThrows<KeyfobException.InsecureUrl> { Keyfob(testConfig(issuer = "http://auth.company.com")) }
    }

    @Test
    fun `tokens, logout results and HTTP messages never show their secrets`() {
        val tokens = Tokens("at-secret", "idt-secret", 5, listOf("openid"), "Bearer")
        assertFalse("secret" in tokens.toString(), tokens.toString())
        val logout = LogoutResult("https://auth/end_session?id_token_hint=idt-secret", "s", null, true)
        assertFalse("secret" in logout.toString(), logout.toString())
        val request = HttpRequest("POST", "https://auth/token", listOf(HttpHeader("authorization", "Bearer at-secret")), "refresh_token=rt-secret".toByteArray(), 1, 1)
        assertFalse("secret" in request.toString(), request.toString())
        assertFalse("secret" in HttpResponse(200, emptyList(), "at-secret".toByteArray()).toString())
        val header = HttpHeader("DPoP", "proof-secret")
        assertFalse("secret" in header.toString(), header.toString())
        assertFalse("secret" in request.headers.toString(), request.headers.toString())
        assertTrue("DPoP" in header.toString())
    }

    @Test
    fun `an app's transport failures reach the core as the matching kinds`() = runBlocking<Unit> {
        fun bridge(e: Exception) = TransportBridge(object : HttpTransport {
            override suspend fun send(request: HttpRequest): HttpResponse = throw e
        })
        val request = KeyfobHttpRequest("GET", "https://x/", emptyList(), ByteArray(0), 1000uL, 1000uL)
        val cases = listOf(
            TransportException.Timeout("t") to TransportFailure.Timeout::class,
            TransportException.Connect("c") to TransportFailure.Connect::class,
            TransportException.TooLarge("l") to TransportFailure.TooLarge::class,
            TransportException.Other("o") to TransportFailure.Other::class,
            IllegalStateException("a bug in the app's transport") to TransportFailure.Other::class,
        )
        for ((thrown, expected) in cases) {
            val e = runCatching { bridge(thrown).send(request) }.exceptionOrNull()
            assertEquals(expected, e!!::class, "$thrown")
        }
    }

    @Test
    fun `a response with an impossible status is a failure, not a response`() = runBlocking<Unit> {
        val bridge = TransportBridge(object : HttpTransport {
            override suspend fun send(request: HttpRequest) = HttpResponse(70_000, emptyList(), ByteArray(0))
        })
        val e = runCatching { bridge.send(KeyfobHttpRequest("GET", "https://x/", emptyList(), ByteArray(0), 1uL, 1uL)) }.exceptionOrNull()
        assertTrue(e is TransportFailure.Other, "$e")
    }

    @Test
    fun `the request an app's transport gets carries plain numbers`() {
        val request = HttpRequest.from(KeyfobHttpRequest("GET", "https://x/", emptyList(), ByteArray(0), ULong.MAX_VALUE, 4096uL))
        assertEquals(Long.MAX_VALUE, request.timeoutMs)
        assertEquals(4096L, request.maxResponseBytes)
    }
}
