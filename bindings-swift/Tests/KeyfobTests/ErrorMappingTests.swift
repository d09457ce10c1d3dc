import Foundation
@testable import Keyfob
import KeyfobFFI
import Testing

/// Every case of the generated error enum becomes the `KeyfobError` case of the same kind, with
/// its details as Swift types; whatever else the bindings throw is `internal` or passes through.
@Suite struct ErrorMapping {
    @Test func everyGeneratedKindBecomesItsSwiftCase() {
        let cases: [(KeyfobFFI.KeyfobError, Keyfob.KeyfobError)] = [
            (.Config(reason: "r"), .config(reason: "r")),
            (.InsecureUrl(reason: "r"), .insecureURL(reason: "r")),
            (.Network(reason: "r"), .network(reason: "r")),
            (.Timeout(reason: "r"), .timeout(reason: "r")),
            (.HttpStatus(status: 503, retryAfterSeconds: 120, reason: "r"), .httpStatus(status: 503, retryAfter: 120, reason: "r")),
            (.HttpStatus(status: 500, retryAfterSeconds: nil, reason: "r"), .httpStatus(status: 500, retryAfter: nil, reason: "r")),
            (.Provider(error: "access_denied", reason: "r"), .provider(error: "access_denied", reason: "r")),
            (.InvalidResponse(reason: "r"), .invalidResponse(reason: "r")),
            (.Discovery(reason: "r"), .discovery(reason: "r")),
            (.InvalidCallback(reason: "r"), .invalidCallback(reason: "r")),
            (.StateMismatch(reason: "r"), .stateMismatch(reason: "r")),
            (.IssuerMismatch(reason: "r"), .issuerMismatch(reason: "r")),
            (.NoPendingLogin(reason: "r"), .noPendingLogin(reason: "r")),
            (.IdToken(check: .nonce, reason: "r"), .idToken(check: .nonce, reason: "r")),
            (.NotSignedIn(reason: "r"), .notSignedIn(reason: "r")),
            (.ReLoginRequired(reason: "r"), .reLoginRequired(reason: "r")),
            (.Storage(kind: .keyInvalidated, reason: "r"), .storage(kind: .keyInvalidated, reason: "r")),
            (.MinTtlExceedsLifetime(reason: "r"), .minTTLExceedsLifetime(reason: "r")),
            (.Internal(reason: "r"), .internal(reason: "r")),
        ]
        for (generated, expected) in cases {
            #expect(Keyfob.KeyfobError(generated) == expected)
            #expect(Keyfob.KeyfobError(generated).reason == "r")
        }
        // One row per generated case (and two for HttpStatus): none forgotten.
        #expect(Set(cases.map { "\($0.1)".prefix { $0 != ":" && $0 != "(" } }).count == 18)
    }

    @Test func everyIdTokenCheckAndStorageKindRoundTrips() {
        for check in Keyfob.IdTokenCheck.allCases {
            #expect(Keyfob.IdTokenCheck(check.generated) == check)
        }
        #expect(Keyfob.IdTokenCheck.allCases.count == 15)
        for kind in Keyfob.StorageErrorKind.allCases {
            #expect(Keyfob.StorageErrorKind(kind.generated) == kind)
        }
    }

    @Test func otherErrorsAreInternalAndCancellationPassesThrough() {
        struct Unexpected: Error {}
        guard case .internal = Keyfob.KeyfobError.from(Unexpected()) as? Keyfob.KeyfobError else {
            Issue.record("an unknown error must become internal")
            return
        }
        #expect(Keyfob.KeyfobError.from(CancellationError()) is CancellationError)
        #expect(Keyfob.KeyfobError.from(Keyfob.KeyfobError.userCancelled) as? Keyfob.KeyfobError == .userCancelled)
        #expect(Keyfob.KeyfobError.from(KeyfobFFI.KeyfobError.Network(reason: "x")) as? Keyfob.KeyfobError == .network(reason: "x"))
    }

    @Test func descriptionNamesTheKindAndDetails() {
        #expect(Keyfob.KeyfobError.provider(error: "access_denied", reason: "User said no").description == "provider(access_denied): User said no")
        #expect(Keyfob.KeyfobError.httpStatus(status: 503, retryAfter: nil, reason: "down").description == "httpStatus(503): down")
        #expect(Keyfob.KeyfobError.storage(kind: .unavailable, reason: "locked").errorDescription == "storage(unavailable): locked")
        #expect(Keyfob.KeyfobError.userCancelled.description.hasPrefix("userCancelled"))
    }
}
