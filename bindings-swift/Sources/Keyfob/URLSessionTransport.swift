import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Keyfob's HTTP over `URLSession`: the platform's TLS, proxy, VPN and ATS settings apply, and
/// the Rust library carries no HTTP stack of its own. It is the default transport of
/// ``KeyfobClient``; the same code runs on Linux (FoundationNetworking) in the package's tests.
///
/// What it guarantees, as the core requires:
/// - an ephemeral session: no cookies sent or stored, no URL cache, no credential storage;
/// - redirects are returned to the core, never followed;
/// - each request finishes within its ``HTTPRequest/timeout`` (the whole exchange, not only idle
///   time);
/// - a body larger than ``HTTPRequest/maxResponseBytes`` fails with
///   ``HTTPTransportError/tooLarge(reason:)`` while it is being received, without being buffered
///   in full;
/// - cancelling the calling task cancels the request at once.
public final class URLSessionTransport: HTTPTransport, @unchecked Sendable {
    // @unchecked: `session` is immutable and thread-safe; `exchanges` guards its own state.
    private let session: URLSession
    private let exchanges: Exchanges

    /// A transport on a new session built from ``makeConfiguration()``.
    public convenience init() {
        self.init(configuration: URLSessionTransport.makeConfiguration())
    }

    /// A transport on a session with `configuration`. Start from ``makeConfiguration()`` and
    /// only add what you need (e.g. `connectionProxyDictionary`): cookies and caching must
    /// stay off.
    public init(configuration: URLSessionConfiguration) {
        exchanges = Exchanges()
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        queue.name = "dev.keyfob.URLSessionTransport"
        session = URLSession(configuration: configuration, delegate: exchanges, delegateQueue: queue)
    }

    deinit {
        // A session keeps its delegate alive until it is invalidated.
        session.invalidateAndCancel()
    }

    /// The session configuration Keyfob needs: ephemeral, without cookies, cache or stored
    /// credentials.
    public static func makeConfiguration() -> URLSessionConfiguration {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpCookieAcceptPolicy = .never
        configuration.httpShouldSetCookies = false
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        configuration.urlCredentialStorage = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalAndRemoteCacheData
        return configuration
    }

    /// Sends `request` (see the type's guarantees).
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let urlRequest = try Self.urlRequest(for: request)
        let task = session.dataTask(with: urlRequest)
        let exchanges = self.exchanges
        let limit = UInt64(max(request.maxResponseBytes, 0))
        let timeoutMs = Int((max(request.timeout, 0) * 1000).rounded(.up).clamped(to: 0...Double(Int32.max)))
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    exchanges.start(task, limit: limit, continuation: continuation)
                    task.resume()
                    // `timeoutInterval` only bounds idle time; this bounds the whole exchange.
                    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(timeoutMs)) { [weak exchanges] in
                        exchanges?.fail(task, with: .timeout(reason: "no complete response within \(timeoutMs) ms"))
                    }
                }
            } onCancel: {
                task.cancel()
            }
        } catch where Task.isCancelled {
            // The caller gave up on the answer: Swift's way of saying so.
            throw CancellationError()
        }
    }

    private static func urlRequest(for request: HTTPRequest) throws -> URLRequest {
        let url = request.url
        guard url.scheme == "https" || url.scheme == "http" else {
            throw HTTPTransportError.other(reason: "not an HTTP(S) URL")
        }
        guard request.method == "GET" || request.method == "POST" else {
            throw HTTPTransportError.other(reason: "unsupported method \(request.method)")
        }
        var urlRequest = URLRequest(
            url: url,
            cachePolicy: .reloadIgnoringLocalAndRemoteCacheData,
            timeoutInterval: max(request.timeout, 0.001)
        )
        urlRequest.httpMethod = request.method
        urlRequest.httpShouldHandleCookies = false
        for header in request.headers {
            urlRequest.addValue(header.value, forHTTPHeaderField: header.name)
        }
        if !request.body.isEmpty {
            urlRequest.httpBody = request.body
        }
        return urlRequest
    }
}

/// The session delegate: collects each task's response and body, enforces the size cap and the
/// deadline, refuses redirects, and resumes the waiting `send` exactly once.
private final class Exchanges: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: `pending` is only touched with `lock` held.
    private let lock = NSLock()
    private var pending: [Int: Exchange] = [:]

    private struct Exchange {
        let limit: UInt64
        let continuation: CheckedContinuation<HTTPResponse, any Error>
        var response: HTTPURLResponse?
        var body = Data()
        /// Set when the transport itself ended the task (too large, deadline, cancelled).
        var failure: HTTPTransportError?
    }

    func start(_ task: URLSessionTask, limit: UInt64, continuation: CheckedContinuation<HTTPResponse, any Error>) {
        lock.locked { pending[task.taskIdentifier] = Exchange(limit: limit, continuation: continuation) }
    }

    /// Ends `task` with `failure`, unless it already finished.
    func fail(_ task: URLSessionTask, with failure: HTTPTransportError) {
        let found = lock.locked { () -> Bool in
            guard pending[task.taskIdentifier] != nil, pending[task.taskIdentifier]?.failure == nil else { return false }
            pending[task.taskIdentifier]?.failure = failure
            return true
        }
        if found { task.cancel() }
    }

    func urlSession(
        _ session: URLSession,
        task: URLSessionTask,
        willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest,
        completionHandler: @escaping (URLRequest?) -> Void
    ) {
        // The core handles redirects (it never follows them): deliver the 3xx as the response.
        completionHandler(nil)
    }

    func urlSession(
        _ session: URLSession,
        dataTask: URLSessionDataTask,
        didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        let tooLarge = lock.locked { () -> UInt64? in
            let id = dataTask.taskIdentifier
            guard let limit = pending[id]?.limit else { return nil }
            pending[id]?.response = response as? HTTPURLResponse
            let announced = response.expectedContentLength
            return announced > 0 && UInt64(announced) > limit ? limit : nil
        }
        if let limit = tooLarge {
            fail(dataTask, with: .tooLarge(reason: "the response announces more than \(limit) bytes"))
            completionHandler(.cancel)
        } else {
            completionHandler(.allow)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let tooLarge = lock.locked { () -> UInt64? in
            let id = dataTask.taskIdentifier
            guard let limit = pending[id]?.limit, let received = pending[id]?.body.count,
                  pending[id]?.failure == nil else { return nil }
            if UInt64(received) + UInt64(data.count) > limit {
                return limit
            }
            // In place: no copy of the body received so far.
            pending[id]?.body.append(data)
            return nil
        }
        if let limit = tooLarge {
            fail(dataTask, with: .tooLarge(reason: "the response body exceeds \(limit) bytes"))
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let exchange = lock.locked({ pending.removeValue(forKey: task.taskIdentifier) }) else { return }
        exchange.continuation.resume(with: Self.outcome(exchange, error: error))
    }

    private static func outcome(_ exchange: Exchange, error: (any Error)?) -> Result<HTTPResponse, any Error> {
        if let failure = exchange.failure {
            return .failure(failure)
        }
        if let error {
            return .failure(transportFailure(error))
        }
        guard let response = exchange.response else {
            return .failure(HTTPTransportError.other(reason: "no HTTP response"))
        }
        let headers = response.allHeaderFields.compactMap { name, value -> HTTPHeader? in
            guard let name = name as? String else { return nil }
            return HTTPHeader(name: name, value: "\(value)")
        }
        return .success(HTTPResponse(status: response.statusCode, headers: headers, body: exchange.body))
    }

    private static func transportFailure(_ error: any Error) -> HTTPTransportError {
        guard let error = error as? URLError else {
            return .other(reason: "\(error)")
        }
        let reason = "URLError \(error.code.rawValue): \(error.localizedDescription)"
        switch error.code {
        case .timedOut:
            return .timeout(reason: reason)
        case .cannotFindHost, .cannotConnectToHost, .dnsLookupFailed, .networkConnectionLost,
             .notConnectedToInternet, .internationalRoamingOff, .dataNotAllowed,
             .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
             .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot,
             .clientCertificateRejected, .clientCertificateRequired, .appTransportSecurityRequiresSecureConnection:
            return .connect(reason: reason)
        default:
            return .other(reason: reason)
        }
    }
}

extension Double {
    /// This value within `range`.
    fileprivate func clamped(to range: ClosedRange<Double>) -> Double {
        Swift.min(Swift.max(self, range.lowerBound), range.upperBound)
    }
}
