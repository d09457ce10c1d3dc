#if canImport(AuthenticationServices) && (os(iOS) || os(macOS))
import AuthenticationServices
import Foundation
#if canImport(UIKit)
import UIKit
#elseif canImport(AppKit)
import AppKit
#endif

/// Runs Keyfob's login in `ASWebAuthenticationSession`, the system browser sheet that RFC 8252
/// recommends for native apps, and hands the callback to the client.
///
/// ```swift
/// let presenter = WebAuthenticationPresenter()
/// do {
///     let claims = try await presenter.signIn(with: client)
/// } catch KeyfobError.userCancelled {
///     // The user closed the sheet: nothing to show.
/// }
/// ```
///
/// The redirect URI is either a custom scheme registered in the app's Info.plist
/// (`CFBundleURLTypes`), or on iOS 17.4 / macOS 14.4 and later an `https` universal link of a
/// domain in the app's Associated Domains entitlement (`webcredentials:` for the sheet).
///
/// Not available in app extensions (it looks for the app's key window); an extension that
/// shares the session through a Keychain access group uses ``KeyfobClient`` alone.
@MainActor
@available(iOSApplicationExtension, unavailable)
@available(macCatalystApplicationExtension, unavailable)
@available(macOSApplicationExtension, unavailable)
public final class WebAuthenticationPresenter {
    /// Whether the sheet shares no cookies with Safari: the user signs in every time, and the
    /// system does not ask "… wants to use … to sign in". Default `false` (single sign-on).
    public var prefersEphemeralWebBrowserSession: Bool {
        get { flow.ephemeral }
        set { flow.ephemeral = newValue }
    }
    /// The window the sheet is presented over; `nil` uses the key window.
    public var anchor: ASPresentationAnchor? {
        get { launcher.anchor }
        set { launcher.anchor = newValue }
    }

    private let launcher = WebAuthenticationLauncher()
    private let flow: BrowserSignIn

    /// A presenter; see ``prefersEphemeralWebBrowserSession`` and ``anchor``.
    public init(prefersEphemeralWebBrowserSession: Bool = false, anchor: ASPresentationAnchor? = nil) {
        flow = BrowserSignIn(launcher: launcher, ephemeral: prefersEphemeralWebBrowserSession)
        launcher.anchor = anchor
    }

    /// Signs in: ``KeyfobClient/beginLogin(_:)``, the browser sheet, then
    /// ``KeyfobClient/handleRedirect(_:)``. Returns the validated ID token claims.
    ///
    /// - Throws: ``KeyfobError/userCancelled`` when the user closes the sheet (the pending login
    ///   is cancelled), ``KeyfobError/loginInProgress`` while another sheet is open,
    ///   ``KeyfobError/config(reason:)`` for an https redirect before iOS 17.4, and every error
    ///   of the two client calls.
    @discardableResult
    public func signIn(
        with client: KeyfobClient,
        options: KeyfobClient.LoginOptions = KeyfobClient.LoginOptions()
    ) async throws -> Claims {
        try await flow.signIn(with: client, options: options)
    }

    /// Signs out with ``KeyfobClient/logout()`` and, when the provider has an end-session page
    /// and the configuration names a post-logout redirect URI, shows that page so the provider's
    /// own session ends too. Closing that page is not an error: the app is signed out already.
    @discardableResult
    public func signOut(with client: KeyfobClient) async throws -> LogoutResult {
        try await flow.signOut(with: client)
    }

    /// Closes the browser sheet, if one is open (the pending ``signIn(with:options:)`` throws
    /// ``KeyfobError/userCancelled``).
    public func cancel() {
        flow.cancel()
    }
}

/// `ASWebAuthenticationSession` as a ``BrowserLauncher``: the only code here that the Linux tests
/// cannot run.
@MainActor
@available(iOSApplicationExtension, unavailable)
@available(macCatalystApplicationExtension, unavailable)
@available(macOSApplicationExtension, unavailable)
final class WebAuthenticationLauncher: BrowserLauncher {
    var anchor: ASPresentationAnchor?

    var supportsHTTPSCallbacks: Bool {
        if #available(iOS 17.4, macOS 14.4, *) { return true }
        return false
    }

    func present(
        _ url: URL, callback: BrowserCallback, ephemeral: Bool,
        completion: @escaping @MainActor @Sendable (BrowserOutcome) -> Void
    ) -> (any BrowserPresentation)? {
        let handler: ASWebAuthenticationSession.CompletionHandler = { url, error in
            let outcome = Self.outcome(url, error)
            Task { @MainActor in completion(outcome) }
        }
        let session: ASWebAuthenticationSession
        switch callback {
        case .customScheme(let scheme):
            if #available(iOS 17.4, macOS 14.4, *) {
                session = ASWebAuthenticationSession(url: url, callback: .customScheme(scheme), completionHandler: handler)
            } else {
                session = ASWebAuthenticationSession(url: url, callbackURLScheme: scheme, completionHandler: handler)
            }
        case .https(let host, let path):
            guard #available(iOS 17.4, macOS 14.4, *) else { return nil }
            session = ASWebAuthenticationSession(url: url, callback: .https(host: host, path: path), completionHandler: handler)
        }
        let presentation = WebAuthenticationSheet(session: session, anchor: anchor ?? Self.keyWindow())
        session.presentationContextProvider = presentation
        session.prefersEphemeralWebBrowserSession = ephemeral
        return session.start() ? presentation : nil
    }

    /// What the session's completion handler says, as a ``BrowserOutcome``.
    nonisolated private static func outcome(_ url: URL?, _ error: (any Error)?) -> BrowserOutcome {
        if let url { return .callback(url) }
        if let error = error as? ASWebAuthenticationSessionError, error.code == .canceledLogin {
            return .cancelled
        }
        return .failed(reason: error.map { "\($0)" } ?? "no callback URL")
    }

    private static func keyWindow() -> ASPresentationAnchor {
        #if canImport(UIKit)
        let windows = UIApplication.shared.connectedScenes
            .compactMap { $0 as? UIWindowScene }
            .flatMap(\.windows)
        return windows.first(where: \.isKeyWindow) ?? windows.first ?? ASPresentationAnchor()
        #else
        return NSApplication.shared.keyWindow ?? ASPresentationAnchor()
        #endif
    }
}

/// One open sheet: keeps the session alive, cancels it, and answers its request for a window
/// (chosen on the main actor when the sheet was started).
@MainActor
private final class WebAuthenticationSheet: NSObject, BrowserPresentation, ASWebAuthenticationPresentationContextProviding {
    private let session: ASWebAuthenticationSession
    // nonisolated(unsafe): the window is only handed back to AuthenticationServices, which asks
    // for it on the main thread.
    nonisolated(unsafe) private let anchor: ASPresentationAnchor

    init(session: ASWebAuthenticationSession, anchor: ASPresentationAnchor) {
        self.session = session
        self.anchor = anchor
    }

    func cancel() {
        session.cancel()
    }

    nonisolated func presentationAnchor(for session: ASWebAuthenticationSession) -> ASPresentationAnchor {
        anchor
    }
}
#endif
