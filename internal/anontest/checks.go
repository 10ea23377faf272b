package anontest

import (
	"bytes"
	"errors"
	"net/http"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

// Checks the reliability and security tests share: the state of a Descope
// user, the errors a hook saw, goroutines left behind, cookies set, and
// what an untouched anonymous user looks like; and a full Descope outage
// (FaultAll) to check them under.

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

// FindCookie returns the cookie called name among cs, nil if none is.
func FindCookie(cs []*http.Cookie, name string) *http.Cookie {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// HasCookie reports whether cs sets a cookie called name.
func HasCookie(cs []*http.Cookie, name string) bool { return FindCookie(cs, name) != nil }

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

// OutagePaths returns every path the emulator serves (the dynamic ones with
// each suffix the SDK uses), for a test to fault them all: a full Descope
// outage.
func OutagePaths(emu *descopetest.Emulator) []string {
	paths := []string{"/v2/keys/" + emu.ProjectID,
		"/v1/auth/password/signup", "/v1/auth/password/signin", "/v1/auth/password/replace",
		"/v1/auth/refresh", "/v1/auth/logout", "/v1/auth/logoutall", "/v1/auth/me",
		"/v1/auth/otp/update/email", "/v1/auth/tenant/select",
		"/v1/mgmt/license", "/v1/mgmt/user/create", "/v1/mgmt/user/create/test", "/v1/mgmt/user/create/batch",
		"/v1/mgmt/user", "/v1/mgmt/user/update", "/v1/mgmt/user/patch", "/v1/mgmt/user/update/tenant/add",
		"/v1/mgmt/user/update/tenant/remove", "/v1/mgmt/user/update/status", "/v1/mgmt/user/update/loginid",
		"/v1/mgmt/user/update/email", "/v1/mgmt/user/update/phone", "/v2/mgmt/user/search",
		"/v1/mgmt/user/delete", "/v1/mgmt/user/delete/batch", "/v1/mgmt/user/test/delete/all", "/v1/mgmt/user/logout",
		"/v1/mgmt/auth/signin", "/v1/mgmt/auth/signup", "/v1/mgmt/auth/signup-in", "/v1/mgmt/auth/anonymous",
		"/v1/mgmt/jwt/update",
		"/v1/mgmt/tenant/create", "/v1/mgmt/tenant/update", "/v1/mgmt/tenant/delete", "/v1/mgmt/tenant",
		"/v1/mgmt/tenant/all", "/v1/mgmt/tenant/settings", "/v1/mgmt/tenant/search",
	}
	for _, m := range []string{"email", "sms", "whatsapp", "voice"} {
		paths = append(paths, "/v1/auth/otp/verify/"+m, "/v1/auth/otp/signup-in/"+m, "/v1/auth/otp/update/phone/"+m)
	}
	return paths
}

// FaultAll injects f on every path OutagePaths lists.
func FaultAll(emu *descopetest.Emulator, f descopetest.Fault) {
	for _, p := range OutagePaths(emu) {
		emu.InjectFault(p, f)
	}
}

// CachedControl is the Cache-Control App's /cached sets: cacheable by
// shared caches for an hour.
const CachedControl = "public, max-age=3600"

// CheckNotSharedCacheable fails the test unless the response header h forbids
// shared caches to store the response: Cache-Control says private or
// no-store and not public or s-maxage, and no CDN-Cache-Control or
// Surrogate-Control (which a CDN obeys instead) is left.
func CheckNotSharedCacheable(t testing.TB, what string, h http.Header) {
	t.Helper()
	cc := strings.ToLower(strings.Join(h.Values("Cache-Control"), ", "))
	var private bool
	for _, d := range strings.Split(cc, ",") {
		switch d = strings.TrimSpace(d); {
		case d == "private" || d == "no-store":
			private = true
		case d == "public" || strings.HasPrefix(d, "s-maxage"):
			t.Errorf("%s: Cache-Control %q lets shared caches store it", what, cc)
		}
	}
	if !private {
		t.Errorf("%s: Cache-Control %q says neither private nor no-store", what, cc)
	}
	for _, k := range []string{"CDN-Cache-Control", "Surrogate-Control"} {
		if v := h.Values(k); len(v) != 0 {
			t.Errorf("%s: %s %q left for CDNs", what, k, v)
		}
	}
}
