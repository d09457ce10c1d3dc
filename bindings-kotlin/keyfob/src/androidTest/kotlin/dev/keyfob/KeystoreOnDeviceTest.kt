package dev.keyfob

import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import org.junit.After
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import org.junit.runner.RunWith
import java.io.File
import java.security.KeyStore

/** `AndroidKeystoreStorage` with the real `AndroidKeyStore`: what the JVM tests do with a software key. */
@RunWith(AndroidJUnit4::class)
class KeystoreOnDeviceTest {
    private val context = InstrumentationRegistry.getInstrumentation().targetContext
    private val alias = "dev.keyfob.test.storage"
    private val secret = "refresh-token-secret".toByteArray()

    @After
    fun cleanUp() {
        KeyStore.getInstance("AndroidKeyStore").apply { load(null) }.deleteEntry(alias)
        File(context.noBackupFilesDir, "keyfob").deleteRecursively()
    }

    private inline fun <reified T : StorageException> assertFails(block: () -> Unit) {
        try {
            block()
            fail("expected ${T::class.simpleName}")
        } catch (e: StorageException) {
            assertTrue("$e", e is T)
        }
    }

    @Test
    fun storesLoadsAndDeletesWithAKeystoreKey() {
        val storage = AndroidKeystoreStorage(context, alias)
        storage.save("session", secret)
        assertArrayEquals(secret, storage.load("session"))
        val file = File(context.noBackupFilesDir, "keyfob/session.kfs")
        assertTrue(file.exists() && !String(file.readBytes(), Charsets.ISO_8859_1).contains("refresh-token-secret"))
        storage.delete("session")
        assertNull(storage.load("session"))
    }

    @Test
    fun aLostKeyKeepsAskingForANewSignInUntilTheNextSave() {
        AndroidKeystoreStorage(context, alias).save("session", secret)
        KeyStore.getInstance("AndroidKeyStore").apply { load(null) }.deleteEntry(alias)
        assertFails<StorageException.KeyInvalidated> { AndroidKeystoreStorage(context, alias).load("session") }
        // A second launch still says so: the file was not deleted.
        assertFails<StorageException.KeyInvalidated> { AndroidKeystoreStorage(context, alias).load("session") }
        val storage = AndroidKeystoreStorage(context, alias)
        storage.save("session", secret)
        assertArrayEquals(secret, storage.load("session"))
    }

    @Test
    fun strongBoxWhenAvailableElseTheTee() {
        val storage = AndroidKeystoreStorage(context, alias, strongBox = StrongBox.PREFERRED)
        storage.save("session", secret)
        assertArrayEquals(secret, storage.load("session"))
    }

    @Test
    fun aBiometricKeyWithoutAnEnrolledBiometricIsUnavailableNotACrash() {
        // The emulator has no enrolled fingerprint (and usually no secure lock screen).
        val storage = AndroidKeystoreStorage(context, alias, biometric = BiometricPromptText("Unlock"))
        assertFails<StorageException.Unavailable> { storage.save("session", secret) }
    }
}
