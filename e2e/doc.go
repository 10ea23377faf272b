// Package e2e tests the example server (examples/server) in a real browser:
// it builds the server, runs it on the embedded Descope emulator, and drives
// Debian's headless Chromium through it with chromedp.
//
// TestBrowserFirstVisitMakesOneUser counts the users a fresh profile's first
// visit to the example's page creates at its embedded emulator (one), and
// TestBrowserStaticShellMakesOneUser does the same for a static page the
// middleware does not serve, whose style sheet, image and favicon reach the
// middleware before any cookie (one, its first API call's).
//
// TestBrowserConvertByCode, TestBrowserConvertByLink,
// TestBrowserConvertBySocial and TestBrowserConvertByPasskey convert a
// visitor with a note through the example's page by each method (the code
// and the link from the page's dev outbox, the link opened in the browser;
// social login through the emulator's provider page, filled in and
// submitted; a passkey made by Chromium's virtual authenticator), reload, sign out, and sign in again
// from a fresh browser context with the same method (outcome signed_in, the
// same user ID, the note; for passkeys, the fresh context's authenticator
// holds the same passkey, as a synced one would be).
// TestBrowserReturningByCode, …ByLink, …BySocial and …ByPasskey let a new
// visitor with a note convert with an account's address (or passkey name)
// on a server run three ways: signed in (the default), refused
// (-returning=false: the page says the address has an account) and merged
// (-merge: the anonymous user deleted). TestBrowserPasskeyName shows the
// library's message for a name that breaks its rule, and on the page at an
// IP address says to open localhost, starting no ceremony. TestBrowserLinkInAnotherBrowser opens
// a visitor's magic link in another browser context: nothing converts there,
// and the visitor's own browser converts with it afterwards. One browser per
// test; the example server is built once per test binary.
//
// TestWebJSSDK loads Descope's own @descope/web-js-sdk 1.53.0 (its browser
// build, from the conformance suite's node_modules, served locally) in a
// page on another origin than the emulator, and signs in by OTP with the
// code from the emulator's outbox, reloads, refreshes and logs out: every
// call a credentialed CORS call, as against Descope. It needs npm ci in
// conformance/ (make test runs it).
//
//	cd e2e && go test ./...
//
// Without /usr/bin/chromium (or the web-js-sdk package) the tests skip,
// unless the environment variable CI is set: then they fail. Set
// E2E_ARTIFACTS to a directory to keep the screenshots.
package e2e
