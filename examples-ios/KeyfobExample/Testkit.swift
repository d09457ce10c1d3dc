import Foundation
import Keyfob

/// Where the sample signs in: the Keyfob testkit on the Mac, started with
/// `cargo run -p keyfob-cli -- testkit --port 9400`. The simulator shares the Mac's network, so
/// 127.0.0.1 is the Mac. For a real provider, change these four values (HTTPS only).
enum Testkit {
    static let configuration = KeyfobClient.Configuration(
        issuer: URL(string: "http://127.0.0.1:9400")!,
        clientID: "keyfob-demo",
        redirectURI: URL(string: "myapp://callback")!,
        scopes: ["email", "profile", "offline_access"],
        postLogoutRedirectURI: URL(string: "myapp://signed-out")!
    )

    /// Server A (crm) and Server B (orders): they accept the access token as a Bearer token.
    static let serverA = URL(string: "http://127.0.0.1:9401/api/customers")!
    static let serverB = URL(string: "http://127.0.0.1:9402/api/orders")!
}
