package dev.keyfob

import kotlinx.coroutines.flow.first
import kotlinx.coroutines.withTimeout
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.fail
import java.io.BufferedReader
import java.io.File
import java.io.InputStreamReader
import java.net.HttpURLConnection
import java.net.URL
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.TimeUnit

/**
 * The testkit provider (`keyfob-testkit`) with servers A (crm) and B (orders), started once for
 * the whole test run as a child process that exits when our end of its stdin closes.
 */
object Testkit {
    private val process: Process by lazy { start() }
    private lateinit var ready: JSONObject

    val issuer: String get() = ready().getString("issuer")
    val crm: String get() = ready().getString("crm")
    val orders: String get() = ready().getString("orders")
    val clientId: String get() = ready().getString("client_id")

    private fun ready(): JSONObject {
        process
        return ready
    }

    private fun start(): Process {
        val binary = System.getProperty("keyfob.testkit")
            ?: error("set -Dkeyfob.testkit to the keyfob-testkit binary (scripts/test.d/30-kotlin.sh does)")
        check(File(binary).canExecute()) { "$binary is not an executable keyfob-testkit" }
        val p = ProcessBuilder(binary, "--exit-on-stdin-eof")
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start()
        Runtime.getRuntime().addShutdownHook(Thread {
            p.outputStream.close()
            if (!p.waitFor(5, TimeUnit.SECONDS)) p.destroy()
        })
        val line = BufferedReader(InputStreamReader(p.inputStream)).readLine()
            ?: error("keyfob-testkit exited before printing its URLs")
        ready = JSONObject(line)
        return p
    }

    /** The request counters. */
    fun stats(): JSONObject = JSONObject(String(request("GET", "/__testkit/stats").second))

    fun count(name: String): Int = stats().getInt(name)

    /** Replaces the active faults with [faultsJson] (a `Faults` object). */
    fun faults(faultsJson: String) {
        val (status, _) = request("POST", "/__testkit/faults", faultsJson)
        assertEquals(200, status, "setting testkit faults")
    }

    fun clearFaults() {
        request("DELETE", "/__testkit/faults")
    }

    /** What the testkit demands (a `Policy` object, e.g. `{"dpop_nonce": true}`); `{}`: nothing. */
    fun policy(policyJson: String) {
        val (status, _) = request("POST", "/__testkit/policy", policyJson)
        assertEquals(200, status, "setting the testkit policy")
    }

    /** New DPoP nonces at the provider and servers A and B. */
    fun rotateDpopNonces() {
        request("POST", "/__testkit/rotate-dpop-nonces")
    }

    private fun request(method: String, path: String, body: String? = null): Pair<Int, ByteArray> {
        val c = URL(issuer + path).openConnection() as HttpURLConnection
        c.requestMethod = method
        if (body != null) {
            c.doOutput = true
            c.setRequestProperty("content-type", "application/json")
            c.outputStream.use { it.write(body.toByteArray()) }
        }
        val status = c.responseCode
        val bytes = (if (status >= 400) c.errorStream else c.inputStream)?.use { it.readBytes() } ?: ByteArray(0)
        return status to bytes
    }

    /**
     * What the browser does: GETs the authorization URL (the testkit signs the user in at once) and
     * returns the redirect's `Location`, the deep link the app receives.
     */
    fun authorize(authorizationUrl: String): String {
        val c = URL(authorizationUrl).openConnection() as HttpURLConnection
        c.instanceFollowRedirects = false
        val status = c.responseCode
        check(status in 300..399) { "the authorization endpoint answered $status, not a redirect" }
        return c.getHeaderField("Location") ?: error("no Location in the authorization redirect")
    }

    /** A GET to server A or B with the access token; returns the status and body. */
    fun callApi(url: String, accessToken: String): Pair<Int, String> {
        val c = URL(url).openConnection() as HttpURLConnection
        c.setRequestProperty("Authorization", "Bearer $accessToken")
        val status = c.responseCode
        val body = (if (status >= 400) c.errorStream else c.inputStream)?.use { String(it.readBytes()) } ?: ""
        return status to body
    }
}

/** The configuration the tests use: the testkit's issuer and client, `myapp://callback`. */
fun testConfig(
    refreshMarginSecs: Int = 30,
    httpTimeoutSecs: Int = 10,
    issuer: String = Testkit.issuer,
    redirectUri: String = "myapp://callback",
): KeyfobConfig = KeyfobConfig(
    issuer = issuer,
    clientId = Testkit.clientId,
    redirectUri = redirectUri,
    scopes = listOf("email", "profile", "offline_access"),
    httpTimeoutSecs = httpTimeoutSecs,
    refreshMarginSecs = refreshMarginSecs,
)

/** A [SecureStorage] in Kotlin: a map, as an app might implement one (with optional failures). */
class MapStorage : SecureStorage {
    val entries = ConcurrentHashMap<String, ByteArray>()

    /** When set, every call fails with this. */
    @Volatile
    var failure: StorageException? = null

    /**
     * When set, writes fail with this — after [writesBeforeFailure] more have succeeded (a
     * refresh writes its lease before it spends the refresh token: let that one through to fail
     * the result's).
     */
    @Volatile
    var writeFailure: StorageException? = null

    private val writesLeft = java.util.concurrent.atomic.AtomicInteger()

    /** How many writes succeed before [writeFailure] applies. */
    var writesBeforeFailure: Int
        get() = writesLeft.get()
        set(value) = writesLeft.set(value)

    private fun writing() {
        failure?.let { throw it }
        val failing = writeFailure ?: return
        if (writesLeft.getAndUpdate { maxOf(it - 1, 0) } == 0) throw failing
    }

    override fun load(key: String): ByteArray? {
        failure?.let { throw it }
        return entries[key]?.copyOf()
    }

    override fun save(key: String, value: ByteArray) {
        writing()
        entries[key] = value.copyOf()
    }

    override fun delete(key: String) {
        writing()
        entries.remove(key)
    }
}

/** The state once the stored session was read (construction reads it in the background). */
suspend fun Keyfob.restored(): SessionState = withTimeout(10_000) { state.first { it != SessionState.RESTORING } }

/**
 * Begins a login, lets the testkit's browser step run, and completes it. With a `loginHint` in
 * [options], the testkit signs in the user of that name.
 */
suspend fun Keyfob.signIn(options: LoginOptions? = null): Claims =
    handleRedirect(Testkit.authorize(beginLogin(options)))

/** Runs [block] and returns the [T] it throws; fails if it throws nothing or something else. */
suspend inline fun <reified T : Throwable> expectFailure(crossinline block: suspend () -> Unit): T {
    try {
        withTimeout(30_000) { block() }
    } catch (e: Throwable) {
        if (e is T) return e
        throw AssertionError("expected ${T::class.simpleName}, got $e", e)
    }
    fail<Unit>("expected ${T::class.simpleName}, but nothing was thrown")
    throw IllegalStateException()
}

/** Replaces one query parameter of a URL (to forge a callback). */
fun String.withQueryParam(name: String, value: String): String {
    val (base, query) = split('?', limit = 2).let { it[0] to it.getOrElse(1) { "" } }
    val params = query.split('&').filter { it.isNotEmpty() && !it.startsWith("$name=") } + "$name=$value"
    return base + "?" + params.joinToString("&")
}
