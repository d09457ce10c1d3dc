package dev.keyfob.sample

import dev.keyfob.Keyfob
import dev.keyfob.KeyfobConfig
import dev.keyfob.KeyfobException

/**
 * What the sample found at start: a client to use, or a configuration it cannot use, with a
 * message for the screen instead of a crash. Plain Kotlin, tested on the JVM
 * (app/src/test/kotlin).
 */
sealed class SampleStart {
    /** Ready to sign in. */
    class Ready(val keyfob: Keyfob) : SampleStart()

    /** The configuration was refused; [message] says why and what to do. */
    class Misconfigured(val message: String) : SampleStart()

    companion object {
        /**
         * Creates the client with [create], turning a refused configuration into [Misconfigured].
         * A release build pointed at the testkit's `http://10.0.2.2:9400` lands here: release
         * builds accept HTTPS issuers only.
         */
        fun check(config: KeyfobConfig, debuggable: Boolean, create: (KeyfobConfig) -> Keyfob): SampleStart = try {
            Ready(create(config))
        } catch (e: KeyfobException) {
            Misconfigured(describe(e, config, debuggable))
        }

        /** The message for a configuration the core refused. */
        fun describe(e: KeyfobException, config: KeyfobConfig, debuggable: Boolean): String = when {
            e is KeyfobException.InsecureUrl && !debuggable ->
                "This release build is set up for ${config.issuer}, which is not HTTPS. Release builds " +
                    "sign in with HTTPS issuers only: install the debug build to try the sample against the " +
                    "testkit, or set an HTTPS issuer in SampleConfig."
            e is KeyfobException.InsecureUrl ->
                "${config.issuer} is not HTTPS and its host is not in allowInsecureHttpHosts (SampleConfig)."
            e is KeyfobException.Config -> "The sign-in configuration is invalid: ${e.reason}"
            else -> "Keyfob could not start: ${e.javaClass.simpleName}: ${e.reason}"
        }
    }
}
