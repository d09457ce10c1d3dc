#if canImport(AuthenticationServices) && (os(iOS) || os(macOS) || os(visionOS))
import AuthenticationServices
import Foundation
#if canImport(UIKit)
import UIKit
#elseif canImport(AppKit)
import AppKit
#endif

/// Runs Keyfob's login in `ASWebAuthenticationSession`, the system browser sheet that RFC 8252
/// recommends for native apps, and hands the callback to the core.
///
/// ```swift
/// let presenter = WebAuthenticationPresenter()
/// let claims = try await presenter.signIn(with: client)
/// ```
///
/// The redirect URI's scheme must be registered in the app's Info.plist (`CFBundleURLTypes`).
/// Closing the sheet throws `CancellationError`; everything else throws ``KeyfobError``.
@MainActor
public final class WebAuthenticationPresenter {
    /// Whether the sheet shares no cookies with Safari: the user signs in every time, and
    /// iOS does not ask "… wants to use … to sign in". Default `false` (single sign-on).
    public var prefersEphemeralWebBrowserSession: Bool
    /// The window the sheet is presented over; `nil` uses the key window.
    public var anchor: ASPresentationAnchor?

    private var session: ASWebAuthenticationSession?
    /// Held here: the session's `presentationContextProvider` is a weak reference.
    private var anchorProvider: AnchorProvider?

    public init(prefersEphemeralWebBrowserSession: Bool = false, anchor: ASPresentationAnchor? = nil) {
        self.prefersEphemeralWebBrowserSession = prefersEphemeralWebBrowserSession
        self.anchor = anchor
    }

    /// Signs in: ``KeyfobClient/beginLogin(_:)``, the browser sheet, then
    /// ``KeyfobClient/handleRedirect(_:)``. Returns the validated ID token claims.
    @discardableResult
    public func signIn(
        with client: KeyfobClient,
        options: KeyfobClient.LoginOptions = KeyfobClient.LoginOptions()
    ) async throws -> Claims {
        let url = try await client.beginLogin(options)
        let callback = try await present(url, callbackScheme: client.configuration.redirectURI.scheme)
        return try await client.handleRedirect(callback)
    }

    /// Signs out with ``KeyfobClient/logout()`` and, when the provider has an end-session page
    /// and the configuration names a post-logout redirect URI, shows that page so the provider's
    /// own session ends too. Closing that page is not an error: the app is signed out already.
    @discardableResult
    public func signOut(with client: KeyfobClient) async throws -> LogoutResult {
        let result = try await client.logout()
        if let endSession = result.endSessionUrl.flatMap(URL.init(string:)),
           let scheme = client.configuration.postLogoutRedirectURI?.scheme {
            _ = try? await present(endSession, callbackScheme: scheme)
        }
        return result
    }

    /// Presents `url` and returns the URL the browser was redirected to with `callbackScheme`.
    public func present(_ url: URL, callbackScheme: String?) async throws -> URL {
        let anchorProvider = AnchorProvider(anchor ?? Self.keyWindow())
        self.anchorProvider = anchorProvider
        defer {
            session = nil
            self.anchorProvider = nil
        }
        return try await withCheckedThrowingContinuation { continuation in
            let session = ASWebAuthenticationSession(url: url, callbackURLScheme: callbackScheme) { callback, error in
                if let callback {
                    continuation.resume(returning: callback)
                } else if let error = error as? ASWebAuthenticationSessionError, error.code == .canceledLogin {
                    continuation.resume(throwing: CancellationError())
                } else {
                    let reason = error.map { "\($0)" } ?? "no callback URL"
                    continuation.resume(throwing: KeyfobError.invalidCallback(reason: "the browser sheet failed: \(reason)"))
                }
            }
            session.presentationContextProvider = anchorProvider
            session.prefersEphemeralWebBrowserSession = prefersEphemeralWebBrowserSession
            self.session = session
            if !session.start() {
                self.session = nil
                continuation.resume(throwing: KeyfobError.internal(reason: "ASWebAuthenticationSession did not start"))
            }
        }
    }

    /// Closes the browser sheet, if one is open (the pending `signIn` throws `CancellationError`).
    public func cancel() {
        session?.cancel()
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

/// Answers the session's request for a window with the one chosen when the sheet was started
/// (captured on the main actor, so the answer needs no actor hop).
private final class AnchorProvider: NSObject, ASWebAuthenticationPresentationContextProviding, @unchecked Sendable {
    // @unchecked: the window is only handed back to AuthenticationServices, never touched here.
    private let anchor: ASPresentationAnchor

    init(_ anchor: ASPresentationAnchor) {
        self.anchor = anchor
    }

    func presentationAnchor(for session: ASWebAuthenticationSession) -> ASPresentationAnchor {
        anchor
    }
}
#endif
