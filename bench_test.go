package anonymous_test

import (
	"context"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/sdk"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

// nopWriter is a ResponseWriter that allocates nothing per request.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// benchWorld provisions one anonymous user and returns a request carrying
// its session cookie.
func benchWorld(b *testing.B, opts ...anonymous.Option) (*descopetest.Emulator, *anonymous.Middleware, *http.Request) {
	b.Helper()
	emu := descopetest.New()
	b.Cleanup(emu.Close)
	m, err := anonymous.New(emu.MustClient(b), append([]anonymous.Option{anonymous.WithCookieSecure(false)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0")
	w := &nopWriter{h: http.Header{}}
	var ds string
	m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, r)
	for _, c := range (&http.Response{Header: w.h}).Cookies() {
		if c.Name == "DS" {
			ds = c.Value
		}
	}
	if ds == "" {
		b.Fatal("no session cookie provisioned")
	}
	r, _ = http.NewRequest(http.MethodGet, "http://example.com/cart", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0")
	r.Header.Set("Cookie", "theme=dark; DS="+ds+"; _ga=GA1.2.3")
	return emu, m, r
}

func serveLoop(b *testing.B, h http.Handler, r *http.Request) {
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

var sink *anonymous.User

// BenchmarkHotPath compares a request with a valid, already-seen session
// cookie through this middleware and through the SDK's own middleware.
func BenchmarkHotPath(b *testing.B) {
	emu, m, r := benchWorld(b)
	app := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { sink, _ = anonymous.FromContext(r.Context()) })
	b.Run("anonymous", func(b *testing.B) {
		serveLoop(b, m.Handler(app), r)
		if sink == nil {
			b.Fatal("no user identified")
		}
	})
	b.Run("sdk.AuthenticationMiddleware", func(b *testing.B) {
		c := emu.MustClient(b)
		ok := false
		h := sdk.AuthenticationMiddleware(c.Auth, nil, func(w http.ResponseWriter, r *http.Request, next http.Handler, _ *descope.Token) {
			ok = true
			next.ServeHTTP(w, r)
		})(app)
		serveLoop(b, h, r)
		if !ok {
			b.Fatal("the SDK middleware rejected the session")
		}
	})
}

// BenchmarkFirstSight compares a session token seen for the first time
// (cache off) with a bare ValidateSessionWithToken call.
func BenchmarkFirstSight(b *testing.B) {
	emu, m, r := benchWorld(b, anonymous.WithTokenCache(0, 0))
	app := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { sink, _ = anonymous.FromContext(r.Context()) })
	b.Run("anonymous", func(b *testing.B) {
		serveLoop(b, m.Handler(app), r)
	})
	b.Run("ValidateSessionWithToken", func(b *testing.B) {
		c := emu.MustClient(b)
		ds, _ := r.Cookie("DS")
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if ok, _, err := c.Auth.ValidateSessionWithToken(ctx, ds.Value); !ok || err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTokenCacheMemory reports the heap one cached session costs.
func BenchmarkTokenCacheMemory(b *testing.B) {
	emu := descopetest.New()
	defer emu.Close()
	const n = 2000
	toks := make([]string, n)
	now := time.Now()
	for i := range toks {
		tok, err := emu.SignToken(map[string]any{
			"sub": "U" + string(rune('A'+i%26)) + time.Duration(i).String(), "iss": emu.ProjectID, "drn": "DS",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			"tenants": map[string]any{"T1": map[string]any{"roles": []string{}, "permissions": []string{}}},
		})
		if err != nil {
			b.Fatal(err)
		}
		toks[i] = tok
	}
	m, err := anonymous.New(emu.MustClient(b), anonymous.WithTokenCache(n, 64<<20))
	if err != nil {
		b.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	w := &nopWriter{h: http.Header{}}
	reqs := make([]*http.Request, n)
	for i, tok := range toks {
		reqs[i], _ = http.NewRequest(http.MethodGet, "http://example.com/", nil)
		reqs[i].Header.Set("Cookie", "DS="+tok)
	}
	h.ServeHTTP(w, reqs[0]) // fetch the keys outside the measure
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, r := range reqs {
		h.ServeHTTP(w, r)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perToken := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / (n - 1)
	runtime.KeepAlive(m)
	runtime.KeepAlive(reqs)
	for b.Loop() {
		h.ServeHTTP(w, reqs[0])
	}
	b.ReportMetric(float64(perToken), "B/token")
	b.ReportMetric(float64(len(toks[0])), "token-len")
}
