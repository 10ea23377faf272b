package anonymous_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// defaultMiddleware builds a middleware on w's emulator with the library's
// defaults (rate limits included) and the given options, resolved, behind
// anontest.App.
func defaultMiddleware(t *testing.T, w *anontest.Env, opts ...anonymous.Option) http.Handler {
	t.Helper()
	m, err := anonymous.New(w.SDK, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m.Handler(anontest.App(m, &anontest.ErrLog{}))
}

// 10,000 cookie-less requests from one address provision exactly the
// per-client allowance (10 a minute by default); the rest are served
// without a user.
func TestFloodOneClient(t *testing.T) {
	w := newWorld(t, nil)
	// A global limit that does not bind: its paced slice (1000/11 in 6 s)
	// is above the client's 10.
	h := defaultMiddleware(t, w, anonymous.WithGlobalRateLimit(1000, time.Minute))
	w.Emu.ResetRequests()
	users := w.Emu.UserCount()
	const n = 10000
	served, provisioned := 0, 0
	start := time.Now()
	for range n {
		res := anontest.Serve(h, http.MethodGet, "/", "", "203.0.113.7:1234", nil)
		if res.Status == http.StatusOK {
			served++
		}
		if res.New {
			provisioned++
		}
	}
	took := time.Since(start)
	creates := w.Emu.Requests("/v1/mgmt/user/create")
	if served != n || provisioned != 10 || creates != 10 || w.Emu.UserCount()-users != 10 {
		t.Errorf("%d served, %d provisioned, %d user creates, %d users; want %d, 10, 10, 10",
			served, provisioned, creates, w.Emu.UserCount()-users, n)
	}
	t.Logf("flood of %d requests from one address: %d users created, %v (%.0f requests/s)",
		n, creates, took.Round(time.Millisecond), float64(n)/took.Seconds())
}

// Crawlers and link previewers provision nothing, whatever their address.
func TestFloodCrawlers(t *testing.T) {
	w := newWorld(t, nil)
	h := defaultMiddleware(t, w)
	w.Emu.ResetRequests()
	agents := []string{
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0 Safari/537.36",
		"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
		"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
		"",
	}
	for i, ua := range agents {
		for j := range 40 {
			res := anontest.Serve(h, http.MethodGet, "/", "", fmt.Sprintf("198.18.%d.%d:1234", i, j+1), func(r *http.Request) {
				r.Header.Set("User-Agent", ua)
			})
			if res.Status != http.StatusOK || res.UserID != "" || len(res.SetCookie) != 0 {
				t.Fatalf("crawler %q: %+v", ua, res)
			}
		}
	}
	if n := w.Emu.TotalRequests(); n != 0 {
		t.Errorf("crawlers caused %d Descope calls", n)
	}
}

// burst sends n concurrent cookie-less requests from n addresses.
func burst(h http.Handler, n int) []anontest.Me {
	out := make([]anontest.Me, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			out[i] = anontest.Serve(h, http.MethodGet, "/", "", fmt.Sprintf("198.19.%d.%d:1234", i/250, i%250+1), nil)
		})
	}
	wg.Wait()
	return out
}

func status429(emu *descopetest.Emulator) int {
	n := 0
	for _, r := range emu.RequestLog() {
		if r.Status == http.StatusTooManyRequests {
			n++
		}
	}
	return n
}

// With the middleware's own limits off, Descope's limit on user creation
// (100 a minute) is what stops a burst of new visitors: the rest are served
// without a user, and nothing retries. The hook sees ErrUnavailable for a
// create Descope answered 429, or ErrRateLimited for one the middleware no
// longer sent, once a 429 paused user creation for every visitor.
func TestFloodDescopeRateLimit(t *testing.T) {
	// The middleware's limits off; the default timeout, so that only
	// Descope's limit, not a slow machine, stops provisioning.
	w := newWorld(t, []descopetest.Option{descopetest.WithRateLimits()}, anonymous.WithTimeout(5*time.Second))
	h := w.MW.Handler(anontest.App(w.MW, &anontest.ErrLog{}))
	w.Emu.ResetRequests()
	const n = 150
	res := burst(h, n)
	created, bare := 0, 0
	for _, r := range res {
		switch {
		case r.Status != http.StatusOK:
			t.Errorf("status %d: %s", r.Status, r.Body)
		case r.New:
			created++
		case r.UserID == "" && len(r.SetCookie) == 0:
			bare++
		default:
			t.Errorf("unexpected answer %+v", r)
		}
	}
	creates := w.Emu.Requests("/v1/mgmt/user/create")
	if created > 100 || created+bare != n || w.Emu.UserCount() != created {
		t.Errorf("%d created, %d served without a user, %d users at Descope", created, bare, w.Emu.UserCount())
	}
	if creates > n+2 || w.Emu.Requests("/v1/mgmt/auth/signin") != created {
		t.Errorf("calls: %d user creates, %d sign-ins for %d visitors: a retry storm", creates, w.Emu.Requests("/v1/mgmt/auth/signin"), n)
	}
	errs := w.Hooks.All()
	paused := 0
	for _, err := range errs {
		if errors.Is(err, anonymous.ErrRateLimited) {
			paused++
		} else if !errors.Is(err, anonymous.ErrUnavailable) {
			t.Errorf("error hook saw %v", err)
		}
	}
	if len(errs) != bare || paused != bare-(creates-created) {
		t.Errorf("error hook saw %d errors, %d of them for the pause, for %d visitors without a user and %d creates answered 429",
			len(errs), paused, bare, creates-created)
	}
	t.Logf("burst of %d with Descope's limits: %d created, %d served without a user, %d user creates, %d answered 429",
		n, created, bare, creates, status429(w.Emu))
}

// With the default global limit (100 a minute) the burst never meets
// Descope's limit: at most 100 create calls and no 429.
func TestFloodGlobalLimit(t *testing.T) {
	w := newWorld(t, []descopetest.Option{descopetest.WithRateLimits()})
	limited := &anontest.ErrLog{}
	h := defaultMiddleware(t, w, anonymous.WithErrorHandler(limited.Hook))
	w.Emu.ResetRequests()
	const n = 150
	res := burst(h, n)
	created := 0
	for _, r := range res {
		if r.Status != http.StatusOK {
			t.Errorf("status %d: %s", r.Status, r.Body)
		}
		if r.New {
			created++
		}
	}
	creates := w.Emu.Requests("/v1/mgmt/user/create")
	if creates > 100 || created != creates || status429(w.Emu) != 0 {
		t.Errorf("%d created, %d user creates, %d answered 429", created, creates, status429(w.Emu))
	}
	for _, err := range limited.All() {
		if !errors.Is(err, anonymous.ErrRateLimited) {
			t.Errorf("error hook saw %v, want ErrRateLimited", err)
		}
	}
	if len(limited.All()) != n-created {
		t.Errorf("error hook saw %d errors, want %d", len(limited.All()), n-created)
	}
	t.Logf("burst of %d under the default global limit: %d created, %d create calls, %d answered 429",
		n, created, creates, status429(w.Emu))
}

// A flood of new clients cannot push out what keeps conversions safe: after
// 200,000 cookie-less requests from distinct IPv6 /64s (a counter each, as
// many as the process-local store holds), the old cookie of a local visitor
// who converted is still refused for another conversion or a promotion.
func TestFloodKeepsRetiredMarks(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 200,000 requests")
	}
	var hooks atomic.Int32
	env := localEnv(t, netHTTP, anonymous.WithOnConvert(func(context.Context, string, *anonymous.User) error {
		hooks.Add(1)
		return nil
	}), anonymous.WithClientRateLimit(10, time.Minute)) // the default, which the Env turns off
	b, _ := env.Visitor(t)
	old := env.Cookie(b, "DSL")
	if me := env.Convert(t, b, "ada@example.com"); me.Status != http.StatusOK {
		t.Fatalf("convert: %+v", me)
	}
	h := env.Server.Config.Handler
	w := anontest.NewNopWriter()
	const n = 200_000
	for i := range n {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("User-Agent", anontest.BrowserUA)
		r.RemoteAddr = fmt.Sprintf("[2001:db8:%x:%x::1]:1234", i>>16, i&0xffff)
		clear(w.H)
		h.ServeHTTP(w, r)
	}
	if keys := anonymous.LocalStoreLen(env.MW); keys < n*9/10 {
		t.Fatalf("the flood left %d keys in the local store: it did not fill it", keys)
	}
	replay := env.Browser(t)
	env.SetCookie(replay, "DSL", old)
	refusesReplay(t, env, replay, &hooks)
}
