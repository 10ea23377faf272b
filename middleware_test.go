package anonymous_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// TestBehaviour runs the suite every framework adapter runs, the net/http
// way: the behaviour table in every strategy (TestBehaviour/local/…), and
// the checks beside it.
func TestBehaviour(t *testing.T) {
	anontest.RunAdapter(t, netHTTP)
}

// TestIdentifyPerRoute mounts Identify on the routes under /quiet/ and the
// provisioning Handler on the others, the net/http way.
func TestIdentifyPerRoute(t *testing.T) {
	anontest.RunPerRoute(t, func(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/quiet/", m.Identify(http.StripPrefix("/quiet", app)))
		mux.Handle("/", m.Handler(app))
		return mux
	})
}

func TestNewValidatesOptions(t *testing.T) {
	emu := descopetest.New()
	defer emu.Close()
	c := emu.MustClient(t)
	bad := map[string]anonymous.Option{
		"empty tenant name":     anonymous.WithTenantName(" "),
		"tiny lifetime":         anonymous.WithLifetime(time.Millisecond),
		"session over lifetime": anonymous.WithSessionTTL(400 * 24 * time.Hour),
		"session in seconds":    anonymous.WithSessionTTL(200 * time.Second),
		"lifetime in seconds":   anonymous.WithLifetime(90*time.Minute + 30*time.Second),
		"zero timeout":          anonymous.WithTimeout(0),
		"same cookie names":     anonymous.WithCookieNames("DS", "DS"),
		"bad cookie name":       anonymous.WithCookieNames("D S", "DSR"),
		"relative cookie path":  anonymous.WithCookiePath("app"),
		"negative rate":         anonymous.WithClientRateLimit(-1, time.Minute),
		"rate without period":   anonymous.WithGlobalRateLimit(5, 0),
		"negative conv limit":   anonymous.WithConversionClientLimit(-1),
		"nil logger":            anonymous.WithLogger(nil),
		"nil merge hook":        anonymous.WithMerge(nil),
		"nil generator":         anonymous.WithLoginIDGenerator(nil, nil),
		"none without secure":   func() anonymous.Option { return anonymous.WithCookieSameSite(http.SameSiteNoneMode) }(),
	}
	for name, opt := range bad {
		opts := []anonymous.Option{opt}
		if name == "none without secure" {
			opts = append(opts, anonymous.WithCookieSecure(false))
		}
		if m, err := anonymous.New(c, opts...); err == nil || m != nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := anonymous.New(nil); err == nil {
		t.Error("New accepted a nil client")
	}
	m, err := anonymous.New(c)
	if err != nil || m == nil {
		t.Fatalf("defaults rejected: %v", err)
	}
}

// Descope refuses session lifetimes under 3 minutes; so does New, unless the
// middleware is built for the emulator's seconds mode.
func TestSessionTTLMinimum(t *testing.T) {
	emu := descopetest.New()
	defer emu.Close()
	c := emu.MustClient(t)
	if _, err := anonymous.New(c, anonymous.WithSessionTTL(time.Minute)); err == nil {
		t.Error("a 1-minute session TTL was accepted")
	}
	if _, err := anonymous.New(c, anonymous.WithSessionTTL(anonymous.MinSessionTTL)); err != nil {
		t.Errorf("the minimum was refused: %v", err)
	}
	if _, err := anonymous.New(c, anonymous.WithSessionTTL(5*time.Second), anonymous.WithEmulatorLifetimes()); err != nil {
		t.Errorf("seconds with WithEmulatorLifetimes: %v", err)
	}
}

func TestInitCreatesTenantOnce(t *testing.T) {
	emu := descopetest.New(descopetest.WithSecondsUnit())
	defer emu.Close()
	c := emu.MustClient(t)
	ctx := context.Background()
	for i := range 2 {
		m, err := anonymous.New(c, anonymous.WithLifetime(90*time.Minute), anonymous.WithSessionTTL(90*time.Second), anonymous.WithEmulatorLifetimes())
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Init(ctx); err != nil {
			t.Fatalf("Init %d: %v", i, err)
		}
	}
	ts, err := c.Management.Tenant().LoadAll(ctx)
	if err != nil || len(ts) != 1 || ts[0].Name != "Anonymous Users" {
		t.Fatalf("tenants %v, %v", ts, err)
	}
	if n := emu.Requests("/v1/mgmt/tenant/settings"); n != 3 { // get, configure, get again (already right)
		t.Errorf("settings calls %d, want 3", n)
	}
	s, err := c.Management.Tenant().GetSettings(ctx, ts[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !s.SessionSettingsEnabled || s.RefreshTokenExpiration != 90 || s.RefreshTokenExpirationUnit != "minutes" ||
		s.SessionTokenExpiration != 90 || s.SessionTokenExpirationUnit != "seconds" {
		t.Errorf("settings %+v", s)
	}
}

func TestConcurrentRefreshSharesOneCall(t *testing.T) {
	t.Parallel() // waits for the session to expire
	env := anontest.NewEnv(t, netHTTP, []descopetest.Option{descopetest.WithRefreshRotation()}, anonymous.WithSessionTTL(2*time.Second))
	b := env.Browser(t)
	first := env.Get(t, b, "/whoami")
	time.Sleep(time.Until(first.SetCookie[0].Expires) + 100*time.Millisecond)
	dsr := env.Cookie(b, "DSR")
	env.Emu.ResetRequests()
	var wg sync.WaitGroup
	ids := make(chan string, 100)
	for range 100 {
		wg.Go(func() {
			me := env.Do(t, env.Browser(t), http.MethodGet, "/whoami", nil, func(r *http.Request) {
				r.AddCookie(&http.Cookie{Name: "DSR", Value: dsr})
			})
			ids <- me.UserID
		})
	}
	wg.Wait()
	close(ids)
	for id := range ids {
		if id != first.UserID {
			t.Fatalf("a request got user %q, want %q", id, first.UserID)
		}
	}
	if n := env.Emu.Requests("/v1/auth/refresh"); n != 1 {
		t.Errorf("100 concurrent requests made %d refresh calls, want 1", n)
	}
}

func TestProvisionRateLimits(t *testing.T) {
	env := anontest.NewEnv(t, netHTTP, nil,
		anonymous.WithClientKey(func(r *http.Request) string { return r.Header.Get("X-Client") }),
		anonymous.WithClientRateLimit(3, time.Minute), anonymous.WithGlobalRateLimit(5, time.Minute))
	from := func(client string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("X-Client", client) }
	}
	one := 0
	for range 10 {
		if me := env.Do(t, env.Browser(t), http.MethodGet, "/whoami", nil, from("a")); me.New {
			one++
		}
	}
	if one != 3 {
		t.Errorf("one client provisioned %d users, want 3", one)
	}
	many := 0
	for i := range 10 {
		if me := env.Do(t, env.Browser(t), http.MethodGet, "/whoami", nil, from(string(rune('b'+i)))); me.New {
			many++
		}
	}
	if many != 2 {
		t.Errorf("other clients provisioned %d users, want 2 (global limit 5)", many)
	}
	if n := env.Emu.Requests("/v1/mgmt/user/create"); n != 5 {
		t.Errorf("user creates %d, want 5", n)
	}
	errs := env.Errors()
	if len(errs) != 15 || !errors.Is(errs[0], anonymous.ErrRateLimited) {
		t.Errorf("error hook saw %d errors: %v", len(errs), errs)
	}
}

func TestErrorHandlerCanFailClosed(t *testing.T) {
	env := anontest.NewEnv(t, netHTTP, nil, anonymous.WithErrorHandler(anonymous.FailClosed))
	env.Emu.InjectFault("/v1/mgmt/user/create", descopetest.Fault{Status: 500})
	me := env.Get(t, env.Browser(t), "/whoami")
	if me.Status != http.StatusServiceUnavailable || len(me.SetCookie) != 0 {
		t.Errorf("fail-closed provisioning failure: %+v", me)
	}
	if ct := me.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q", ct)
	}
}

func TestFromContext(t *testing.T) {
	if _, ok := anonymous.FromContext(context.Background()); ok {
		t.Error("empty context has a user")
	}
	u := &anonymous.User{ID: "U1"}
	got, ok := anonymous.FromContext(anonymous.NewContext(context.Background(), u))
	if !ok || got != u {
		t.Errorf("got %v, %v", got, ok)
	}
	if _, ok := anonymous.FromContext(anonymous.NewContext(context.Background(), nil)); ok {
		t.Error("nil user reported present")
	}
}

func TestClearCookies(t *testing.T) {
	emu := descopetest.New()
	defer emu.Close()
	m, err := anonymous.New(emu.MustClient(t), anonymous.WithCookieNames("sid", "rid"))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.ClearCookies(rec)
	cs := rec.Result().Cookies()
	if len(cs) != 2 || cs[0].Name != "sid" || cs[1].Name != "rid" || cs[0].MaxAge != -1 {
		t.Errorf("cleared cookies %v", cs)
	}
}

// A project whose JWT template leaves out the tenants claim keeps dct: the
// visitor is still recognised as anonymous.
func TestAnonymousFromDctOnly(t *testing.T) {
	w := newWorld(t, nil)
	_, anon := w.Visitor(t)
	tenants, err := w.SDK.Management.Tenant().LoadAll(context.Background())
	if err != nil || len(tenants) != 1 {
		t.Fatal(tenants, err)
	}
	now := time.Now()
	for _, tc := range []struct {
		dct  string
		want bool
	}{{tenants[0].ID, true}, {"T-other", false}} {
		tok, err := w.Emu.SignToken(map[string]any{
			"sub": anon.UserID, "iss": w.Emu.ProjectID, "drn": "DS", "dct": tc.dct,
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		})
		if err != nil {
			t.Fatal(err)
		}
		p := w.Do(t, w.Browser(t), http.MethodGet, "/", nil, func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "DS", Value: tok})
		})

		if p.UserID != anon.UserID || p.Anonymous != tc.want {
			t.Errorf("dct %s: %+v, want anonymous %v", tc.dct, p, tc.want)
		}
	}
}

// Cookie lifetimes follow the middleware's clock: Max-Age and Expires agree.
func TestCookieMaxAgeOnTheClock(t *testing.T) {
	w := newWorld(t, nil, anonymous.WithStrategy(anonymous.LocalIDs), anonymous.WithLocalKeys(anontest.LocalKey), anonymous.WithLifetime(time.Hour))
	w.Clock.Advance(24 * time.Hour)
	me := w.Get(t, w.Browser(t), "/")
	if len(me.SetCookie) != 1 {
		t.Fatalf("cookies %v", me.SetCookie)
	}
	c := me.SetCookie[0]
	if c.MaxAge < 3590 || c.MaxAge > 3600 || c.Expires.Sub(w.Clock.Now()) > time.Hour {
		t.Errorf("cookie %s: Max-Age %d, Expires %v (clock %v)", c.Name, c.MaxAge, c.Expires, w.Clock.Now())
	}
}
