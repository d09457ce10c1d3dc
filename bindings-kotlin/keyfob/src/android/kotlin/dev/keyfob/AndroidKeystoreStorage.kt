package dev.keyfob

import android.app.KeyguardManager
import android.content.Context
import android.hardware.biometrics.BiometricManager
import android.hardware.biometrics.BiometricPrompt
import android.os.Build
import android.os.CancellationSignal
import android.os.Handler
import android.os.Looper
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.system.ErrnoException
import android.system.Os
import android.system.OsConstants
import java.io.File
import java.io.IOException
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * What the platform `BiometricPrompt` shows when the storage key is bound to biometrics.
 *
 * @property title the prompt's title, e.g. "Unlock your account".
 * @property subtitle a line under it, if any.
 * @property negativeButton the button that declines (the storage then reads as unavailable).
 */
public data class BiometricPromptText @JvmOverloads constructor(
    val title: String,
    val subtitle: String? = null,
    val negativeButton: String = "Cancel",
)

/**
 * Keyfob's default storage on Android: each entry encrypted with AES-256-GCM under a
 * non-exportable key held in `AndroidKeyStore` (in the StrongBox where the device has one, else
 * the TEE), the ciphertext in the app's no-backup files directory (`noBackupFilesDir/keyfob`),
 * written atomically. The file format, the atomic write and the error mapping are
 * [EncryptedFileStorage]'s, the StrongBox and biometric decisions [KeyGeneration]'s and
 * [BiometricSupport]'s; this class only supplies the Keystore calls.
 *
 * The files are kept out of backups on purpose: the Keystore key never leaves the device, so a
 * restored copy could not be decrypted. Should that happen anyway, or should the key be
 * invalidated, loading reports [StorageException.KeyInvalidated] at every launch (the user signs
 * in again: [SessionState.NEEDS_RE_LOGIN]) and the next save creates a new key.
 *
 * @param unlockedDeviceRequired on Android 9+, allow using the key only while the device is
 *   unlocked: tokens are then unreadable in the background while locked
 *   ([StorageException.Unavailable], [SessionState.STORAGE_UNAVAILABLE]). Off by default.
 * @param strongBox where the key is generated; [StrongBox.PREFERRED] by default.
 * @param biometric opt-in: bind the key to the user's strong biometric (Android 9+): every read
 *   and write of the session — the first use after each app start, sign-in, each refresh,
 *   sign-out — shows [BiometricPromptText] through the platform `BiometricPrompt` and waits for
 *   it on the background thread Keyfob uses. Declining or failing is
 *   [StorageException.Unavailable] (the session is kept); enrolling a new biometric invalidates
 *   the key ([StorageException.KeyInvalidated]). The key has its own alias (`alias` + `.biometric`).
 * @param directory where in `noBackupFilesDir` the files go. `Keyfob.create` passes
 *   [StoreNamespace.directory] of its issuer and client id, so that two clients (two tenants,
 *   two apps' libraries) never share a session.
 */
public class AndroidKeystoreStorage @JvmOverloads constructor(
    context: Context,
    alias: String = DEFAULT_ALIAS,
    unlockedDeviceRequired: Boolean = false,
    strongBox: StrongBox = StrongBox.PREFERRED,
    biometric: BiometricPromptText? = null,
    directory: String = "keyfob",
) : SecureStorage by EncryptedFileStorage(
    File(context.applicationContext.noBackupFilesDir, directory),
    CipherSealingKey(
        AndroidKeystoreKey(
            context.applicationContext,
            if (biometric == null) alias else "$alias.biometric",
            unlockedDeviceRequired,
            strongBox,
            biometric != null,
        ),
        biometric?.let { BiometricPromptAuthorizer(context.applicationContext, it) },
        isMainThread = { Looper.myLooper() == Looper.getMainLooper() },
    ),
    AndroidDirectorySync,
) {
    public companion object {
        /** The `AndroidKeyStore` alias of the storage key. */
        public const val DEFAULT_ALIAS: String = "dev.keyfob.storage"
    }
}

/** An AES-256-GCM key in `AndroidKeyStore`: it encrypts and decrypts there and is never exported. */
internal class AndroidKeystoreKey(
    private val context: Context,
    private val alias: String,
    private val unlockedDeviceRequired: Boolean,
    private val strongBox: StrongBox,
    private val biometric: Boolean,
) : CipherKeystore {
    private val keyStore: KeyStore by lazy { KeyStore.getInstance(PROVIDER).apply { load(null) } }

    override fun encryptCipher(): Cipher =
        // The Keystore picks a fresh random IV (randomized encryption is required by the key).
        Cipher.getInstance(TRANSFORMATION).apply { init(Cipher.ENCRYPT_MODE, existingKey() ?: createKey()) }

    override fun decryptCipher(iv: ByteArray): Cipher {
        val key = existingKey() ?: throw SealingKeyMissingException("the Keystore has no key $alias")
        return Cipher.getInstance(TRANSFORMATION).apply { init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(TAG_BITS, iv)) }
    }

    override fun reset() {
        if (keyStore.containsAlias(alias)) keyStore.deleteEntry(alias)
    }

    private fun existingKey(): SecretKey? = keyStore.getKey(alias, null) as SecretKey?

    private fun createKey(): SecretKey {
        if (biometric) {
            val problem = BiometricSupport.problem(Build.VERSION.SDK_INT, deviceSecure(), canAuthenticate())
            if (problem != null) throw StorageException.Unavailable("a key bound to biometrics cannot be created: $problem")
        }
        return KeyGeneration.generate(KeyGeneration.attempts(strongBox, Build.VERSION.SDK_INT)) { inStrongBox ->
            val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, PROVIDER)
            generator.init(spec(inStrongBox))
            generator.generateKey()
        }
    }

    private fun spec(inStrongBox: Boolean): KeyGenParameterSpec {
        val builder = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setKeySize(256)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setRandomizedEncryptionRequired(true)
        if (Build.VERSION.SDK_INT >= 28) {
            if (unlockedDeviceRequired) builder.setUnlockedDeviceRequired(true)
            if (inStrongBox) builder.setIsStrongBoxBacked(true)
        }
        if (biometric) {
            builder.setUserAuthenticationRequired(true).setInvalidatedByBiometricEnrollment(true)
            if (Build.VERSION.SDK_INT >= 30) {
                builder.setUserAuthenticationParameters(0, KeyProperties.AUTH_BIOMETRIC_STRONG)
            } else {
                @Suppress("DEPRECATION") // -1: every use needs a fresh authentication (a CryptoObject)
                builder.setUserAuthenticationValidityDurationSeconds(-1)
            }
        }
        return builder.build()
    }

    private fun deviceSecure(): Boolean = context.getSystemService(KeyguardManager::class.java)?.isDeviceSecure == true

    private fun canAuthenticate(): Int? {
        val manager = if (Build.VERSION.SDK_INT >= 29) context.getSystemService(BiometricManager::class.java) else null
        return when {
            manager == null -> null
            Build.VERSION.SDK_INT >= 30 -> manager.canAuthenticate(BiometricManager.Authenticators.BIOMETRIC_STRONG)
            else -> @Suppress("DEPRECATION") manager.canAuthenticate()
        }
    }

    private companion object {
        const val PROVIDER = "AndroidKeyStore"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val TAG_BITS = 128
    }
}

/** `fsync` of a directory through `android.system.Os` (`java.nio.file` needs Android 8). */
internal object AndroidDirectorySync : DirectorySync {
    override fun sync(directory: File) {
        try {
            val fd = Os.open(directory.path, OsConstants.O_RDONLY, 0)
            try {
                Os.fsync(fd)
            } finally {
                Os.close(fd)
            }
        } catch (e: ErrnoException) {
            throw IOException("fsync of ${directory.name}: ${e.message}", e)
        }
    }
}

/** Asks for the user's biometric with the platform `BiometricPrompt` and the cipher as `CryptoObject`. */
internal class BiometricPromptAuthorizer(
    private val context: Context,
    private val text: BiometricPromptText,
) : CipherAuthorizer {
    override fun authorize(cipher: Cipher): Cipher {
        if (Build.VERSION.SDK_INT < 28) throw StorageException.Unavailable("BiometricPrompt needs Android 9 or later")
        val main = Handler(Looper.getMainLooper())
        val signal = CancellationSignal()
        val answer = BlockingAnswer<Cipher>(PROMPT_TIMEOUT_MS) { main.post { signal.cancel() } }
        main.post {
            val prompt = BiometricPrompt.Builder(context)
                .setTitle(text.title)
                .apply { text.subtitle?.let(::setSubtitle) }
                .setNegativeButton(text.negativeButton, context.mainExecutor) { _, _ ->
                    answer.fail(StorageException.Unavailable("the user declined the biometric prompt"))
                }
                .build()
            prompt.authenticate(
                BiometricPrompt.CryptoObject(cipher),
                signal,
                context.mainExecutor,
                object : BiometricPrompt.AuthenticationCallback() {
                    override fun onAuthenticationSucceeded(result: BiometricPrompt.AuthenticationResult) {
                        val authorised = result.cryptoObject?.cipher
                        if (authorised != null) answer.succeed(authorised) else answer.fail(BiometricSupport.failure(-1))
                    }

                    override fun onAuthenticationError(errorCode: Int, errString: CharSequence?) {
                        answer.fail(BiometricSupport.failure(errorCode))
                    }
                },
            )
        }
        return answer.await()
    }

    private companion object {
        /** The user has this long to answer before the storage call gives up (as unavailable). */
        const val PROMPT_TIMEOUT_MS = 120_000L
    }
}
