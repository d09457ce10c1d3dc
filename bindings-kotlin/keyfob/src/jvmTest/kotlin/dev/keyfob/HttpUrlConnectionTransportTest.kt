package dev.keyfob

import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpServer
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import java.net.CookieHandler
import java.net.CookieManager
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

/** The transport's contract, against a local HTTP server that misbehaves on demand. */
class HttpUrlConnectionTransportTest {
    private lateinit var server: HttpServer
    private val seen = ConcurrentLinkedQueue<HttpExchange>()
    private val seenHeaders = ConcurrentLinkedQueue<Map<String, List<String>>>()
    private val seenBodies = ConcurrentLinkedQueue<ByteArray>()
    private val release = CountDownLatch(1)

    /** Set when `/slow` answers: only after [release], or after a minute. */
    @Volatile
    private var slowAnswered = false
    private val transport = HttpUrlConnectionTransport()
    private val base get() = "http://127.0.0.1:${server.address.port}"

    @BeforeEach
    fun start() {
        server = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0)
        server.executor = Executors.newCachedThreadPool()
        server.createContext("/") { ex ->
            seen += ex
            seenHeaders += ex.requestHeaders.mapKeys { it.key.lowercase() }
            seenBodies += ex.requestBody.readBytes()
            when (ex.requestURI.path) {
                "/json" -> reply(ex, 200, """{"ok":true}""", "content-type" to "application/json", "x-multi" to "a", "x-multi" to "b")
                "/redirect" -> reply(ex, 302, "", "location" to "$base/json")
                "/cookie" -> reply(ex, 200, "{}", "set-cookie" to "SID=secret; Path=/")
                "/error" -> reply(ex, 400, """{"error":"invalid_grant"}""")
                "/big" -> reply(ex, 200, "x".repeat(20_000))
                "/big-chunked" -> {
                    ex.sendResponseHeaders(200, 0) // chunked: no Content-Length
                    ex.responseBody.use { out -> repeat(40) { out.write(ByteArray(1000) { 'x'.code.toByte() }) } }
                }
                "/slow" -> {
                    release.await(60, TimeUnit.SECONDS)
                    slowAnswered = true
                    runCatching { reply(ex, 200, "late") }
                }
                else -> reply(ex, 404, "")
            }
        }
        server.start()
    }

    @AfterEach
    fun stop() {
        release.countDown()
        server.stop(0)
        CookieHandler.setDefault(null)
    }

    private fun reply(ex: HttpExchange, status: Int, body: String, vararg headers: Pair<String, String>) {
        for ((name, value) in headers) ex.responseHeaders.add(name, value)
        val bytes = body.toByteArray()
        ex.sendResponseHeaders(status, if (bytes.isEmpty()) -1 else bytes.size.toLong())
        ex.responseBody.use { it.write(bytes) }
    }

    private fun request(
        path: String,
        method: String = "GET",
        body: ByteArray = ByteArray(0),
        timeoutMs: Long = 5_000,
        maxBytes: Long = 16_384,
        headers: List<HttpHeader> = emptyList(),
    ) = HttpRequest(method, base + path, headers, body, timeoutMs, maxBytes)

    @Test
    fun `returns status, every header value and the body`() = runBlocking<Unit> {
        val response = transport.send(request("/json"))
        assertEquals(200, response.status)
        assertEquals("""{"ok":true}""", String(response.body))
        val multi = response.headers.filter { it.name.equals("x-multi", ignoreCase = true) }.map { it.value }
        assertEquals(listOf("a", "b"), multi.sorted())
        assertTrue(response.headers.any { it.name.equals("content-type", true) && it.value == "application/json" })
    }

    @Test
    fun `posts the body with the request headers`() = runBlocking<Unit> {
        val form = "grant_type=refresh_token&refresh_token=r".toByteArray()
        val headers = listOf(HttpHeader("content-type", "application/x-www-form-urlencoded"), HttpHeader("accept", "application/json"))
        transport.send(request("/json", method = "POST", body = form, headers = headers))
        assertEquals("POST", seen.single().requestMethod)
        assertArrayEquals(form, seenBodies.single())
        assertEquals(listOf("application/x-www-form-urlencoded"), seenHeaders.single()["content-type"])
    }

    @Test
    fun `returns a redirect instead of following it`() = runBlocking<Unit> {
        val response = transport.send(request("/redirect"))
        assertEquals(302, response.status)
        assertEquals("$base/json", response.headers.first { it.name.equals("location", true) }.value)
        assertEquals(1, seen.size, "the redirect target was not requested")
    }

    @Test
    fun `reads the body of an error status`() = runBlocking<Unit> {
        val response = transport.send(request("/error"))
        assertEquals(400, response.status)
        assertEquals("""{"error":"invalid_grant"}""", String(response.body))
    }

    @Test
    fun `refuses a body over the cap, declared or streamed`() = runBlocking<Unit> {
        expectFailure<TransportException.TooLarge> { transport.send(request("/big", maxBytes = 16_384)) }
        expectFailure<TransportException.TooLarge> { transport.send(request("/big-chunked", maxBytes = 16_384)) }
        assertEquals(20_000, transport.send(request("/big", maxBytes = 20_000)).body.size)
    }

    @Test
    fun `gives up at the deadline`() = runBlocking<Unit> {
        val started = System.nanoTime()
        expectFailure<TransportException.Timeout> { transport.send(request("/slow", timeoutMs = 500)) }
        val ms = (System.nanoTime() - started) / 1_000_000
        // Not before the deadline; well before the answer (a minute away), with room for a
        // loaded machine.
        assertTrue(ms in 400 until 5_000, "gave up after $ms ms")
        assertFalse(slowAnswered)
    }

    @Test
    fun `a refused connection is a Connect failure`() = runBlocking<Unit> {
        val closedPort = ServerSocket(0).use { it.localPort }
        expectFailure<TransportException.Connect> {
            transport.send(HttpRequest("GET", "http://127.0.0.1:$closedPort/", emptyList(), ByteArray(0), 2_000L, 1_000L))
        }
        Unit
    }

    @Test
    fun `cancelling the call aborts the request at once`() = runBlocking<Unit> {
        val call = async(Dispatchers.Default) { transport.send(request("/slow", timeoutMs = 60_000)) }
        withTimeout(10_000) { while (seen.isEmpty()) delay(10) } // the request is at the server
        // Without the abort, the call would end only at its one-minute deadline.
        withTimeout(15_000) { call.cancelAndJoin() }
        assertTrue(call.isCancelled)
        assertFalse(slowAnswered, "the server had not answered")
    }

    @Test
    fun `sends and keeps no cookies`() = runBlocking<Unit> {
        transport.send(request("/cookie"))
        transport.send(request("/json"))
        assertNull(seenHeaders.last()["cookie"], "a cookie was sent back")
    }

    @Test
    fun `refuses to run under a process-wide cookie handler`() = runBlocking<Unit> {
        CookieHandler.setDefault(CookieManager())
        val e = expectFailure<TransportException.Other> { transport.send(request("/json")) }
        assertTrue("CookieHandler" in e.message.orEmpty(), e.message.orEmpty())
        assertTrue(seen.isEmpty(), "nothing was sent")
    }

    @Test
    fun `runs on an IO thread, not the caller's`() = runBlocking<Unit> {
        var callerThread: Thread? = null
        var ioThread: Thread? = null
        val probe = HttpUrlConnectionTransport { url ->
            ioThread = Thread.currentThread()
            url.openConnection() as java.net.HttpURLConnection
        }
        launch { callerThread = Thread.currentThread(); probe.send(request("/json")) }.join()
        assertTrue(ioThread != callerThread && ioThread!!.name.contains("DefaultDispatcher"), "ran on ${ioThread?.name}")
    }
}
