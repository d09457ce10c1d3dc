import Foundation
@testable import Keyfob
import Testing

/// The classification table shared with the Rust and Kotlin tests
/// (core/tests/data/error_classification.json): every error kind, built as the `KeyfobError`
/// an app catches, answers `isRetryable`, `requiresSignIn` and `retryAfter` as the table says.
@Suite struct ErrorClassification {
    struct Row: Decodable {
        let kind: String
        let status: Int?
        let retry_after: Int?
        let error: String?
        let check: String?
        let storage: String?
        let retryable: Bool
        let sign_in: Bool
    }

    struct Table: Decodable {
        let rows: [Row]
    }

    static func table() throws -> [Row] {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // KeyfobTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // bindings-swift
            .deletingLastPathComponent()  // the repository
            .appendingPathComponent("core/tests/data/error_classification.json")
        return try JSONDecoder().decode(Table.self, from: Data(contentsOf: url)).rows
    }

    static func error(_ row: Row) throws -> KeyfobError {
        let reason = "reason"
        switch row.kind {
        case "Config": return .config(reason: reason)
        case "InsecureUrl": return .insecureURL(reason: reason)
        case "Network": return .network(reason: reason)
        case "Timeout": return .timeout(reason: reason)
        case "HttpStatus":
            return .httpStatus(
                status: try #require(row.status), retryAfter: row.retry_after.map(TimeInterval.init),
                reason: reason)
        case "Provider": return .provider(error: try #require(row.error), reason: reason)
        case "InvalidResponse": return .invalidResponse(reason: reason)
        case "Discovery": return .discovery(reason: reason)
        case "InvalidCallback": return .invalidCallback(reason: reason)
        case "StateMismatch": return .stateMismatch(reason: reason)
        case "IssuerMismatch": return .issuerMismatch(reason: reason)
        case "NoPendingLogin": return .noPendingLogin(reason: reason)
        case "IdToken":
            #expect(row.check == "Expired", "add the IdTokenCheck \(row.check ?? "nil") here")
            return .idToken(check: .expired, reason: reason)
        case "NotSignedIn": return .notSignedIn(reason: reason)
        case "ReLoginRequired": return .reLoginRequired(reason: reason)
        case "Storage":
            let kinds: [String: StorageErrorKind] = [
                "Unavailable": .unavailable, "KeyInvalidated": .keyInvalidated,
                "Corrupt": .corrupt, "Failed": .failed, "Foreign": .foreign,
            ]
            return .storage(kind: try #require(kinds[row.storage ?? ""]), reason: reason)
        case "MinTtlExceedsLifetime": return .minTTLExceedsLifetime(reason: reason)
        case "Internal": return .internal(reason: reason)
        default:
            Issue.record("unknown kind \(row.kind)")
            return .internal(reason: reason)
        }
    }

    @Test func everyKindIsClassifiedAsTheTableSays() throws {
        let rows = try Self.table()
        // One row at least for each of KeyfobError's 18 cases.
        #expect(Set(rows.map(\.kind)).count == 18)
        for row in rows {
            let error = try Self.error(row)
            #expect(error.isRetryable == row.retryable, "\(row.kind) \(row.status ?? 0)")
            #expect(error.requiresSignIn == row.sign_in, "\(row.kind) \(row.storage ?? "")")
            #expect(error.retryAfter == row.retry_after.map(TimeInterval.init), "\(row.kind)")
        }
    }

    @Test func everyGeneratedErrorMapsToTheSameCaseAndBack() throws {
        for row in try Self.table() {
            let error = try Self.error(row)
            // What the app catches is what the core sent: the round trip through the generated
            // enum (how classification is asked) loses nothing.
            #expect(KeyfobError(try #require(error.generated)) == error)
        }
    }

    @Test func browserSheetErrorsAreNeitherRetryableNorASignInReason() {
        for error in [KeyfobError.userCancelled, .loginInProgress, .presentationFailed(reason: "no window")] {
            #expect(!error.isRetryable, "\(error)")
            #expect(!error.requiresSignIn, "\(error)")
            #expect(error.retryAfter == nil)
            #expect(error.generated == nil, "the core does not know \(error)")
        }
    }

    @Test func retryAfterThatCannotBeSecondsNeverTraps() {
        for wait in [TimeInterval.nan, .infinity, -5, 1e300] {
            let error = KeyfobError.httpStatus(status: 503, retryAfter: wait, reason: "x")
            #expect(error.isRetryable)
            _ = error.retryAfter
        }
    }
}
