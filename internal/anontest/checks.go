package anontest

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
)

// Checks the reliability and security tests share: the state of a Descope
// user, the errors a hook saw, goroutines left behind, cookies set, and
// what an untouched anonymous user looks like.

// UserState is the part of a Descope user that conversion and cull change.
type UserState struct {
	LoginIDs      []string
	Tenants       []string
	Email, Phone  string
	VerifiedEmail bool
	VerifiedPhone bool
	Exists        bool
	Enabled       bool
}

// StateOf reads the state of the user id from emu; the zero UserState when
// there is no such user.
func StateOf(emu *descopetest.Emulator, id string) UserState {
	u, ok := emu.User(id)
	if !ok {
		return UserState{}
	}
	s := UserState{LoginIDs: slices.Clone(u.LoginIDs), Email: u.Email, Phone: u.Phone,
		VerifiedEmail: u.VerifiedEmail, VerifiedPhone: u.VerifiedPhone, Exists: true, Enabled: u.Status == "enabled"}
	for _, t := range u.UserTenants {
		s.Tenants = append(s.Tenants, t.TenantID)
	}
	slices.Sort(s.LoginIDs)
	slices.Sort(s.Tenants)
	return s
}

// Equal reports whether s and o are the same state.
func (s UserState) Equal(o UserState) bool {
	return slices.Equal(s.LoginIDs, o.LoginIDs) && slices.Equal(s.Tenants, o.Tenants) && s.Email == o.Email &&
		s.Phone == o.Phone && s.VerifiedEmail == o.VerifiedEmail && s.VerifiedPhone == o.VerifiedPhone &&
		s.Exists == o.Exists && s.Enabled == o.Enabled
}

// AllUnavailable reports whether errs is non-empty and every error in it
// wraps anonymous.ErrUnavailable.
func AllUnavailable(errs []error) bool {
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

// SettledGoroutines waits until the goroutine count stops moving (at most a
// second) and returns it.
func SettledGoroutines() int {
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

// ExpectNoLeak waits up to 3 s for the goroutine count to come back to
// baseline, closing idle connections on the way (http keep-alive), and fails
// with the goroutine profile if it does not.
func ExpectNoLeak(t testing.TB, baseline int, closeIdle func()) {
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

// HasCookie reports whether cs sets a cookie called name.
func HasCookie(cs []*http.Cookie, name string) bool {
	return slices.ContainsFunc(cs, func(c *http.Cookie) bool { return c.Name == name })
}

// GeneratedOnly reports whether a user looks like an untouched anonymous
// user: generated login IDs only, no address.
func GeneratedOnly(u descope.UserResponse) bool {
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
