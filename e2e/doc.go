// Package e2e tests the example server (examples/server) in a real browser:
// it builds the server, runs it on the embedded Descope emulator, and drives
// Debian's headless Chromium through it with chromedp.
//
//	cd e2e && go test ./...
//
// Without /usr/bin/chromium the test skips, unless the environment variable
// CI is set: then it fails. Set E2E_ARTIFACTS to a directory to keep the
// screenshots.
package e2e
