import Foundation
import KeyfobFFI

/// One signed-in account: its validated ID token claims (`subject` identifies it) and whether
/// it is the active one.
public typealias Account = KeyfobFFI.KeyfobAccount

extension KeyfobClient {
    /// Every signed-in account, the active one marked. One account unless the configuration
    /// sets ``Configuration/multipleAccounts``. Reads storage the first time: call it off the
    /// main actor.
    public func accounts() -> [Account] {
        core.accounts()
    }

    /// Makes the account of user `subject` (the ID token's `sub`) the active one, in every
    /// process sharing the storage. Throws ``KeyfobError/notSignedIn(reason:)`` when no such
    /// account is signed in.
    public func switchAccount(to subject: String) throws {
        try translatingErrors { try core.switchAccount(subject: subject) }
    }

    /// A valid access token of `subject`'s account, active or not.
    public func accessToken(account subject: String) async throws -> String {
        let core = self.core
        return try await translatingErrors { try await core.accessTokenForAccount(subject: subject) }
    }

    /// Refreshes `subject`'s account now.
    public func refresh(account subject: String) async throws {
        let core = self.core
        try await translatingErrors { try await core.refreshAccount(subject: subject) }
    }

    /// Signs out of `subject`'s account only; the other accounts stay signed in.
    @discardableResult
    public func logout(account subject: String) async throws -> LogoutResult {
        let core = self.core
        return try await translatingErrors { try await core.logoutAccount(subject: subject) }
    }

    /// Reads the stored session again and returns the state: what an app extension or widget
    /// sharing the storage changed (a refresh, a sign-out, another account) is taken in, and
    /// ``states()`` and ``changes()`` report it. Call it when the app returns to the
    /// foreground; it reads storage, so not on the main actor.
    @discardableResult
    public func reload() throws -> SessionState {
        try translatingErrors { try core.reload() }
    }
}
