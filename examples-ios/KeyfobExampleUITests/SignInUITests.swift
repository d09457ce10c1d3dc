import XCTest

/// The sample end to end on a simulator, against the testkit on the Mac
/// (`cargo run -p keyfob-cli -- testkit --port 9400`; the ios workflow starts it): sign in through
/// ASWebAuthenticationSession (ephemeral, so no consent alert; the testkit signs its user in
/// without a form), call Server A with the access token, sign out.
final class SignInUITests: XCTestCase {
    func testSignInCallServerAAndSignOut() {
        continueAfterFailure = false
        let app = XCUIApplication()
        app.launch()

        let state = app.staticTexts["state"]
        // A previous run may have left a session in the simulator's Keychain: start signed out.
        if app.buttons["Sign out"].waitForExistence(timeout: 5) {
            app.buttons["Sign out"].tap()
        }
        XCTAssertTrue(app.buttons["Sign in"].waitForExistence(timeout: 10))
        app.buttons["Sign in"].tap()

        XCTAssertTrue(app.staticTexts["Signed in"].waitForExistence(timeout: 30), "state: \(state.label)")
        XCTAssertTrue(app.staticTexts["user-123"].exists)

        app.buttons["Call Server A (crm)"].tap()
        let result = app.staticTexts.matching(identifier: "result").firstMatch
        XCTAssertTrue(result.waitForExistence(timeout: 10))
        XCTAssertTrue(result.label.hasPrefix("200"), result.label)

        app.buttons["Sign out"].tap()
        XCTAssertTrue(app.buttons["Sign in"].waitForExistence(timeout: 30))
    }
}
