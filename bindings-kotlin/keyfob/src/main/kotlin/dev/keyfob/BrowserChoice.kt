package dev.keyfob

import java.security.MessageDigest

/**
 * A browser installed on the device, as the Android layer finds it (`InstalledBrowsers`).
 *
 * @property packageName its package.
 * @property signatureHashes the SHA-512 hashes (Base64 URL-safe) of its signing certificates
 *   ([BrowserChoice.signatureHash]): what proves that a package named `com.android.chrome` is
 *   Google's Chrome and not an app that took the name on a rooted or sideloaded device.
 * @property isDefault whether it is the user's default browser (handles `https` links by default).
 * @property customTabs whether it exports the Custom Tabs service.
 * @property authTab whether that service declares Auth Tabs ([CustomTabs.CATEGORY_AUTH_TAB]).
 */
public data class InstalledBrowser(
    val packageName: String,
    val signatureHashes: Set<String>,
    val isDefault: Boolean,
    val customTabs: Boolean,
    val authTab: Boolean,
)

/**
 * A browser an app allows for sign-in.
 *
 * @property packageName its package.
 * @property signatureHashes the accepted signing-certificate hashes ([BrowserChoice.signatureHash]);
 *   empty accepts any signature (the package name alone, which another app can also claim).
 */
public data class AllowedBrowser(val packageName: String, val signatureHashes: Set<String>) {
    /** Whether [browser] is this one. */
    public fun matches(browser: InstalledBrowser): Boolean =
        browser.packageName == packageName &&
            (signatureHashes.isEmpty() || browser.signatureHashes.any { it in signatureHashes })
}

/**
 * Browsers Keyfob trusts for sign-in when the user's default browser cannot do it, identified by
 * package and signing certificate. The hashes are those AppAuth for Android publishes for the
 * same browsers (`net.openid.appauth.browser.Browsers`).
 */
public object KnownBrowsers {
    /** Google Chrome. */
    public val CHROME: AllowedBrowser = AllowedBrowser(
        "com.android.chrome",
        setOf("7fmduHKTdHHrlMvldlEqAIlSfii1tl35bxj1OXN5Ve8c4lU6URVu4xtSHc3BVZxS6WWJnxMDhIfQN0N0K2NDJg=="),
    )

    /** Mozilla Firefox. */
    public val FIREFOX: AllowedBrowser = AllowedBrowser(
        "org.mozilla.firefox",
        setOf("2gCe6pR_AO_Q2Vu8Iep-4AsiKNnUHQxu0FaDHO_qa178GByKybdT_BuE8_dYk99G5Uvx_gdONXAOO2EaXidpVQ=="),
    )

    /** Samsung Internet, the default browser on Samsung devices. */
    public val SAMSUNG_INTERNET: AllowedBrowser = AllowedBrowser(
        "com.sec.android.app.sbrowser",
        setOf("ABi2fbt8vkzj7SJ8aD5jc4xJFTDFntdkMrYXL3itsvqY1QIw-dZozdop5rgKNxjbrQAd5nntAGpgh9w84O1Xgg=="),
    )

    /** All of them, in the order they are preferred as a fallback. */
    public val ALL: List<AllowedBrowser> = listOf(CHROME, FIREFOX, SAMSUNG_INTERNET)
}

/**
 * How `keyfob.login(activity)` opens the browser.
 *
 * @property allowList the only browsers to use, in order of preference (checked by signature);
 *   `null` (the default): the user's default browser, whatever it is — the user chose it and is
 *   signed in there — and when it cannot open a Custom Tab, one of [KnownBrowsers]. Any other app
 *   that exports the Custom Tabs service is never picked on its own say-so.
 * @property useAuthTab open an Auth Tab where the browser has them (Chrome 137+): the result
 *   comes straight back to the app instead of through the redirect activity; a Custom Tab
 *   otherwise.
 * @property toolbarColor the tab's toolbar colour (ARGB), if any.
 */
public data class BrowserOptions @JvmOverloads constructor(
    val allowList: List<AllowedBrowser>? = null,
    val useAuthTab: Boolean = true,
    val toolbarColor: Int? = null,
)

/** Which installed browser opens the sign-in page. */
public object BrowserChoice {
    /**
     * The browser for sign-in, or `null` when none may be used (then the login fails with
     * [KeyfobException.NoBrowser] before anything is stored).
     *
     * With an allow-list: the first allowed browser, in the list's order, that has Custom Tabs —
     * the default browser first if it is allowed and has them — else an allowed one without them.
     * Without: the default browser if it has Custom Tabs; else the first of [KnownBrowsers] that
     * is installed (with a matching signature) and has them; else the default browser's plain page;
     * else a known browser's plain page.
     */
    public fun choose(installed: List<InstalledBrowser>, options: BrowserOptions = BrowserOptions()): InstalledBrowser? {
        val allowList = options.allowList
        val default = installed.firstOrNull { it.isDefault }
        val ranked: List<InstalledBrowser> = if (allowList != null) {
            val allowed = allowList.flatMap { entry -> installed.filter(entry::matches) }.distinct()
            listOfNotNull(default?.takeIf { it in allowed }) + allowed
        } else {
            val known = KnownBrowsers.ALL.flatMap { entry -> installed.filter(entry::matches) }
            listOfNotNull(default) + known
        }
        return ranked.firstOrNull { it.customTabs } ?: ranked.firstOrNull()
    }

    /** The hash [InstalledBrowser.signatureHashes] holds for a signing certificate (its DER bytes). */
    public fun signatureHash(certificate: ByteArray): String =
        base64Url(MessageDigest.getInstance("SHA-512").digest(certificate))

    /** Base64 with the URL-safe alphabet and padding (`java.util.Base64` needs Android 8; minSdk is 24). */
    internal fun base64Url(bytes: ByteArray): String = buildString {
        for (i in bytes.indices step 3) {
            val n = (bytes[i].toInt() and 0xff shl 16) or
                ((bytes.getOrNull(i + 1)?.toInt() ?: 0) and 0xff shl 8) or
                ((bytes.getOrNull(i + 2)?.toInt() ?: 0) and 0xff)
            val chars = 1 + minOf(3, bytes.size - i)
            for (k in 0 until 4) append(if (k < chars) ALPHABET[n shr (18 - 6 * k) and 0x3f] else '=')
        }
    }

    private const val ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
}
