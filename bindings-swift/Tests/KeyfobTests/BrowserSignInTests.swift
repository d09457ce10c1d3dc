import Foundation
@testable import Keyfob
import Testing

/// A browser sheet for the tests: what it was asked to show, and what it does with it.
@MainActor
final class FakeBrowser: BrowserLauncher {
    /// What the next sheet does.
    enum Behaviour {
        /// Loads the page and follows the provider's redirect to the callback (the testkit signs in).
        case redirect(Testkit)
        /// Ends as if the user closed it.
        case close
        /// Stays open until cancelled.
        case stayOpen
        /// Does not start.
        case refuseToStart
    }

    final class Sheet: BrowserPresentation {
        let end: @MainActor @Sendable (BrowserOutcome) -> Void
        private(set) var cancelled = false
        private var ended = false

        init(end: @escaping @MainActor @Sendable (BrowserOutcome) -> Void) {
            self.end = end
        }

        func cancel() {
            cancelled = true
            finish(.cancelled)
        }

        func finish(_ outcome: BrowserOutcome) {
            guard !ended else { return }
            ended = true
            end(outcome)
        }
    }

    var supportsHTTPSCallbacks = true
    var behaviour: Behaviour
    private(set) var shown: [(url: URL, callback: BrowserCallback, ephemeral: Bool)] = []
    private(set) var sheets: [Sheet] = []

    init(_ behaviour: Behaviour) {
        self.behaviour = behaviour
    }

    func present(
        _ url: URL, callback: BrowserCallback, ephemeral: Bool,
        completion: @escaping @MainActor @Sendable (BrowserOutcome) -> Void
    ) -> (any BrowserPresentation)? {
        if case .refuseToStart = behaviour { return nil }
        shown.append((url, callback, ephemeral))
        let sheet = Sheet(end: completion)
        sheets.append(sheet)
        switch behaviour {
        case .redirect(let kit):
            Task { @MainActor in
                do {
                    sheet.finish(.callback(try await kit.browse(url)))
                } catch {
                    sheet.finish(.failed(reason: "\(error)"))
                }
            }
        case .close:
            Task { @MainActor in sheet.finish(.cancelled) }
        case .stayOpen, .refuseToStart:
            break
        }
        return sheet
    }
}

/// Which callback the browser sheet waits for: decided from the redirect URI before anything starts.
@Suite struct BrowserCallbackChoice {
    @Test func aCustomSchemeRedirectWaitsForItsScheme() throws {
        #expect(try BrowserCallback.for(URL(string: "myapp://callback")!, supportsHTTPS: false) == .customScheme("myapp"))
        #expect(try BrowserCallback.for(URL(string: "com.example.App:/cb")!, supportsHTTPS: true) == .customScheme("com.example.app"))
    }

    @Test func anHTTPSRedirectWaitsForItsHostAndPath() throws {
        #expect(try BrowserCallback.for(URL(string: "https://app.example.com/auth/callback")!, supportsHTTPS: true)
                == .https(host: "app.example.com", path: "/auth/callback"))
        #expect(try BrowserCallback.for(URL(string: "https://app.example.com")!, supportsHTTPS: true)
                == .https(host: "app.example.com", path: "/"))
    }

    @Test func anHTTPSRedirectBeforeIOS17_4IsAConfigError() {
        #expect {
            try BrowserCallback.for(URL(string: "https://app.example.com/cb")!, supportsHTTPS: false)
        } throws: { error in
            guard case .config = error as? KeyfobError else { return false }
            return true
        }
    }

    @Test func aPlainHTTPRedirectIsRefused() {
        #expect {
            try BrowserCallback.for(URL(string: "http://127.0.0.1:8080/cb")!, supportsHTTPS: true)
        } throws: { error in
            guard case .config = error as? KeyfobError else { return false }
            return true
        }
    }
}

extension TestkitSuite {
    /// The presenter's logic (`BrowserSignIn`) with a fake sheet, against the real library and the
    /// testkit: what closing, cancelling or overlapping sheets do to the login.
    @MainActor
    @Suite struct BrowserSignInFlow {
        let kit: Testkit

        init() async throws {
            kit = try Testkit.current()
            try await kit.reset()
        }

        @Test func signsInThroughTheSheet() async throws {
            let browser = FakeBrowser(.redirect(kit))
            let flow = BrowserSignIn(launcher: browser, ephemeral: true)
            let client = try kit.client()
            let claims = try await flow.signIn(with: client, options: .init(loginHint: "ada"))
            // The testkit signs in the user its login_hint names: the options reached it.
            #expect(claims.subject == "ada")
            #expect(client.state == .signedIn)
            #expect(browser.shown.count == 1)
            #expect(browser.shown.first?.callback == .customScheme("myapp"))
            #expect(browser.shown.first?.ephemeral == true)
            #expect(browser.shown.first?.url.query?.contains("login_hint=ada") == true)
        }

        @Test func closingTheSheetIsUserCancelledAndCancelsTheLogin() async throws {
            let flow = BrowserSignIn(launcher: FakeBrowser(.close), ephemeral: false)
            let client = try kit.client()
            let changes = client.changes()
            let error = await keyfobError { try await flow.signIn(with: client, options: .init()) }
            #expect(error == .userCancelled)
            #expect(client.state == .signedOut, "not left in loginPending")
            #expect(await first(2, of: changes).map(\.event) == [.loginStarted, .loginCancelled])
        }

        @Test func aSecondSignInWhileTheSheetIsOpenIsLoginInProgress() async throws {
            let browser = FakeBrowser(.stayOpen)
            let flow = BrowserSignIn(launcher: browser, ephemeral: false)
            let client = try kit.client()
            let first = Task { try await flow.signIn(with: client, options: .init()) }
            #expect(await eventually { browser.sheets.count == 1 })

            let second = await keyfobError { try await flow.signIn(with: client, options: .init()) }
            #expect(second == .loginInProgress)
            #expect(try await kit.stats().authorize == 0 && browser.sheets.count == 1, "the open login is untouched")

            // The first sheet still completes its login.
            let sheet = try #require(browser.sheets.first)
            sheet.finish(.callback(try await kit.browse(try #require(browser.shown.first?.url))))
            #expect(try await first.value.subject == "user-123")
        }

        @Test func cancellingTheTaskClosesTheSheetAndCancelsTheLogin() async throws {
            let browser = FakeBrowser(.stayOpen)
            let flow = BrowserSignIn(launcher: browser, ephemeral: false)
            let client = try kit.client()
            let signIn = Task { try await flow.signIn(with: client, options: .init()) }
            #expect(await eventually { browser.sheets.count == 1 })
            signIn.cancel()
            let error = await thrownError { try await signIn.value }
            #expect(error is CancellationError, "got \(String(describing: error))")
            #expect(browser.sheets.first?.cancelled == true)
            #expect(client.state == .signedOut)
        }

        @Test func aSheetThatDoesNotStartIsPresentationFailed() async throws {
            let flow = BrowserSignIn(launcher: FakeBrowser(.refuseToStart), ephemeral: false)
            let client = try kit.client()
            let error = await keyfobError { try await flow.signIn(with: client, options: .init()) }
            guard case .presentationFailed = error else {
                Issue.record("expected presentationFailed, got \(String(describing: error))")
                return
            }
            #expect(client.state == .signedOut, "the login was cancelled")
        }

        @Test func anHTTPSRedirectWithoutSupportStartsNothing() async throws {
            let browser = FakeBrowser(.redirect(kit))
            browser.supportsHTTPSCallbacks = false
            let flow = BrowserSignIn(launcher: browser, ephemeral: false)
            var configuration = kit.configuration()
            configuration.redirectURI = URL(string: "https://app.example.com/callback")!
            let client = try KeyfobClient(configuration: configuration, storage: .memory)
            let error = await keyfobError { try await flow.signIn(with: client, options: .init()) }
            guard case .config = error else {
                Issue.record("expected config, got \(String(describing: error))")
                return
            }
            #expect(browser.shown.isEmpty)
            #expect(try await kit.stats().discovery == 0, "no login was started")
        }

        @Test func signOutShowsTheEndSessionPageAndClosingItIsNoError() async throws {
            let browser = FakeBrowser(.redirect(kit))
            let flow = BrowserSignIn(launcher: browser, ephemeral: false)
            let client = try kit.client()
            try await flow.signIn(with: client, options: .init())
            browser.behaviour = .close
            let result = try await flow.signOut(with: client)
            #expect(result.refreshTokenRevoked)
            #expect(client.state == .signedOut)
            #expect(browser.shown.count == 2)
            #expect(browser.shown.last?.url == result.endSessionURL)
            #expect(browser.shown.last?.callback == .customScheme("myapp"))
        }
    }
}
