package dev.keyfob

import dev.keyfob.ffi.KeyfobHttpRequest
import dev.keyfob.ffi.KeyfobHttpResponse
import dev.keyfob.ffi.KeyfobHttpTransport
import dev.keyfob.ffi.TransportFailure

/**
 * HTTP for the core. [HttpUrlConnectionTransport] is the default; an app may pass its own (e.g. on
 * OkHttp) if it keeps the contract: finish within [HttpRequest.timeoutMs], read at most
 * [HttpRequest.maxResponseBytes] of body, follow no redirects (return them), send and store no
 * cookies, use no cache, and report failures as [TransportException]s. Anything else it throws is
 * a failure too ([TransportException.Other]), never a response.
 */
public interface HttpTransport {
    /** Performs [request] and returns the response, whatever its status. */
    @Throws(TransportException::class)
    public suspend fun send(request: HttpRequest): HttpResponse
}

/** An HTTP header. Its value may be a secret (`Authorization`, `DPoP`): `toString()` shows the name only. */
public data class HttpHeader(val name: String, val value: String) {
    override fun toString(): String = "HttpHeader($name)"
}

/**
 * A request for an [HttpTransport]. Its [body] and `authorization` header may hold secrets:
 * `toString()` shows neither; never log them.
 *
 * @property method `GET` or `POST`.
 * @property url absolute URL (HTTPS, or HTTP to a loopback or explicitly allowed host).
 * @property timeoutMs the whole exchange must finish within this many milliseconds.
 * @property maxResponseBytes stop reading and fail with [TransportException.TooLarge] beyond this.
 */
public class HttpRequest(
    public val method: String,
    public val url: String,
    public val headers: List<HttpHeader>,
    public val body: ByteArray,
    public val timeoutMs: Long,
    public val maxResponseBytes: Long,
) {
    override fun toString(): String = "HttpRequest($method $url, ${body.size} body bytes)"

    internal companion object {
        fun from(r: KeyfobHttpRequest): HttpRequest = HttpRequest(
            r.method, r.url, r.headers.map { HttpHeader(it.name, it.value) }, r.body,
            r.timeoutMs.toLongClamped(), r.maxResponseBytes.toLongClamped(),
        )

        private fun ULong.toLongClamped(): Long = if (this > Long.MAX_VALUE.toULong()) Long.MAX_VALUE else toLong()
    }
}

/** An [HttpTransport]'s response, whatever its status (redirects are returned, not followed). */
public class HttpResponse(
    /** The status code (100–999). */
    public val status: Int,
    /** Every header, a name once per value. */
    public val headers: List<HttpHeader>,
    /** The body, at most the request's `maxResponseBytes`. */
    public val body: ByteArray,
) {
    override fun toString(): String = "HttpResponse($status, ${body.size} body bytes)"

    internal fun toFfi(): KeyfobHttpResponse {
        if (status !in 100..999) throw TransportFailure.Other("the transport returned status $status")
        return KeyfobHttpResponse(status.toUShort(), headers.map { dev.keyfob.ffi.HttpHeader(it.name, it.value) }, body)
    }
}

/** How an [HttpTransport] failed to get a response. Messages must not contain secrets. */
public sealed class TransportException(message: String, cause: Throwable? = null) : Exception(message, cause) {
    /** The request did not finish within its timeout. */
    public class Timeout(message: String, cause: Throwable? = null) : TransportException(message, cause)

    /** No connection (DNS, refused, TLS). */
    public class Connect(message: String, cause: Throwable? = null) : TransportException(message, cause)

    /** The body exceeded `maxResponseBytes`. */
    public class TooLarge(message: String, cause: Throwable? = null) : TransportException(message, cause)

    /** Anything else. */
    public class Other(message: String, cause: Throwable? = null) : TransportException(message, cause)
}

/** Presents an app's [HttpTransport] to the core, with its failures as the generated [TransportFailure]. */
internal class TransportBridge(private val transport: HttpTransport) : KeyfobHttpTransport {
    override suspend fun send(request: KeyfobHttpRequest): KeyfobHttpResponse {
        val response = try {
            transport.send(HttpRequest.from(request))
        } catch (e: TransportException) {
            val reason = e.message ?: e.javaClass.simpleName
            throw when (e) {
                is TransportException.Timeout -> TransportFailure.Timeout(reason)
                is TransportException.Connect -> TransportFailure.Connect(reason)
                is TransportException.TooLarge -> TransportFailure.TooLarge(reason)
                is TransportException.Other -> TransportFailure.Other(reason)
            }
        } catch (e: kotlinx.coroutines.CancellationException) {
            throw e
        } catch (e: Exception) {
            // A transport that throws something else: a failure, never a response.
            throw TransportFailure.Other("the HTTP transport failed: ${e.javaClass.name}")
        }
        return response.toFfi()
    }
}
