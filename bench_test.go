package anonymous_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/sdk"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

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
	return emu, m, anontest.KnownSession(b, m)
}

var sink *anonymous.User

// maxSessions is the largest number of live sessions the benchmarks keep: the
// default bound of the session cache.
const maxSessions = 100_000

// live holds what the hot-path benchmarks share, made once per run: an
// emulator whose key signs fast, session tokens shaped like the one it
// provisions (as many as the largest benchmark so far needed), and a
// middleware per number of live sessions.
var live struct {
	mu     sync.Mutex
	emu    *descopetest.Emulator
	signer *fastSigner
	claims map[string]any // of the provisioned session token
	tokens []string
	worlds map[int]*liveWorld
}

// liveWorld is a middleware with default options that has seen n distinct
// valid sessions once each, and the Cookie lines to send them again.
type liveWorld struct {
	h       http.Handler
	cookies []string
	misses  atomic.Int64 // requests the application saw without a user
	heap    float64      // heap retained per live session, in bytes
}

// liveTokens returns the emulator and n session tokens. live.mu is held.
func liveTokens(b *testing.B, n int) (*descopetest.Emulator, []string) {
	if live.emu == nil {
		signer, err := newFastSigner()
		if err != nil {
			b.Fatal(err)
		}
		emu := descopetest.New(descopetest.WithKey(signer.key)) // lives as long as the run
		signer.useKID(emu.KeyID())
		claims, err := provisionedClaims(b, emu)
		if err != nil {
			b.Fatal(err)
		}
		claims["exp"] = time.Now().Add(2 * time.Hour).Unix() // outlasts the run
		live.emu, live.signer, live.claims = emu, signer, claims
	}
	if have := len(live.tokens); have < n {
		tokens, err := signTokens(live.signer, live.claims, have, n)
		if err != nil {
			b.Fatal(err)
		}
		live.tokens = append(live.tokens, tokens...)
	}
	return live.emu, live.tokens[:n]
}

// provisionedClaims provisions a visitor and returns the claims of its
// session token.
func provisionedClaims(b *testing.B, emu *descopetest.Emulator) (map[string]any, error) {
	m, err := anonymous.New(emu.MustClient(b), anonymous.WithCookieSecure(false))
	if err != nil {
		return nil, err
	}
	return descopetest.Claims(anontest.SessionCookie(b, m))
}

// signTokens signs the session tokens from to to (excluded), each with the
// claims but another user ID of the same length.
func signTokens(signer *fastSigner, claims map[string]any, from, to int) ([]string, error) {
	id, _ := claims["sub"].(string)
	tokens := make([]string, to-from)
	var wg sync.WaitGroup
	var failed atomic.Value
	workers := runtime.GOMAXPROCS(0)
	for wk := range workers {
		own := maps.Clone(claims)
		wg.Go(func() {
			for i := wk; i < len(tokens); i += workers {
				own["sub"] = fmt.Sprintf("U%0*X", len(id)-1, from+i)
				tok, err := signer.sign(own)
				if err != nil {
					failed.Store(err)
					return
				}
				tokens[i] = tok
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return nil, err
	}
	return tokens, nil
}

// liveSessions returns a middleware with default options that has verified n
// sessions, one request each, and measured the heap they retain.
func liveSessions(b *testing.B, n int) *liveWorld {
	live.mu.Lock()
	defer live.mu.Unlock()
	if w := live.worlds[n]; w != nil {
		return w
	}
	emu, tokens := liveTokens(b, n)
	m, err := anonymous.New(emu.MustClient(b), anonymous.WithCookieSecure(false))
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Init(context.Background()); err != nil {
		b.Fatal(err)
	}
	w := &liveWorld{cookies: make([]string, n)}
	for i, tok := range tokens {
		w.cookies[i] = "theme=dark; DS=" + tok + "; _ga=GA1.2.3"
	}
	w.h = m.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		if _, ok := anonymous.FromContext(r.Context()); !ok {
			w.misses.Add(1)
		}
	}))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for wk := range workers {
		wg.Go(func() {
			c := newCycler(w, 0)
			for i := wk; i < n; i += workers {
				c.i = i
				c.next()
			}
		})
	}
	wg.Wait()
	runtime.GC()
	runtime.ReadMemStats(&after)
	w.heap = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	if w.misses.Load() != 0 {
		b.Fatalf("%d of %d sessions not identified", w.misses.Load(), n)
	}
	if live.worlds == nil {
		live.worlds = map[int]*liveWorld{}
	}
	live.worlds[n] = w
	runtime.KeepAlive(m)
	return w
}

// cycler sends the sessions of a liveWorld in turn, from the i-th on, with
// one request whose Cookie line it sets and a writer that allocates nothing.
type cycler struct {
	w    *liveWorld
	r    *http.Request
	line []string
	rw   *anontest.NopWriter
	i    int
}

func newCycler(w *liveWorld, from int) *cycler {
	r, _ := http.NewRequest(http.MethodGet, "http://example.com/cart", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0")
	line := []string{""}
	r.Header["Cookie"] = line
	return &cycler{w: w, r: r, line: line, rw: anontest.NewNopWriter(), i: from % len(w.cookies)}
}

// next serves the next session.
func (c *cycler) next() {
	c.line[0] = c.w.cookies[c.i]
	if c.i++; c.i == len(c.w.cookies) {
		c.i = 0
	}
	clear(c.rw.H)
	c.w.h.ServeHTTP(c.rw, c.r)
}

// serveSessions sends the sessions of w in turn, again and again, on every
// core when parallel.
func serveSessions(b *testing.B, w *liveWorld, parallel bool) {
	before := w.misses.Load()
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			c := newCycler(w, rand.IntN(len(w.cookies)))
			for pb.Next() {
				c.next()
			}
		})
	} else {
		c := newCycler(w, 0)
		for b.Loop() {
			c.next()
		}
	}
	if w.misses.Load() != before {
		b.Fatal("a session was not identified")
	}
}

// BenchmarkHotPath measures a request with a valid session cookie already
// seen, through this middleware with default options while 1, 10,000 and
// 100,000 sessions are live (the requests cycle through all of them), and
// through the SDK's own middleware with one session.
func BenchmarkHotPath(b *testing.B) {
	for _, n := range []int{1, 10_000, maxSessions} {
		b.Run(fmt.Sprintf("anonymous/sessions=%d", n), func(b *testing.B) {
			serveSessions(b, liveSessions(b, n), false)
		})
	}
	b.Run("sdk.AuthenticationMiddleware", func(b *testing.B) {
		live.mu.Lock()
		emu, tokens := liveTokens(b, 1)
		live.mu.Unlock()
		c := emu.MustClient(b)
		ok := false
		h := sdk.AuthenticationMiddleware(c.Auth, nil, func(w http.ResponseWriter, r *http.Request, next http.Handler, _ *descope.Token) {
			ok = true
			next.ServeHTTP(w, r)
		})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		serveSessions(b, &liveWorld{h: h, cookies: []string{"theme=dark; DS=" + tokens[0] + "; _ga=GA1.2.3"}}, false)
		if !ok {
			b.Fatal("the SDK middleware rejected the session")
		}
	})
}

// BenchmarkHotPathParallel is the hot path with 100,000 live sessions on
// every core at once.
func BenchmarkHotPathParallel(b *testing.B) {
	serveSessions(b, liveSessions(b, maxSessions), true)
}

// BenchmarkLiveSessionMemory reports the heap each of 100,000 live sessions
// retains in a middleware with default options (B/session), measured after a
// GC before and after the sessions were first seen; the loop is the hot path.
func BenchmarkLiveSessionMemory(b *testing.B) {
	w := liveSessions(b, maxSessions)
	serveSessions(b, w, false)
	b.ReportMetric(w.heap, "B/session")
}

// BenchmarkFirstSight compares a session token seen for the first time
// (cache off) with a bare ValidateSessionWithToken call.
func BenchmarkFirstSight(b *testing.B) {
	emu, m, r := benchWorld(b, anonymous.WithTokenCache(0, 0))
	app := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { sink, _ = anonymous.FromContext(r.Context()) })
	b.Run("anonymous", func(b *testing.B) {
		anontest.ServeLoop(b, m.Handler(app), r)
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
