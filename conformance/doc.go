// Package conformance runs Descope's own JavaScript SDKs against the
// emulator: @descope/node-sdk 2.13.0, @descope/core-js-sdk 2.71.0 and
// @descope/web-js-sdk 1.53.0, pinned in package-lock.json, call the
// descope-emulator command as they call Descope, and the tests (Node's
// built-in test runner, in test/) check each answer against Descope's
// OpenAPI and what the SDKs read. A failure prints every request the test
// sent and the answer it got.
//
// TestConformance builds descope-emulator, starts it on a free 127.0.0.1
// port, runs node --test and stops it. It needs Node 20 or later and the
// SDKs installed from the lockfile:
//
//	cd conformance && npm ci && go test -count=1 -v .
//
// (make test runs npm ci when the lockfile is newer than node_modules.)
// Without node or node_modules the test skips, unless the environment
// variable CI is set: then it fails.
//
// Against an emulator already running:
//
//	DESCOPE_BASE_URL=http://127.0.0.1:4000 DESCOPE_PROJECT_ID=P… DESCOPE_MANAGEMENT_KEY=K… node --test test/*.test.mjs
package conformance
