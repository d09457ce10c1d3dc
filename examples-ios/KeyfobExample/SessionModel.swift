import Foundation
import Keyfob

/// The app's view of the session: the Keyfob client, its live state, and the API calls.
@MainActor
final class SessionModel: ObservableObject {
    /// One call to Server A or B and what it answered.
    struct APIResult: Identifiable {
        let id = UUID()
        let server: String
        let summary: String
        let at = Date()
    }

    /// `nil` until the stored session was read (off the main thread, by `states()`).
    @Published private(set) var state: SessionState?
    @Published private(set) var claims: Claims?
    @Published private(set) var results: [APIResult] = []
    @Published private(set) var busy = false
    @Published var message: String?

    private let client: KeyfobClient
    /// Ephemeral: no cookies shared with Safari, so iOS does not ask "“Keyfob” wants to use
    /// “127.0.0.1” to sign in" each time. Apps that want single sign-on with Safari leave it off.
    private let presenter = WebAuthenticationPresenter(prefersEphemeralWebBrowserSession: true)

    init() {
        do {
            client = try KeyfobClient(configuration: Testkit.configuration)
        } catch {
            fatalError("invalid Keyfob configuration: \(error)")
        }
        // The state, live: the stored one first (read off the main thread), then every change
        // (sign-in, refresh failure, sign-out) at once.
        let states = client.states()
        Task { [weak self] in
            for await state in states {
                self?.state = state
                self?.claims = self?.client.claims
            }
        }
    }

    func signIn() async {
        await run {
            try await self.presenter.signIn(with: self.client)
        }
    }

    func call(server name: String, url: URL) async {
        await run {
            // A valid access token for every call: Keyfob refreshes it when it is about to expire.
            let token = try await self.client.accessToken()
            var request = URLRequest(url: url)
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            let (data, response) = try await URLSession.shared.data(for: request)
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            let body = String(decoding: data.prefix(200), as: UTF8.self)
            self.results.insert(APIResult(server: name, summary: "\(status) \(body)"), at: 0)
        }
    }

    func refresh() async {
        await run { try await self.client.refresh() }
    }

    func signOut() async {
        await run {
            let result = try await self.presenter.signOut(with: self.client)
            self.results.removeAll()
            if let problem = result.revocationError {
                self.message = "Signed out; revoking the refresh token failed: \(problem)"
            }
        }
    }

    /// Runs one user action, showing what went wrong in terms the user can act on.
    private func run(_ action: @escaping () async throws -> Void) async {
        busy = true
        defer { busy = false }
        do {
            try await action()
        } catch is CancellationError {
            // The task was cancelled (the view went away).
        } catch KeyfobError.userCancelled, KeyfobError.loginInProgress {
            // The user closed the browser sheet, or tapped twice: nothing to report.
        } catch let error as KeyfobError {
            switch error {
            case _ where error.requiresSignIn:
                message = "Please sign in again."
            case _ where error.isRetryable:
                message = "The provider cannot be reached. Is `keyfob testkit --port 9400` running? (\(error.reason))"
            case .provider(let code, _):
                message = "The provider refused: \(code)"
            default:
                message = error.description
            }
        } catch {
            message = error.localizedDescription
        }
    }
}
