package dev.keyfob.sample

import android.app.Application
import android.content.pm.ApplicationInfo
import dev.keyfob.Keyfob
import dev.keyfob.create

/**
 * Creates the app's one [Keyfob] at process start, so that a sign-in completes even when the
 * redirect from the browser restarts a process that Android had killed meanwhile.
 */
class SampleApp : Application() {
    lateinit var keyfob: Keyfob
        private set

    override fun onCreate() {
        super.onCreate()
        val debuggable = applicationInfo.flags and ApplicationInfo.FLAG_DEBUGGABLE != 0
        keyfob = Keyfob.create(this, SampleConfig.keyfobConfig(debuggable))
    }
}
