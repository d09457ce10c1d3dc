import SwiftUI

@main
struct KeyfobExampleApp: App {
    @StateObject private var session = SessionModel()

    var body: some Scene {
        WindowGroup {
            ContentView()
                .environmentObject(session)
        }
    }
}
