package anontest

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

// The cases every framework adapter runs beside the behaviour table, with
// what only the framework can provide: its own way of reading the user, and
// its own way of chaining handlers.

// UserAndConversion checks a framework's native routes. mount must serve GET
// /whoami through the middleware, reading the user the framework's way
// (answering as App does, and 401 without a user), and the conversion
// handlers on POST /convert/start and /convert/verify.
func UserAndConversion(t *testing.T, mount Mount, email string) {
	t.Helper()
	env := NewEnv(t, mount, nil)
	b := env.Browser(t)
	first := env.Get(t, b, "/whoami")
	if first.Status != http.StatusOK || first.UserID == "" || !first.New || !first.Anonymous {
		t.Fatalf("first visit: %+v", first)
	}
	if again := env.Get(t, b, "/whoami"); again.UserID != first.UserID || again.New {
		t.Fatalf("second visit: %+v", again)
	}
	if me := env.Do(t, env.Browser(t), http.MethodGet, "/whoami", nil, func(r *http.Request) {
		r.Header.Set("User-Agent", "Googlebot/2.1")
	}); me.Status != http.StatusUnauthorized {
		t.Errorf("crawler without cookies: %+v", me)
	}
	me := env.Convert(t, b, email)
	if me.Status != http.StatusOK || me.UserID != first.UserID || me.Anonymous {
		t.Fatalf("verify: %+v", me)
	}
	after := env.Get(t, b, "/whoami")
	if after.UserID != first.UserID || after.Anonymous || after.New {
		t.Errorf("after conversion: %+v", after)
	}
}

// ErrorHookEndsChain checks that when the error hook writes a response, the
// framework's chain goes no further. mount must count in reached each time a
// handler after the middleware runs, then serve app.
func ErrorHookEndsChain(t *testing.T, mount func(reached *atomic.Int32) Mount) {
	t.Helper()
	var reached atomic.Int32
	env := NewEnv(t, mount(&reached), nil, anonymous.WithErrorHandler(anonymous.FailClosed))
	env.Emu.InjectFault("/v1/mgmt/user/create", descopetest.Fault{Status: http.StatusInternalServerError})
	me := env.Get(t, env.Browser(t), "/whoami")
	if me.Status != http.StatusServiceUnavailable || len(me.SetCookie) != 0 {
		t.Errorf("fail-closed: %+v", me)
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the chain went on %d times after the error hook answered", n)
	}
	env.Emu.ClearFaults()
	if me := env.Get(t, env.Browser(t), "/whoami"); me.Status != http.StatusOK || reached.Load() != 1 {
		t.Errorf("after the fault: %+v, chain reached %d times", me, reached.Load())
	}
}
