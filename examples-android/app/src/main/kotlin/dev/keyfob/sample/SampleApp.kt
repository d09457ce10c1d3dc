package dev.keyfob.sample

import android.app.Application
import android.content.pm.ApplicationInfo
import dev.keyfob.Keyfob
import dev.keyfob.create

/**
 * Creates the app's one [Keyfob] at process start (no I/O: the stored session is read in the
 * background), so that a sign-in completes even when the redirect from the browser restarts a
 * process that Android had killed meanwhile. A configuration the core refuses — the release build
 * pointed at the testkit's plain-http issuer — becomes a message on screen, not a crash.
 */
class SampleApp : Application() {
    lateinit var start: SampleStart
        private set

    override fun onCreate() {
        super.onCreate()
        val debuggable = applicationInfo.flags and ApplicationInfo.FLAG_DEBUGGABLE != 0
        start = SampleStart.check(SampleConfig.keyfobConfig(debuggable), debuggable) { Keyfob.create(this, it) }
    }
}
