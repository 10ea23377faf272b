package redisstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
	"github.com/descope-contrib/anonymous/internal/redistest"
	"github.com/descope-contrib/anonymous/redisstore"
)

// refreshWorld builds a middleware on the emulator, with store as its shared
// store when it is not nil, provisions one visitor and returns the handler
// and the visitor's refresh token.
func refreshWorld(b *testing.B, emuOpts []descopetest.Option, store anonymous.Store) (http.Handler, string) {
	b.Helper()
	emu := descopetest.New(emuOpts...)
	b.Cleanup(emu.Close)
	opts := []anonymous.Option{anonymous.WithCookieSecure(false)}
	if store != nil {
		opts = append(opts, anonymous.WithStore(store))
	}
	m, err := anonymous.New(emu.MustClient(b), opts...)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Init(context.Background()); err != nil {
		b.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, newRequest(""))
	dsr := cookieOf(w, "DSR")
	if dsr == "" {
		b.Fatal("no visitor provisioned")
	}
	return h, dsr
}

func newRequest(dsr string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
	r.Header.Set("User-Agent", anontest.BrowserUA)
	if dsr != "" {
		r.AddCookie(&http.Cookie{Name: "DSR", Value: dsr})
	}
	return r
}

func cookieOf(w *httptest.ResponseRecorder, name string) string {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// BenchmarkRefreshPath measures a request whose session cookie has expired,
// with Redis on loopback as the shared store and without a shared store:
//
//   - spend: each request spends a new refresh token (rotation on: each
//     refresh hands the next one), one call to the emulator each; with Redis
//     the replica also claims the token and stores the sealed outcome.
//   - outcome: each request presents the same refresh token, whose outcome
//     another request stored (as for the parallel requests of one browser
//     on other replicas): with Redis, one read, opened and verified; without,
//     the process's own memory of the refresh.
func BenchmarkRefreshPath(b *testing.B) {
	srv := redistest.Start(b)
	newStore := func(b *testing.B) anonymous.Store {
		s, err := redisstore.New(newClient(b, srv))
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	for _, shared := range []bool{true, false} {
		name := "redis"
		if !shared {
			name = "local"
		}
		b.Run(name+"/spend", func(b *testing.B) {
			var store anonymous.Store
			if shared {
				store = newStore(b)
			}
			h, dsr := refreshWorld(b, []descopetest.Option{descopetest.WithRefreshRotation()}, store)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, newRequest(dsr))
				if dsr = cookieOf(w, "DSR"); dsr == "" {
					b.Fatal("refresh handed no new refresh token")
				}
			}
		})
		b.Run(name+"/outcome", func(b *testing.B) {
			var store anonymous.Store
			if shared {
				store = newStore(b)
			}
			h, dsr := refreshWorld(b, nil, store)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, newRequest(dsr))
				if cookieOf(w, "DS") == "" {
					b.Fatal("no session cookie")
				}
			}
		})
	}
}
