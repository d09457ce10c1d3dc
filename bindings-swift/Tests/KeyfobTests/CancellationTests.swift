import Foundation
import Keyfob
import Testing

extension TestkitSuite {
    /// A Swift task cancelled while it awaits Keyfob: calls that only read reach the Rust future
    /// (which is dropped with its requests); calls that may obtain tokens release the caller and
    /// complete, so that no rotated refresh token is lost.
    @Suite struct Cancellation {
        let kit: Testkit

        init() async throws {
            kit = try Testkit.current()
            try await kit.reset()
        }

        @Test func cancellingBeginLoginDropsTheRustCallAndItsRequest() async throws {
            try await kit.setFaults(#"{"endpoints": [{"path": "/.well-known/openid-configuration", "delay_ms": 5000}]}"#)
            let transport = RecordingTransport()
            let client = try kit.client(transport: transport)
            let login = Task { try await client.beginLogin() }
            #expect(await eventually { transport.paths.contains("/.well-known/openid-configuration") })
            login.cancel()

            let error = await thrownError { try await login.value }
            #expect(error is CancellationError, "got \(String(describing: error))")
            #expect(await eventually { transport.cancelled.contains("/.well-known/openid-configuration") },
                    "dropping the Rust future cancels the request in flight")
            #expect(client.state == .signedOut, "nothing pending")
        }

        @Test func aTaskCancelledBeforeTheCallSendsNothing() async throws {
            let transport = RecordingTransport()
            let client = try kit.client(transport: transport)
            let login = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await client.beginLogin()
            }
            let error = await thrownError { try await login.value }
            #expect(error is CancellationError, "got \(String(describing: error))")
            #expect(transport.paths.isEmpty)
        }

        @Test func cancellingUserInfoCancelsItsRequest() async throws {
            let transport = RecordingTransport()
            let client = try kit.client(transport: transport)
            try await kit.signIn(client)
            try await kit.setFaults(#"{"endpoints": [{"path": "/userinfo", "delay_ms": 5000}]}"#)
            let call = Task { try await client.userInfo() }
            #expect(await eventually { transport.paths.contains("/userinfo") })
            call.cancel()
            let error = await thrownError { try await call.value }
            #expect(error is CancellationError, "got \(String(describing: error))")
            #expect(await eventually { transport.cancelled.contains("/userinfo") })
            #expect(client.state == .signedIn)
        }

        @Test func aRefreshWhoseCallerIsCancelledCompletesAndKeepsTheRotatedToken() async throws {
            let transport = RecordingTransport()
            let client = try kit.client(transport: transport)
            // Signed in with a token that has expired at once: the next caller waits for a refresh.
            try await kit.setFaults(#"{"token_response": {"expires_in": 0}}"#)
            try await kit.signIn(client)
            try await kit.reset()
            try await kit.setFaults(#"{"endpoints": [{"path": "/token", "delay_ms": 700, "times": 1}]}"#)
            let tokenRequests = transport.paths.filter { $0 == "/token" }.count

            let caller = Task { try await client.accessToken() }
            #expect(await eventually { transport.paths.filter { $0 == "/token" }.count > tokenRequests })
            caller.cancel()
            let error = await thrownError { try await caller.value }
            #expect(error is CancellationError, "the caller is released at once; got \(String(describing: error))")

            #expect(await eventually { client.cachedAccessToken != nil }, "the refresh completed")
            #expect(try await kit.stats().refreshToken == 1)
            let token = try #require(client.cachedAccessToken)
            #expect(try await kit.callCRM(token: token).status == 200)
            try await client.refresh()
            #expect(try await kit.stats().refreshToken == 2, "the rotated refresh token was kept and works")
        }

        @Test func handleRedirectCompletesEvenWhenItsCallerIsCancelled() async throws {
            let transport = RecordingTransport()
            let client = try kit.client(transport: transport)
            let callback = try await kit.browse(try await client.beginLogin())
            try await kit.setFaults(#"{"endpoints": [{"path": "/token", "delay_ms": 700}]}"#)
            let caller = Task { try await client.handleRedirect(callback) }
            #expect(await eventually { transport.paths.contains("/token") })
            caller.cancel()
            let error = await thrownError { try await caller.value }
            #expect(error is CancellationError, "got \(String(describing: error))")
            #expect(await eventually { client.state == .signedIn })
            #expect(client.claims?.subject == "user-123")
        }
    }
}
