import Keyfob
import SwiftUI

struct ContentView: View {
    @EnvironmentObject private var session: SessionModel

    var body: some View {
        NavigationStack {
            List {
                Section("Session") {
                    LabeledContent("State", value: describe(session.state))
                        .accessibilityIdentifier("state")
                    if session.state == .signedIn {
                        Button("Refresh tokens now") { Task { await session.refresh() } }
                        Button("Sign out", role: .destructive) { Task { await session.signOut() } }
                    } else {
                        Button("Sign in") { Task { await session.signIn() } }
                    }
                }

                if let claims = session.claims {
                    Section("ID token claims") {
                        LabeledContent("Subject", value: claims.subject)
                        LabeledContent("Name", value: claims.name ?? "–")
                        LabeledContent("Email", value: claims.email ?? "–")
                        LabeledContent("Issuer", value: claims.issuer)
                        LabeledContent("Expires", value: claims.expirationDate.formatted(date: .omitted, time: .standard))
                    }

                    Section("APIs") {
                        Button("Call Server A (crm)") {
                            Task { await session.call(server: "A", url: Testkit.serverA) }
                        }
                        Button("Call Server B (orders)") {
                            Task { await session.call(server: "B", url: Testkit.serverB) }
                        }
                        ForEach(session.results) { result in
                            VStack(alignment: .leading) {
                                Text("Server \(result.server) · \(result.at.formatted(date: .omitted, time: .standard))")
                                    .font(.caption)
                                    .foregroundStyle(.secondary)
                                Text(result.summary)
                                    .accessibilityIdentifier("result")
                                    .font(.footnote.monospaced())
                                    .lineLimit(3)
                            }
                        }
                    }
                }
            }
            .disabled(session.busy)
            .overlay { if session.busy { ProgressView() } }
            .navigationTitle("Keyfob")
            .alert("Keyfob", isPresented: Binding(
                get: { session.message != nil },
                set: { if !$0 { session.message = nil } }
            )) {
                Button("OK", role: .cancel) {}
            } message: {
                Text(session.message ?? "")
            }
        }
    }

    private func describe(_ state: SessionState?) -> String {
        switch state {
        case nil: return "Reading…"
        case .signedOut: return "Signed out"
        case .loginPending: return "Signing in…"
        case .signedIn: return "Signed in"
        case .needsReLogin: return "Sign in again"
        case .storageUnavailable: return "Locked (try again after unlocking)"
        }
    }
}
