package dev.keyfob

import android.content.Context

/**
 * The usual Android client: the session in [AndroidKeystoreStorage], HTTP through
 * [HttpUrlConnectionTransport]. Create it once, in `Application.onCreate`, so that a login
 * completes even when the redirect restarts the app's process.
 */
public fun Keyfob.Companion.create(
    context: Context,
    config: KeyfobConfig,
    storage: SecureStorage = AndroidKeystoreStorage(
        context.applicationContext,
        directory = StoreNamespace.directory(config.issuer, config.clientId),
    ),
): Keyfob = Keyfob(config, storage)
