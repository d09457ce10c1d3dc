package dev.keyfob

import com.sun.jna.Native

/**
 * The core's C function behind [Keyfob.cachedAccessToken], `keyfob_cached_access_token`
 * (core/src/ffi/cached_token.rs), bound by JNA's direct mapping.
 *
 * The uniffi-generated `KeyfobClient.cachedAccessToken()` costs tens of microseconds per call on
 * the JVM: JNA allocates and reflectively marshals a `Structure` for every call status and
 * returned buffer, over three native calls. This function takes a handle, a `byte[]` and its size
 * and returns an `int`, which direct mapping passes without any of that: well under the 2 µs
 * budget.
 *
 * The handle is an id from `KeyfobClient.tokenHandle()`, not a pointer: after the client is freed
 * the function answers [CLOSED] and touches nothing. JNA copies the array to native memory for the
 * call and back, and the function writes at most `cap` bytes, so `cap` must be the array's size.
 */
internal object CachedTokenAccess {
    /** No cached token (signed out, expiring within the refresh margin, not yet saved). */
    const val NONE: Int = -1

    /** The handle names no live client. */
    const val CLOSED: Int = -2

    init {
        // The library the generated bindings load (their override property, else "keyfob"):
        // JNA opens it once for both.
        Native.register(
            CachedTokenAccess::class.java,
            System.getProperty("uniffi.component.keyfob.libraryOverride") ?: "keyfob",
        )
    }

    /**
     * Copies the token into `buf` when it fits in `cap` bytes; returns its length in bytes (also
     * when it does not fit: nothing is written then), [NONE], [CLOSED], or another negative value
     * on failure.
     */
    @Suppress("FunctionName")
    external fun keyfob_cached_access_token(handle: Long, buf: ByteArray, cap: Int): Int
}
