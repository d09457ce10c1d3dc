package dev.keyfob.sample

import dev.keyfob.KeyfobConfig
import dev.keyfob.KeyfobException
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * The sample's start checks: the release build pointed at the testkit's plain-http issuer starts
 * and says why it cannot sign in, rather than crashing in `Application.onCreate`.
 */
class SampleStartTest {
    private val release = SampleConfig.keyfobConfig(debuggable = false)

    @Test
    fun `the release configuration allows no insecure host, the debug one only the emulator's host`() {
        assertTrue(release.allowInsecureHttpHosts.isEmpty())
        assertEquals(listOf("10.0.2.2"), SampleConfig.keyfobConfig(debuggable = true).allowInsecureHttpHosts)
        assertTrue(release.issuer.startsWith("http://"), "the testkit issuer, refused in release")
    }

    @Test
    fun `an insecure issuer in a release build becomes a message, not a crash`() {
        val start = SampleStart.check(release, debuggable = false) { throw KeyfobException.InsecureUrl("issuer is not https") }
        assertTrue(start is SampleStart.Misconfigured)
        val message = (start as SampleStart.Misconfigured).message
        assertTrue(release.issuer in message, message)
        assertTrue("HTTPS" in message && "debug build" in message, message)
    }

    @Test
    fun `an insecure host in a debug build points at allowInsecureHttpHosts`() {
        val config = KeyfobConfig("http://192.168.1.5:9400", "c", "com.example.app:/callback")
        val message = SampleStart.describe(KeyfobException.InsecureUrl("no"), config, debuggable = true)
        assertTrue("allowInsecureHttpHosts" in message, message)
    }

    @Test
    fun `other refusals name their kind`() {
        val config = release.copy(issuer = "https://auth.company.com")
        val invalid = SampleStart.check(config, debuggable = false) { throw KeyfobException.Config("clientId is empty") }
        assertTrue((invalid as SampleStart.Misconfigured).message.contains("invalid"))
        val other = SampleStart.describe(KeyfobException.Storage(dev.keyfob.StorageErrorKind.FAILED, "disk"), config, false)
        assertTrue("Storage" in other, other)
    }
}
