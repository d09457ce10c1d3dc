// The FFI figures of scripts/bench.sh for Kotlin (issue 6), run by scripts/bench-ffi-kotlin.sh:
// the median time of `Keyfob.cachedAccessToken()` (synchronous; the core's C accessor through JNA
// direct mapping, see CachedTokenAccess.kt) and `Keyfob.accessToken()` (suspend, through the
// generated bindings) on a client signed in at the testkit provider: the calls apps make.
//
// Not part of the Maven build (jvm/pom.xml compiles ../keyfob/src only): the script compiles it
// with the Kotlin compiler from the Maven cache against jvm/target/classes.
//
//   java -Djna.library.path=DIR -cp … FfiBenchKt TESTKIT_READY_JSON [CALLS_PER_ROUND] [ROUNDS]
//
// Prints KOTLIN_CACHED_ACCESS_TOKEN_NS=<median ns per call> and KOTLIN_ACCESS_TOKEN_NS=<…>.
import dev.keyfob.Keyfob
import dev.keyfob.KeyfobConfig
import kotlinx.coroutines.runBlocking
import java.net.HttpURLConnection
import java.net.URI

private fun jsonField(json: String, name: String): String =
    Regex("\"$name\"\\s*:\\s*\"([^\"]*)\"").find(json)?.groupValues?.get(1)
        ?: error("no \"$name\" in the testkit's ready line: $json")

/** The browser step: GET the authorization URL, return the redirect's Location. */
private fun authorize(url: String): String {
    val c = URI(url).toURL().openConnection() as HttpURLConnection
    c.instanceFollowRedirects = false
    val status = c.responseCode
    check(status in 300..399) { "the authorization endpoint answered $status, not a redirect" }
    return c.getHeaderField("Location") ?: error("no Location in the authorization redirect")
}

/** Median of [rounds] rounds of [calls] calls each, in ns per call (after one warm-up round). */
private inline fun medianNsPerCall(calls: Int, rounds: Int, sink: (Int) -> Unit, call: () -> Int): Double {
    val perCall = DoubleArray(rounds)
    for (r in -1 until rounds) {
        var acc = 0
        val start = System.nanoTime()
        repeat(calls) { acc += call() }
        val elapsed = System.nanoTime() - start
        sink(acc)
        if (r >= 0) perCall[r] = elapsed.toDouble() / calls
    }
    perCall.sort()
    return if (rounds % 2 == 1) perCall[rounds / 2] else (perCall[rounds / 2 - 1] + perCall[rounds / 2]) / 2
}

fun main(args: Array<String>) {
    val ready = args.getOrNull(0) ?: error("usage: FfiBenchKt TESTKIT_READY_JSON [CALLS_PER_ROUND] [ROUNDS]")
    val calls = args.getOrNull(1)?.toInt() ?: 200_000
    val rounds = args.getOrNull(2)?.toInt() ?: 7
    val config = KeyfobConfig(
        issuer = jsonField(ready, "issuer"),
        clientId = jsonField(ready, "client_id"),
        redirectUri = "myapp://callback",
        scopes = listOf("email", "profile", "offline_access"),
        httpTimeoutSecs = 10,
        refreshMarginSecs = 30,
    )
    var checksum = 0L
    Keyfob(config).use { keyfob ->
        runBlocking { keyfob.handleRedirect(authorize(keyfob.beginLogin())) }
        val token = keyfob.cachedAccessToken() ?: error("signed in, but no cached access token")
        check(runBlocking { keyfob.accessToken() } == token) { "accessToken() and cachedAccessToken() differ" }

        val cached = medianNsPerCall(calls, rounds, { checksum += it }) {
            keyfob.cachedAccessToken()!!.length
        }
        // The suspend call hops to the client's dispatcher and back: far fewer calls.
        val asyncCalls = maxOf(1, calls / 20)
        val async = runBlocking {
            medianNsPerCall(asyncCalls, rounds, { checksum += it }) { keyfob.accessToken().length }
        }
        check(keyfob.cachedAccessToken() == token) { "the token changed during the benchmark" }
        System.err.println(
            "kotlin: $rounds rounds of $calls cachedAccessToken() / $asyncCalls accessToken() calls " +
                "(token ${token.length} chars, checksum $checksum)",
        )
        println(String.format(java.util.Locale.ROOT, "KOTLIN_CACHED_ACCESS_TOKEN_NS=%.1f", cached))
        println(String.format(java.util.Locale.ROOT, "KOTLIN_ACCESS_TOKEN_NS=%.1f", async))
    }
}
