package anonymous_test

import (
	"bytes"
	"errors"
	"net/http"
	"runtime"
	"runtime/pprof"
	"slices"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// The root package's tests run on the one test harness, anontest.Env. The
// reliability and security tests (faults, forged input, floods, load) build
// it with newWorld; this file holds their helpers.

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

// userState is the part of a Descope user that conversion and cull change.
type userState struct {
	LoginIDs      []string
	Tenants       []string
	Email, Phone  string
	VerifiedEmail bool
	VerifiedPhone bool
	Exists        bool
	Enabled       bool
}

func stateOf(emu *descopetest.Emulator, id string) userState {
	u, ok := emu.User(id)
	if !ok {
		return userState{}
	}
	s := userState{LoginIDs: slices.Clone(u.LoginIDs), Email: u.Email, Phone: u.Phone,
		VerifiedEmail: u.VerifiedEmail, VerifiedPhone: u.VerifiedPhone, Exists: true, Enabled: u.Status == "enabled"}
	for _, t := range u.UserTenants {
		s.Tenants = append(s.Tenants, t.TenantID)
	}
	slices.Sort(s.LoginIDs)
	slices.Sort(s.Tenants)
	return s
}

func (s userState) equal(o userState) bool {
	return slices.Equal(s.LoginIDs, o.LoginIDs) && slices.Equal(s.Tenants, o.Tenants) && s.Email == o.Email &&
		s.Phone == o.Phone && s.VerifiedEmail == o.VerifiedEmail && s.VerifiedPhone == o.VerifiedPhone &&
		s.Exists == o.Exists && s.Enabled == o.Enabled
}

// allUnavailable reports whether errs is non-empty and every error in it
// wraps anonymous.ErrUnavailable.
func allUnavailable(errs []error) bool {
	if len(errs) == 0 {
		return false
	}
	for _, err := range errs {
		if !errors.Is(err, anonymous.ErrUnavailable) {
			return false
		}
	}
	return true
}

// settledGoroutines waits until the goroutine count stops moving (at most a
// second) and returns it.
func settledGoroutines() int {
	prev := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == prev {
			return n
		}
		prev = n
	}
	return prev
}

// expectNoLeak waits up to 3 s for the goroutine count to come back to
// baseline, closing idle connections on the way (http keep-alive), and fails
// with the goroutine profile if it does not.
func expectNoLeak(t testing.TB, baseline int, closeIdle func()) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		closeIdle()
		n := runtime.NumGoroutine()
		if n <= baseline {
			return
		}
		if time.Now().After(deadline) {
			var buf bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
			t.Errorf("goroutines left behind: %d, baseline %d\n%s", n, baseline, buf.String())
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hasCookie reports whether cs sets a cookie called name.
func hasCookie(cs []*http.Cookie, name string) bool {
	return slices.ContainsFunc(cs, func(c *http.Cookie) bool { return c.Name == name })
}

// generatedOnly reports whether a user looks like an untouched anonymous
// user: generated login IDs only, no address.
func generatedOnly(u descope.UserResponse) bool {
	if len(u.LoginIDs) == 0 || u.Email != "" || u.Phone != "" {
		return false
	}
	for _, id := range u.LoginIDs {
		if !anonymous.IsGeneratedLoginID(id) {
			return false
		}
	}
	return true
}
