import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The session ``KeyfobClient/data(for:session:)`` sends the app's API calls through by default:
/// the configuration of ``URLSessionTransport/makeConfiguration()`` (no cookies, cache or stored
/// credentials), and a delegate that refuses every redirect, so that the access token and proof
/// of a request never follow a `3xx` to another URL: the `3xx` is the answer.
enum APISession {
    /// One for the process (a session keeps its delegate, and is meant to be long-lived).
    static let shared = URLSession(
        configuration: URLSessionTransport.makeConfiguration(),
        delegate: RefuseRedirects(),
        delegateQueue: nil
    )
}

/// Answers every redirect with "do not follow": the task completes with the `3xx` response.
/// (``URLSessionTransport``'s delegate does the same in its own method: sharing this class as
/// its superclass hangs it on Linux, where the task-delegate methods it adds are not found
/// through the superclass's conformance.)
private final class RefuseRedirects: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    // @unchecked: no state.
    func urlSession(
        _ session: URLSession,
        task: URLSessionTask,
        willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest,
        completionHandler: @escaping (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
