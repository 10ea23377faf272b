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
