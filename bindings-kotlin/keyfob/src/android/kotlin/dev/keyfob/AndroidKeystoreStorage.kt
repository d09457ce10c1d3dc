package dev.keyfob

import android.content.Context
import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import java.io.File
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * Keyfob's default storage on Android: each entry encrypted with AES-256-GCM under a
 * non-exportable key held in `AndroidKeyStore` (hardware-backed where the device has it), the
 * ciphertext in the app's no-backup files directory (`noBackupFilesDir/keyfob`), written
 * atomically. The file format, the atomic write and the error mapping are
 * [EncryptedFileStorage]'s; this class only supplies the Keystore key.
 *
 * The files are kept out of backups on purpose: the Keystore key never leaves the device, so a
 * restored copy could not be decrypted. Should that happen anyway, or should the key be
 * invalidated, loading reports [StorageException.KeyInvalidated] (the user signs in again) and the
 * next save creates a new key.
 *
 * @param unlockedDeviceRequired on Android 9+, allow using the key only while the device is
 *   unlocked: tokens are then unreadable in the background while locked
 *   ([StorageException.Unavailable], [SessionState.STORAGE_UNAVAILABLE]). Off by default.
 * @param directory where in `noBackupFilesDir` the files go. `Keyfob.create` passes
 *   [StoreNamespace.directory] of its issuer and client id, so that two clients (two tenants,
 *   two apps' libraries) never share a session.
 */
public class AndroidKeystoreStorage @JvmOverloads constructor(
    context: Context,
    alias: String = DEFAULT_ALIAS,
    unlockedDeviceRequired: Boolean = false,
    directory: String = "keyfob",
) : SecureStorage by EncryptedFileStorage(
    File(context.applicationContext.noBackupFilesDir, directory),
    AndroidKeystoreKey(alias, unlockedDeviceRequired),
) {
    public companion object {
        /** The `AndroidKeyStore` alias of the storage key. */
        public const val DEFAULT_ALIAS: String = "dev.keyfob.storage"
    }
}

/** An AES-256-GCM key in `AndroidKeyStore`: it encrypts and decrypts there and is never exported. */
internal class AndroidKeystoreKey(
    private val alias: String,
    private val unlockedDeviceRequired: Boolean,
) : SealingKey {
    private val keyStore: KeyStore by lazy { KeyStore.getInstance(PROVIDER).apply { load(null) } }

    override fun seal(plaintext: ByteArray, aad: ByteArray): SealedBox {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        // The Keystore picks a fresh random IV (randomized encryption is required by the key).
        cipher.init(Cipher.ENCRYPT_MODE, existingKey() ?: createKey())
        cipher.updateAAD(aad)
        val ciphertext = cipher.doFinal(plaintext)
        return SealedBox(cipher.iv, ciphertext)
    }

    override fun open(box: SealedBox, aad: ByteArray): ByteArray {
        val key = existingKey() ?: throw SealingKeyMissingException("the Keystore has no key $alias")
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(TAG_BITS, box.iv))
        cipher.updateAAD(aad)
        return cipher.doFinal(box.ciphertext)
    }

    override fun reset() {
        if (keyStore.containsAlias(alias)) keyStore.deleteEntry(alias)
    }

    private fun existingKey(): SecretKey? = keyStore.getKey(alias, null) as SecretKey?

    private fun createKey(): SecretKey {
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setKeySize(256)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setRandomizedEncryptionRequired(true)
            .apply { if (unlockedDeviceRequired && Build.VERSION.SDK_INT >= 28) setUnlockedDeviceRequired(true) }
            .build()
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, PROVIDER)
        generator.init(spec)
        return generator.generateKey()
    }

    private companion object {
        const val PROVIDER = "AndroidKeyStore"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val TAG_BITS = 128
    }
}
