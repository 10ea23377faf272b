package anonymous_test

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// Regression tests for issue item 3: a refresh token Descope has answered is
// not live costs one call, then none while it is remembered; transient
// failures are not remembered.

// floodTimeout gives the calls of a flood of parallel requests time enough
// on a loaded machine.
var floodTimeout = anonymous.WithTimeout(5 * time.Second)

// withDSR is a request edit that sends dsr as the only cookie.
func withDSR(dsr string) func(*http.Request) { return cookieHeader("DSR=" + dsr) }

// revokedVisitor provisions a visitor on w, revokes its refresh token at
// Descope (not through the middleware: as a logout elsewhere does), and
// returns the visitor and the token, with the emulator's counts reset.
func revokedVisitor(t *testing.T, w *anontest.Env) (anontest.Me, string) {
	t.Helper()
	b, v := w.Visitor(t)
	dsr := w.Jar(b)["DSR"]
	if err := w.Emu.MustClient(t).Auth.LogoutWithToken(dsr, nil); err != nil {
		t.Fatalf("logout at Descope: %v", err)
	}
	w.Emu.ResetRequests()
	return v, dsr
}

// sendAll sends n requests to path, parallel at a time, each from a browser
// of its own, edited by edit, and returns the answers.
func sendAll(t *testing.T, ws []*anontest.Env, method, path string, n, parallel int, edit func(*http.Request)) []anontest.Me {
	t.Helper()
	out := make([]anontest.Me, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				w := ws[i%len(ws)]
				out[i] = w.Do(t, w.Browser(t), method, path, nil, edit)
			}
		})
	}
	wg.Wait()
	return out
}

// warmRotation makes one refresh on each of ws, so that each has seen
// whether Descope rotates refresh tokens.
func warmRotation(t *testing.T, ws ...*anontest.Env) {
	t.Helper()
	for _, w := range ws {
		b, v := w.Visitor(t)
		w.DropCookie(b, "DS")
		if p := w.Get(t, b, "/"); !p.Refreshed || p.UserID != v.UserID {
			t.Fatalf("warm-up refresh: %+v", p)
		}
	}
}

// 3a. 300 requests with only a revoked refresh token make one refresh call,
// with and without rotation, and every answer is the first one's: a new
// visitor without rotation; with rotation, where the rejection may be
// another replica's rotation, the visitor Degraded for refreshGrace, then a
// new visitor. Past the memory, Descope is asked again, once, and the
// answers are the first's again (with rotation, the grace is long over too).
func TestSecurityRevokedRefreshCostsOneCall(t *testing.T) {
	for _, tc := range []struct {
		name     string
		emu      []descopetest.Option
		rotation bool
	}{
		{"no rotation", nil, false},
		{"rotation", []descopetest.Option{descopetest.WithRefreshRotation()}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Sessions outlive the memory: the clock passes it below.
			w := newWorld(t, tc.emu, floodTimeout, anonymous.WithSessionTTL(time.Hour))
			warmRotation(t, w)
			v, dsr := revokedVisitor(t, w)
			asFirst := func(when string, p anontest.Me, graced bool) {
				t.Helper()
				if graced {
					if p.Status != http.StatusOK || p.UserID != v.UserID || !p.Degraded || len(p.SetCookie) != 0 {
						t.Fatalf("%s: %+v, want the visitor Degraded, no cookie", when, p)
					}
					return
				}
				if p.Status != http.StatusOK || !p.New || p.UserID == "" || p.UserID == v.UserID ||
					!anontest.HasCookie(p.SetCookie, "DS") || !anontest.HasCookie(p.SetCookie, "DSR") {
					t.Fatalf("%s: %+v, want a new visitor with cookies", when, p)
				}
			}
			for i, p := range sendAll(t, []*anontest.Env{w}, http.MethodGet, "/", 300, 20, withDSR(dsr)) {
				asFirst(fmt.Sprintf("answer %d", i), p, tc.rotation)
			}
			if n := w.Emu.Requests("/v1/auth/refresh"); n != 1 {
				t.Fatalf("300 requests with a revoked refresh token made %d refresh calls, want 1", n)
			}
			if tc.rotation {
				w.Clock.Advance(31 * time.Second)
				asFirst("past the grace", w.Do(t, w.Browser(t), http.MethodGet, "/", nil, withDSR(dsr)), false)
				if n := w.Emu.Requests("/v1/auth/refresh"); n != 1 {
					t.Fatalf("past the grace: %d refresh calls, want 1", n)
				}
			}
			w.Clock.Advance(anonymous.RejectedFor)
			for i, p := range sendAll(t, []*anontest.Env{w}, http.MethodGet, "/", 20, 5, withDSR(dsr)) {
				asFirst(fmt.Sprintf("past the memory, answer %d", i), p, tc.rotation)
			}
			if n := w.Emu.Requests("/v1/auth/refresh"); n != 2 {
				t.Fatalf("past the memory: %d refresh calls in all, want 2", n)
			}
		})
	}
}

// 3b. Replicas: without a shared store each remembers its own rejection (one
// call each); with one, one call serves every replica, and the rejection is
// kept in the store past failureMemory and in each replica that saw it.
func TestSecurityRevokedRefreshReplicas(t *testing.T) {
	t.Run("no store", func(t *testing.T) {
		a := newWorld(t, nil, floodTimeout)
		ws := []*anontest.Env{a, a.Sibling(t, floodTimeout)}
		warmRotation(t, ws...)
		_, dsr := revokedVisitor(t, a)
		for i, p := range sendAll(t, ws, http.MethodGet, "/", 300, 20, withDSR(dsr)) {
			if !p.New {
				t.Fatalf("answer %d: %+v, want a new visitor", i, p)
			}
		}
		if n := a.Emu.Requests("/v1/auth/refresh"); n != 2 {
			t.Fatalf("300 requests on 2 replicas made %d refresh calls, want 2", n)
		}
	})
	t.Run("store", func(t *testing.T) {
		var storeTime atomic.Int64 // the store's clock, ahead of the wall clock by this
		store := newSwitchStore(func() time.Time { return time.Now().Add(time.Duration(storeTime.Load())) })
		ws := replicas(t, 3, store, nil, floodTimeout)
		_, dsr := revokedVisitor(t, ws[0])
		for i, p := range sendAll(t, ws[:2], http.MethodGet, "/", 300, 20, withDSR(dsr)) {
			if !p.New {
				t.Fatalf("answer %d: %+v, want a new visitor", i, p)
			}
		}
		if n := ws[0].Emu.Requests("/v1/auth/refresh"); n != 1 {
			t.Fatalf("300 requests on 2 replicas sharing a store made %d refresh calls, want 1", n)
		}
		// Past failureMemory the store still tells the third replica.
		storeTime.Add(int64(3 * time.Second))
		if p := ws[2].Do(t, ws[2].Browser(t), http.MethodGet, "/", nil, withDSR(dsr)); !p.New {
			t.Fatalf("the third replica: %+v", p)
		}
		// The store forgets; every replica remembers.
		storeTime.Add(int64(anonymous.RejectedFor))
		for i, p := range sendAll(t, ws, http.MethodGet, "/", 30, 5, withDSR(dsr)) {
			if !p.New {
				t.Fatalf("answer %d once the store forgot: %+v", i, p)
			}
		}
		if n := ws[0].Emu.Requests("/v1/auth/refresh"); n != 1 {
			t.Fatalf("%d refresh calls in all, want 1", n)
		}
	})
}

// 3c. 300 logouts with one genuine refresh token make one logout call, and
// each clears the cookies with no error; a token Descope rejected at refresh
// costs no logout call, and a token logged out costs no refresh call and
// gets no grace.
func TestSecurityRepeatedLogoutCostsOneCall(t *testing.T) {
	w := newWorld(t, []descopetest.Option{descopetest.WithRefreshRotation()}, floodTimeout)
	warmRotation(t, w)
	b, v := w.Visitor(t)
	jar := w.Jar(b)
	w.Emu.ResetRequests()
	both := cookieHeader("DS=" + jar["DS"] + "; DSR=" + jar["DSR"])
	for i, p := range sendAll(t, []*anontest.Env{w}, http.MethodPost, "/x/logout", 300, 20, both) {
		if c := anontest.FindCookie(p.SetCookie, "DSR"); p.Status != http.StatusOK || c == nil || c.MaxAge >= 0 {
			t.Fatalf("logout %d: %+v", i, p)
		}
	}
	if n := w.Emu.Requests("/v1/auth/logout"); n != 1 {
		t.Errorf("300 logouts made %d logout calls, want 1", n)
	}
	if errs := w.Convs.All(); len(errs) != 0 {
		t.Errorf("logouts failed: %v", errs)
	}
	if p := w.Do(t, w.Browser(t), http.MethodGet, "/", nil, withDSR(jar["DSR"])); !p.New || p.UserID == v.UserID {
		t.Errorf("the logged-out token: %+v, want a new visitor", p)
	}
	if n := w.Emu.Requests("/v1/auth/refresh"); n != 0 {
		t.Errorf("the logged-out token made %d refresh calls", n)
	}

	// Revoked elsewhere, rejected at refresh: its logout costs nothing.
	_, dsr := revokedVisitor(t, w)
	w.Do(t, w.Browser(t), http.MethodGet, "/", nil, withDSR(dsr))
	for range 10 {
		w.Do(t, w.Browser(t), http.MethodPost, "/x/logout", nil, withDSR(dsr))
	}
	if n, r := w.Emu.Requests("/v1/auth/logout"), w.Emu.Requests("/v1/auth/refresh"); n != 0 || r != 1 {
		t.Errorf("a rejected token: %d logout calls and %d refresh calls, want 0 and 1", n, r)
	}
	if errs := w.Convs.All(); len(errs) != 0 {
		t.Errorf("logouts failed: %v", errs)
	}
}

// A transient failure (a 5xx, a 429, a dropped connection, a timeout) is not
// remembered: the visitor keeps its identity, Degraded, and its next request
// refreshes. A logout that failed so is made again by the next one.
func TestRejectedTransientNotRemembered(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault descopetest.Fault
	}{
		{"502", descopetest.Fault{Status: http.StatusBadGateway, Times: 1}},
		{"429", descopetest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 1, Times: 1}},
		{"drop", descopetest.Fault{Drop: true, Times: 1}},
		{"timeout", descopetest.Fault{Latency: 2 * time.Second, Times: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, nil)
			b, v := w.Visitor(t)
			w.DropCookie(b, "DS")
			w.Emu.ResetRequests()
			w.Emu.InjectFault("/v1/auth/refresh", tc.fault)
			if p := w.Get(t, b, "/"); p.UserID != v.UserID || !p.Degraded {
				t.Fatalf("during the fault: %+v", p)
			}
			if n := anonymous.RejectedLen(w.MW); n != 0 {
				t.Errorf("a transient failure was remembered as a rejection (%d)", n)
			}
			w.Clock.Advance(3 * time.Second) // past failureMemory
			if p := w.Get(t, b, "/"); p.UserID != v.UserID || !p.Refreshed || p.Degraded {
				t.Fatalf("after the fault: %+v", p)
			}
			if n := w.Emu.Requests("/v1/auth/refresh"); n != 2 {
				t.Errorf("%d refresh calls, want 2", n)
			}

			jar := w.Jar(b)
			both := cookieHeader("DS=" + jar["DS"] + "; DSR=" + jar["DSR"])
			w.Emu.InjectFault("/v1/auth/logout", tc.fault)
			w.Do(t, w.Browser(t), http.MethodPost, "/x/logout", nil, both)
			if errs := w.Convs.All(); len(errs) != 1 || !errors.Is(errs[0], anonymous.ErrUnavailable) {
				t.Fatalf("the failed logout reported %v", errs)
			}
			for range 3 {
				w.Do(t, w.Browser(t), http.MethodPost, "/x/logout", nil, both)
			}
			if n := w.Emu.Requests("/v1/auth/logout"); n != 2 {
				t.Errorf("%d logout calls, want 2 (the failed one, then one that revoked)", n)
			}
			if errs := w.Convs.All(); len(errs) != 1 {
				t.Errorf("the logouts after the fault reported %v", errs[1:])
			}
		})
	}
}

// The memory of rejected tokens stays within its bound under a flood of
// distinct genuine tokens that Descope rejects (signed by the project's key,
// unknown to Descope), and remembers the latest.
func TestRejectedMemoryBounded(t *testing.T) {
	const bound, flood = 64, 400
	w := newWorld(t, nil, anonymous.WithLazy())
	anonymous.SetRejectedBound(w.MW, bound)
	b := w.Browser(t)
	if me := w.Get(t, b, "/ensure"); me.UserID == "" {
		t.Fatalf("ensure: %+v", me)
	}
	genuine := claimsOf(t, w.Jar(b)["DSR"])
	b = w.Browser(t) // no cookie but the flood's
	w.Emu.ResetRequests()
	var last string
	for i := range flood {
		c := maps.Clone(genuine)
		c["jti"] = fmt.Sprintf("flood-%d", i)
		tok, err := w.Emu.SignToken(c)
		if err != nil {
			t.Fatal(err)
		}
		if p := w.Do(t, b, http.MethodGet, "/whoami", nil, withDSR(tok)); p.UserID != "" {
			t.Fatalf("a token Descope rejects named %+v", p)
		}
		if n := anonymous.RejectedLen(w.MW); n > bound {
			t.Fatalf("after %d rejected tokens the memory holds %d, bound %d", i+1, n, bound)
		}
		last = tok
	}
	if n := anonymous.RejectedLen(w.MW); n != bound {
		t.Errorf("the memory holds %d after the flood, want %d", n, bound)
	}
	if n := w.Emu.Requests("/v1/auth/refresh"); n != flood {
		t.Fatalf("%d refresh calls for %d distinct tokens", n, flood)
	}
	w.Do(t, b, http.MethodGet, "/whoami", nil, withDSR(last))
	if n := w.Emu.Requests("/v1/auth/refresh"); n != flood {
		t.Errorf("the latest rejected token was asked about again")
	}
}
