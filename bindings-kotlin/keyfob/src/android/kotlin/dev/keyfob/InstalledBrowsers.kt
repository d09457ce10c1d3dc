package dev.keyfob

import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import android.content.pm.Signature
import android.net.Uri
import android.os.Build

/**
 * The browsers installed on the device, as [BrowserChoice] needs them: which is the default, which
 * have Custom Tabs or Auth Tabs, and their signing certificates. Needs the library manifest's
 * `<queries>` (Android 11+ package visibility).
 */
internal object InstalledBrowsers {
    fun query(context: Context): List<InstalledBrowser> {
        val pm = context.packageManager
        val web = Intent(Intent.ACTION_VIEW, Uri.parse("https://example.com")).addCategory(Intent.CATEGORY_BROWSABLE)
        // "android" (the chooser) when the user picked no default.
        val default = pm.resolveActivity(web, PackageManager.MATCH_DEFAULT_ONLY)?.activityInfo?.packageName
        @Suppress("DEPRECATION") // the flags overloads are API 33+
        val browsers = pm.queryIntentActivities(web, PackageManager.MATCH_ALL).mapNotNull { it.activityInfo?.packageName }
        @Suppress("DEPRECATION")
        val services = pm.queryIntentServices(Intent(CustomTabs.ACTION_CUSTOM_TABS_SERVICE), PackageManager.GET_RESOLVED_FILTER)
        val customTabs = services.mapNotNull { it.serviceInfo?.packageName }.toSet()
        val authTab = services.filter { it.filter?.hasCategory(CustomTabs.CATEGORY_AUTH_TAB) == true }
            .mapNotNull { it.serviceInfo?.packageName }.toSet()
        return (browsers + customTabs).distinct().map { pkg ->
            InstalledBrowser(pkg, signatureHashes(pm, pkg), pkg == default, pkg in customTabs, pkg in authTab)
        }
    }

    private fun signatureHashes(pm: PackageManager, pkg: String): Set<String> = try {
        signatures(pm, pkg).map { BrowserChoice.signatureHash(it.toByteArray()) }.toSet()
    } catch (e: PackageManager.NameNotFoundException) {
        emptySet()
    }

    @Suppress("DEPRECATION") // GET_SIGNATURES below Android 9, where it is the only way
    private fun signatures(pm: PackageManager, pkg: String): List<Signature> {
        if (Build.VERSION.SDK_INT < 28) return pm.getPackageInfo(pkg, PackageManager.GET_SIGNATURES).signatures.orEmpty().toList()
        val info = pm.getPackageInfo(pkg, PackageManager.GET_SIGNING_CERTIFICATES).signingInfo ?: return emptyList()
        // With key rotation the history holds the original certificate too (what the known hashes name).
        return if (info.hasMultipleSigners()) info.apkContentsSigners.toList() else info.signingCertificateHistory.toList()
    }
}
