package dev.keyfob

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import java.io.ByteArrayOutputStream
import java.io.IOException
import java.io.InputStream
import java.net.ConnectException
import java.net.CookieHandler
import java.net.HttpURLConnection
import java.net.MalformedURLException
import java.net.NoRouteToHostException
import java.net.SocketTimeoutException
import java.net.URL
import java.net.UnknownHostException
import java.util.concurrent.atomic.AtomicBoolean
import javax.net.ssl.SSLException

/**
 * The core's HTTP over the platform's `HttpURLConnection` (on Android: the system's HTTP stack,
 * with its proxy, VPN, network security config and certificate settings). No extra dependency.
 *
 * Keeps the transport contract:
 * - the whole exchange finishes within the request's `timeoutMs` (connect and read timeouts, and
 *   a watchdog that aborts the connection at the deadline), else [TransportException.Timeout];
 * - the body is read up to `maxResponseBytes` and no further ([TransportException.TooLarge]);
 * - redirects are returned, never followed; no HTTP cache;
 * - no cookies: it refuses to run when a process-wide `java.net.CookieHandler` is installed,
 *   because `HttpURLConnection` would then send and store cookies with no way to opt out;
 * - blocking I/O runs on [Dispatchers.IO]; cancelling the call aborts the connection.
 *
 * @param openConnection opens the connection for a URL (e.g. to pass a `Proxy`); must return a
 *   fresh, unconnected connection.
 */
public class HttpUrlConnectionTransport(
    private val openConnection: (URL) -> HttpURLConnection = { url -> url.openConnection() as HttpURLConnection },
) : HttpTransport {

    override suspend fun send(request: HttpRequest): HttpResponse {
        if (CookieHandler.getDefault() != null) {
            throw TransportException.Other(
                "a process-wide java.net.CookieHandler is installed, and HttpURLConnection would send " +
                    "and store cookies through it; Keyfob uses no cookies. Remove it " +
                    "(CookieHandler.setDefault(null)) or pass Keyfob a transport without cookies",
            )
        }
        val url = try {
            URL(request.url)
        } catch (e: MalformedURLException) {
            throw TransportException.Other("not a valid URL")
        }
        val timeoutMs = request.timeoutMs.coerceIn(1L, Int.MAX_VALUE.toLong())
        val what = "${request.method} ${url.protocol}://${url.authority}${url.path}"
        return withContext(Dispatchers.IO) {
            val connection = try {
                openConnection(url)
            } catch (e: IOException) {
                throw TransportException.Connect("$what: ${e.javaClass.simpleName}")
            }
            val finished = AtomicBoolean(false)
            val timedOut = AtomicBoolean(false)
            // Blocking reads do not notice coroutine cancellation; disconnecting from another
            // thread makes them fail at once (at the deadline, or when the caller goes away).
            val watchdog = launch {
                try {
                    delay(timeoutMs)
                    timedOut.set(true)
                } finally {
                    if (!finished.get()) connection.disconnect()
                }
            }
            try {
                exchange(connection, request, timeoutMs.toInt(), what)
            } catch (e: TransportException) {
                connection.disconnect()
                ensureActive() // cancelled: the abort is not a transport failure
                throw if (timedOut.get()) timeout(what, timeoutMs) else e
            } catch (e: IOException) {
                connection.disconnect()
                ensureActive()
                throw if (timedOut.get()) timeout(what, timeoutMs) else failure(what, e)
            } catch (e: RuntimeException) {
                connection.disconnect()
                ensureActive()
                throw TransportException.Other("$what: ${e.javaClass.simpleName}")
            } finally {
                finished.set(true)
                watchdog.cancel()
            }
        }
    }

    private fun exchange(c: HttpURLConnection, request: HttpRequest, timeoutMs: Int, what: String): HttpResponse {
        c.instanceFollowRedirects = false
        c.useCaches = false
        c.connectTimeout = timeoutMs
        c.readTimeout = timeoutMs
        c.requestMethod = request.method
        for (header in request.headers) c.addRequestProperty(header.name, header.value)
        if (request.method != "GET" || request.body.isNotEmpty()) {
            c.doOutput = true
            c.setFixedLengthStreamingMode(request.body.size)
            c.outputStream.use { it.write(request.body) }
        }
        val status = c.responseCode
        if (status !in 100..999) throw TransportException.Other("$what: not an HTTP response")
        val limit = request.maxResponseBytes
        val declared = c.contentLengthLong
        if (declared >= 0 && declared > limit) throw tooLarge(what, limit)
        val headers = c.headerFields.flatMap { (name, values) ->
            // The status line comes with a null name.
            if (name == null) emptyList() else values.map { HttpHeader(name, it) }
        }
        val stream: InputStream? = if (status >= 400) c.errorStream else c.inputStream
        val body = stream?.use { readAtMost(it, limit, what) } ?: ByteArray(0)
        return HttpResponse(status, headers, body)
    }

    private fun readAtMost(input: InputStream, limit: Long, what: String): ByteArray {
        val out = ByteArrayOutputStream()
        val buffer = ByteArray(8192)
        var total = 0L
        while (true) {
            val n = input.read(buffer)
            if (n < 0) break
            total += n
            if (total > limit) throw tooLarge(what, limit)
            out.write(buffer, 0, n)
        }
        return out.toByteArray()
    }

    private fun tooLarge(what: String, limit: Long) =
        TransportException.TooLarge("$what: the response body exceeds $limit bytes")

    private fun timeout(what: String, timeoutMs: Long) =
        TransportException.Timeout("$what: no complete response within $timeoutMs ms")

    private fun failure(what: String, e: IOException): TransportException {
        val reason = "$what: ${e.javaClass.simpleName}${e.message?.let { ": $it" } ?: ""}"
        return when (e) {
            is SocketTimeoutException -> TransportException.Timeout(reason)
            is UnknownHostException, is ConnectException, is NoRouteToHostException, is SSLException ->
                TransportException.Connect(reason)
            else -> TransportException.Other(reason)
        }
    }
}
