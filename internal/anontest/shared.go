package anontest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

// RunAdapter runs what every integration, net/http's included, must pass,
// through mount: the behaviour table (Run: one subtest of t per strategy),
// and beside it the framework's own way of reading the user
// (UserAndConversion), of ending its chain (ErrorHookEndsChain) and of
// refusing a nil middleware (NilMiddleware). mount serves GET /whoami the
// framework's way, answering with WhoAmI, the conversion handlers on POST
// /convert/start and /convert/verify, and every other route through app.
// The table's subtests are parallel: they run once the others are done.
func RunAdapter(t *testing.T, mount Mount) {
	Run(t, mount)
	t.Run("user and conversion", func(t *testing.T) { UserAndConversion(t, mount) })
	t.Run("error hook ends chain", func(t *testing.T) { ErrorHookEndsChain(t, mount) })
	t.Run("nil middleware", func(t *testing.T) { NilMiddleware(t, mount) })
}

// NilMiddleware checks that a nil middleware, mounted by mount, answers 500
// and hands nothing on, rather than panicking or serving without it.
func NilMiddleware(t *testing.T, mount Mount) {
	t.Helper()
	var reached atomic.Int32
	h := mount(t, nil, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	for _, path := range []string{"/", "/whoami"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("GET %s with a nil middleware answered %d", path, rec.Code)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("a nil middleware handed %d requests on", n)
	}
}

// UserAndConversion checks a framework's native routes, mounted as
// RunAdapter says.
func UserAndConversion(t *testing.T, mount Mount) {
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
	me := env.Convert(t, b, "visitor@example.com")
	if me.Status != http.StatusOK || me.UserID != first.UserID || me.Anonymous {
		t.Fatalf("verify: %+v", me)
	}
	after := env.Get(t, b, "/whoami")
	if after.UserID != first.UserID || after.Anonymous || after.New {
		t.Errorf("after conversion: %+v", after)
	}
}

// ErrorHookEndsChain checks that when the error hook writes a response, the
// framework's chain goes no further: the application mounted behind the
// middleware is never reached.
func ErrorHookEndsChain(t *testing.T, mount Mount) {
	t.Helper()
	var reached atomic.Int32
	counting := func(tb testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
		return mount(tb, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached.Add(1)
			app.ServeHTTP(w, r)
		}))
	}
	env := NewEnv(t, counting, nil, anonymous.WithErrorHandler(anonymous.FailClosed))
	env.Emu.InjectFault("/v1/mgmt/user/create", descopetest.Fault{Status: http.StatusInternalServerError})
	me := env.Get(t, env.Browser(t), "/")
	if me.Status != http.StatusServiceUnavailable || len(me.SetCookie) != 0 {
		t.Errorf("fail-closed: %+v", me)
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the chain went on %d times after the error hook answered", n)
	}
	env.Emu.ClearFaults()
	if me := env.Get(t, env.Browser(t), "/"); me.Status != http.StatusOK || me.UserID == "" || reached.Load() != 1 {
		t.Errorf("after the fault: %+v, chain reached %d times", me, reached.Load())
	}
}

// RunPerRoute checks the per-route way of mounting the middleware, through
// mount, which serves every path under /quiet/ behind the framework's
// Identify (the middleware without provisioning), with the /quiet prefix cut
// before app, and /whoami and every other path behind the provisioning
// middleware, as RunAdapter's mount does. Behind Identify a new visitor gets
// no identity and no cookie (a skip with reason "identify") until a handler
// calls Ensure; a visitor with one is identified, refreshed and converted
// there as anywhere. A nil middleware answers 500 there too.
func RunPerRoute(t *testing.T, mount Mount) {
	t.Helper()
	skips := &SkipLog{}
	env := NewEnv(t, mount, nil, anonymous.WithObserver(skips.Observe))
	create := env.ProvisionPath()

	b := env.Browser(t)
	if me := env.Get(t, b, "/quiet/whoami"); me.Status != http.StatusUnauthorized || len(me.SetCookie) != 0 || env.Emu.Requests(create) != 0 {
		t.Fatalf("new visitor behind Identify: %+v, %d identities made", me, env.Emu.Requests(create))
	}
	if got := skips.Take(); len(got) != 1 || got[0] != "identify" {
		t.Errorf("skip reasons behind Identify: %v, want [identify]", got)
	}
	first := env.Get(t, b, "/quiet/ensure")
	if first.Status != http.StatusOK || !first.New || first.UserID == "" || env.Emu.Requests(create) != 1 {
		t.Fatalf("Ensure behind Identify: %+v", first)
	}
	if me := env.Get(t, b, "/quiet/whoami"); me.Status != http.StatusOK || me.UserID != first.UserID || me.New {
		t.Errorf("returning visitor behind Identify: %+v, want %s", me, first.UserID)
	}
	// Once the browser dropped the session cookie, the refresh cookie
	// brings the visitor back, behind Identify as behind the middleware.
	env.DropCookie(b, "DS")
	if me := env.Get(t, b, "/quiet/whoami"); me.Status != http.StatusOK || me.UserID != first.UserID || !me.Refreshed || env.Cookie(b, "DS") == "" {
		t.Errorf("refresh behind Identify: %+v", me)
	}
	const email = "quiet@example.com"
	if st := env.Post(t, b, "/quiet/convert/start", map[string]string{"email": email}); st.Status != http.StatusOK {
		t.Fatalf("conversion start behind Identify: %+v", st)
	}
	code, _ := env.Emu.Outbox(email)
	if me := env.Post(t, b, "/quiet/convert/verify", map[string]string{"email": email, "code": code}); me.Status != http.StatusOK || me.UserID != first.UserID || me.Anonymous {
		t.Errorf("conversion behind Identify: %+v", me)
	}

	// The routes that provision still do, and their visitors are known
	// behind Identify.
	c := env.Browser(t)
	other := env.Get(t, c, "/whoami")
	if other.Status != http.StatusOK || !other.New || other.UserID == first.UserID || env.Emu.Requests(create) != 2 {
		t.Fatalf("provisioning route beside Identify: %+v", other)
	}
	if me := env.Get(t, c, "/quiet/whoami"); me.UserID != other.UserID || me.New {
		t.Errorf("that visitor behind Identify: %+v, want %s", me, other.UserID)
	}

	h := mount(t, nil, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("a nil middleware handed a request on") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/quiet/whoami", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("Identify with a nil middleware answered %d", rec.Code)
	}
}

// SkipLog records the reasons of EventProvisionSkipped; Observe is its
// observer ([anonymous.WithObserver]).
type SkipLog struct {
	mu      sync.Mutex
	reasons []string
}

// Observe records e's reason when e is a skipped provisioning.
func (l *SkipLog) Observe(_ context.Context, e anonymous.Event) {
	if e.Kind == anonymous.EventProvisionSkipped {
		l.mu.Lock()
		l.reasons = append(l.reasons, e.Reason)
		l.mu.Unlock()
	}
}

// Take returns the reasons recorded so far and forgets them.
func (l *SkipLog) Take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.reasons
	l.reasons = nil
	return r
}
