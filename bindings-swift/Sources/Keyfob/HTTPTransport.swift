import Foundation
import KeyfobFFI

/// The HTTP stack Keyfob sends its requests through. ``URLSessionTransport`` is the default;
/// implement it only to route Keyfob's traffic through your own networking layer, and then keep
/// its contract: follow no redirects (return them), send and store no cookies, use no cache,
/// finish within ``HTTPRequest/timeout``, and stop reading beyond
/// ``HTTPRequest/maxResponseBytes`` (throw ``HTTPTransportError/tooLarge(reason:)``).
public protocol HTTPTransport: Sendable {
    /// Sends `request` and returns the response, whatever its status. Throw
    /// ``HTTPTransportError`` to say how it failed; any other error counts as
    /// ``HTTPTransportError/other(reason:)``. Keyfob cancels the task when it no longer needs the
    /// answer.
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
}

/// A request from Keyfob. Its body and `Authorization` header may hold secrets: never log them.
public struct HTTPRequest: Sendable, Equatable, Hashable {
    /// `GET` or `POST`.
    public var method: String
    /// An absolute HTTPS URL (plain HTTP only to loopback hosts).
    public var url: URL
    /// The headers to send, in order.
    public var headers: [HTTPHeader]
    /// The body (empty for `GET`).
    public var body: Data
    /// The whole exchange must finish within this time.
    public var timeout: TimeInterval
    /// Fail with ``HTTPTransportError/tooLarge(reason:)`` beyond this many body bytes.
    public var maxResponseBytes: Int

    /// A request; the defaults suit tests and tools (10 s, 1 MiB).
    public init(
        method: String = "GET", url: URL, headers: [HTTPHeader] = [], body: Data = Data(),
        timeout: TimeInterval = 10, maxResponseBytes: Int = 1 << 20
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
    }
}

/// An ``HTTPTransport``'s answer, whatever its status (redirects are returned, not followed).
public struct HTTPResponse: Sendable, Equatable, Hashable {
    /// The status code.
    public var status: Int
    /// The response headers.
    public var headers: [HTTPHeader]
    /// The body.
    public var body: Data

    /// A response.
    public init(status: Int, headers: [HTTPHeader] = [], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The value of the first header named `name` (compared case-insensitively).
    public func value(forHeader name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// An HTTP header of an ``HTTPRequest`` or ``HTTPResponse``. Its value may be a secret
/// (`Authorization`, `DPoP`): its description, debug description and mirror show the name only.
public struct HTTPHeader: Sendable, Equatable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The header name.
    public var name: String
    /// The header value.
    public var value: String

    /// A header.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// `HTTPHeader(name)`, without the value.
    public var description: String { "HTTPHeader(\(name))" }

    /// The same as ``description``.
    public var debugDescription: String { description }

    /// The name only, for `dump` and debuggers.
    public var customMirror: Mirror { Mirror(self, children: ["name": name]) }
}

/// How an ``HTTPTransport`` failed to get a response.
public enum HTTPTransportError: Error, Sendable, Equatable, Hashable {
    /// The exchange did not finish within ``HTTPRequest/timeout``.
    case timeout(reason: String)
    /// No connection: DNS, refused, TLS.
    case connect(reason: String)
    /// The body exceeded ``HTTPRequest/maxResponseBytes``.
    case tooLarge(reason: String)
    /// Anything else.
    case other(reason: String)

    /// This failure as the core's.
    var generated: TransportFailure {
        switch self {
        case .timeout(let reason): return .Timeout(reason: reason)
        case .connect(let reason): return .Connect(reason: reason)
        case .tooLarge(let reason): return .TooLarge(reason: reason)
        case .other(let reason): return .Other(reason: reason)
        }
    }
}

/// Presents an app's (or the default) ``HTTPTransport`` to the core, converting the records
/// both ways and every error into the core's `TransportFailure`.
final class TransportBridge: KeyfobHttpTransport {
    private let transport: any HTTPTransport

    init(_ transport: any HTTPTransport) {
        self.transport = transport
    }

    func send(request: KeyfobHttpRequest) async throws -> KeyfobHttpResponse {
        do {
            let response = try await transport.send(try Self.request(request))
            guard let status = UInt16(exactly: response.status) else {
                throw HTTPTransportError.other(reason: "invalid HTTP status \(response.status)")
            }
            return KeyfobHttpResponse(
                status: status,
                headers: response.headers.map { HttpHeader(name: $0.name, value: $0.value) },
                body: response.body)
        } catch let error as HTTPTransportError {
            throw error.generated
        } catch {
            throw TransportFailure.Other(reason: "the HTTP transport failed: \(error)")
        }
    }

    /// The core's request as a Swift one.
    static func request(_ request: KeyfobHttpRequest) throws -> HTTPRequest {
        guard let url = URL(string: request.url) else {
            throw HTTPTransportError.other(reason: "not a URL")
        }
        return HTTPRequest(
            method: request.method,
            url: url,
            headers: request.headers.map { HTTPHeader(name: $0.name, value: $0.value) },
            body: request.body,
            timeout: TimeInterval(request.timeoutMs) / 1000,
            maxResponseBytes: Int(clamping: request.maxResponseBytes))
    }
}
