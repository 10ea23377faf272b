package anonymous_test

import (
	"os"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// The root package's tests run on the one test harness, anontest.Env. The
// reliability and security tests (faults, forged input, floods, load) build
// it with newWorld, this file's preset, and share the checks in anontest's
// checks.go.

// TestMain runs the wall-clock-bound tests eight at a time (see
// anontest.DefaultParallel).
func TestMain(m *testing.M) {
	anontest.DefaultParallel(8)
	os.Exit(m.Run())
}

// worldSetup is the harness setup of newWorld: plain net/http, a 300 ms
// timeout, and the middleware on the Env's clock.
var worldSetup = anontest.Setup{Timeout: 300 * time.Millisecond, Clock: anonymous.WithClock}

// newWorld starts an emulator (seconds unit on) and a middleware with a 300 ms
// timeout on the Env's clock, its own rate limits off, and an error hook that
// records and lets the request go on; opts come last.
func newWorld(t testing.TB, emuOpts []descopetest.Option, opts ...anonymous.Option) *anontest.Env {
	t.Helper()
	return anontest.NewEnvWith(t, worldSetup, emuOpts, opts...)
}
