import Foundation

/// How the browser sheet recognises the redirect that ends it.
enum BrowserCallback: Sendable, Equatable, Hashable {
    /// A custom URL scheme registered by the app (`myapp`).
    case customScheme(String)
    /// A universal link of an associated domain (iOS 17.4 / macOS 14.4 and later).
    case https(host: String, path: String)

    /// The callback for `redirectURI`: its scheme, or for `https` its host and path, which need
    /// `supportsHTTPS` (the platform's `ASWebAuthenticationSession.Callback.https`). Throws
    /// ``KeyfobError/config(reason:)`` for a redirect the sheet cannot receive, before anything
    /// is started.
    static func `for`(_ redirectURI: URL, supportsHTTPS: Bool) throws -> BrowserCallback {
        guard let scheme = redirectURI.scheme?.lowercased(), !scheme.isEmpty else {
            throw KeyfobError.config(reason: "the redirect URI has no scheme")
        }
        switch scheme {
        case "https":
            guard supportsHTTPS else {
                throw KeyfobError.config(reason: "an https redirect URI (universal link) needs iOS 17.4 or macOS 14.4 for the browser sheet; use a custom scheme on earlier systems")
            }
            guard let host = redirectURI.host, !host.isEmpty else {
                throw KeyfobError.config(reason: "the https redirect URI has no host")
            }
            return .https(host: host, path: redirectURI.path.isEmpty ? "/" : redirectURI.path)
        case "http":
            throw KeyfobError.config(reason: "an http redirect URI cannot end the browser sheet; use a custom scheme or an https universal link")
        default:
            return .customScheme(scheme)
        }
    }
}

/// How one presentation of the browser sheet ended.
enum BrowserOutcome: Sendable, Equatable {
    /// The browser was redirected to the callback.
    case callback(URL)
    /// The user closed the sheet (or the app cancelled it).
    case cancelled
    /// The sheet could not be shown or failed.
    case failed(reason: String)
}

/// One open browser sheet.
@MainActor
protocol BrowserPresentation: AnyObject {
    /// Closes the sheet; its outcome is then `.cancelled`.
    func cancel()
}

/// Opens browser sheets: `ASWebAuthenticationSession` on Apple platforms, a fake in the tests.
@MainActor
protocol BrowserLauncher: AnyObject {
    /// Whether https callbacks (universal links) can end a sheet on this system.
    var supportsHTTPSCallbacks: Bool { get }
    /// Opens `url` and calls `completion` exactly once when the sheet ends; returns the open
    /// sheet, or `nil` when it could not be started (then `completion` is not called).
    func present(
        _ url: URL, callback: BrowserCallback, ephemeral: Bool,
        completion: @escaping @MainActor @Sendable (BrowserOutcome) -> Void
    ) -> (any BrowserPresentation)?
}

/// The decisions of a browser sign-in, independent of the platform's browser sheet: which
/// callback the sheet waits for, one sheet at a time, and what closing it means.
///
/// - The callback is chosen (and a redirect the sheet cannot receive refused) before the login
///   starts, so a configuration error leaves nothing pending.
/// - A second sign-in while a sheet is open throws ``KeyfobError/loginInProgress`` and leaves
///   the open one alone (starting a new login would invalidate its callback).
/// - Closing the sheet cancels the pending login (``KeyfobClient/cancelLogin()``) and throws
///   ``KeyfobError/userCancelled``; cancelling the calling task closes the sheet, cancels the
///   login and throws `CancellationError`.
@MainActor
final class BrowserSignIn {
    private let launcher: any BrowserLauncher
    /// Whether the sheet shares no cookies with Safari.
    var ephemeral: Bool
    /// The open sheet, if any.
    private(set) var presentation: (any BrowserPresentation)?
    /// Set from the first step of a sign-in until its end, so that overlapping calls are refused.
    private(set) var busy = false

    init(launcher: any BrowserLauncher, ephemeral: Bool) {
        self.launcher = launcher
        self.ephemeral = ephemeral
    }

    /// Signs in: the login URL, the sheet, then the callback.
    @discardableResult
    func signIn(with client: KeyfobClient, options: KeyfobClient.LoginOptions) async throws -> Claims {
        guard !busy else { throw KeyfobError.loginInProgress }
        busy = true
        defer { busy = false }
        let callback = try BrowserCallback.for(client.configuration.redirectURI, supportsHTTPS: launcher.supportsHTTPSCallbacks)
        let url = try await client.beginLogin(options)
        switch await present(url, callback: callback) {
        case .callback(let redirect):
            return try await client.handleRedirect(redirect)
        case .cancelled:
            try? await client.cancelLogin()
            if Task.isCancelled { throw CancellationError() }
            throw KeyfobError.userCancelled
        case .failed(let reason):
            try? await client.cancelLogin()
            throw KeyfobError.presentationFailed(reason: reason)
        }
    }

    /// Signs out and, when the provider has an end-session page and the configuration names a
    /// post-logout redirect URI the sheet can receive, shows that page so that the provider's
    /// own session ends too. Closing it is not an error: the app is signed out already.
    func signOut(with client: KeyfobClient) async throws -> LogoutResult {
        let result = try await client.logout()
        if let page = result.endSessionURL, !busy,
           let redirect = client.configuration.postLogoutRedirectURI,
           let callback = try? BrowserCallback.for(redirect, supportsHTTPS: launcher.supportsHTTPSCallbacks) {
            busy = true
            defer { busy = false }
            _ = await present(page, callback: callback)
        }
        return result
    }

    /// Closes the open sheet, if any.
    func cancel() {
        presentation?.cancel()
    }

    /// Shows `url` until the sheet ends; cancelling the calling task closes it.
    private func present(_ url: URL, callback: BrowserCallback) async -> BrowserOutcome {
        let ending = SheetEnding()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<BrowserOutcome, Never>) in
                guard !Task.isCancelled else {
                    continuation.resume(returning: .cancelled)
                    return
                }
                let started = launcher.present(url, callback: callback, ephemeral: ephemeral) { [weak self] outcome in
                    self?.presentation = nil
                    ending.presentation = nil
                    continuation.resume(returning: outcome)
                }
                guard let started else {
                    continuation.resume(returning: .failed(reason: "the browser sheet did not start"))
                    return
                }
                presentation = started
                ending.presentation = started
            }
        } onCancel: {
            Task { @MainActor in ending.presentation?.cancel() }
        }
    }
}

/// The sheet a cancellation handler closes (it runs outside the main actor, then hops to it).
@MainActor
private final class SheetEnding: Sendable {
    var presentation: (any BrowserPresentation)?
}
