package anonymous_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// The limits of a production middleware: 10 new identities a minute per
// client, 100 user creates a minute (Descope's limit), overflow on.
var productionLimits = []anonymous.Option{
	anonymous.WithClientRateLimit(10, time.Minute),
	anonymous.WithGlobalRateLimit(100, time.Minute),
	anonymous.WithOverflow(true),
}

// kinds counts the identities given, by kind, as the observer sees them.
type kinds struct {
	mu       sync.Mutex
	byKind   map[string]int
	creates  []time.Time // when each user-backed identity was given, on the middleware's clock
	now      func() time.Time
	overflow atomic.Int64
}

func newKinds(now func() time.Time) *kinds { return &kinds{byKind: map[string]int{}, now: now} }

func (k *kinds) observe(_ context.Context, e anonymous.Event) {
	switch e.Kind {
	case anonymous.EventProvisioned:
		k.mu.Lock()
		k.byKind[e.Strategy.String()]++
		if e.Strategy == anonymous.UserBacked {
			k.creates = append(k.creates, k.now())
		}
		k.mu.Unlock()
	case anonymous.EventOverflow:
		k.overflow.Add(1)
	}
}

func (k *kinds) get(s anonymous.Strategy) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.byKind[s.String()]
}

// firstVisits sends one cookie-less request from each of n distinct clients,
// 16 at a time, then a second request of each with the cookies the first
// got, and checks that every visitor got an identity at once and kept it.
func firstVisits(t *testing.T, h http.Handler, n int, client func(i int) string) (without int) {
	t.Helper()
	first := make([]anontest.Me, n)
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				first[i] = anontest.Serve(h, http.MethodGet, "/", "", client(i), nil)
			}
		})
	}
	wg.Wait()
	for i, me := range first {
		if me.Status >= 500 {
			t.Fatalf("visitor %d: status %d", i, me.Status)
		}
		if me.UserID == "" || !me.New {
			without++
			continue
		}
		again := anontest.Serve(h, http.MethodGet, "/", "", client(i), func(r *http.Request) {
			for _, c := range me.SetCookie {
				r.AddCookie(c)
			}
		})
		if again.UserID != me.UserID || again.New {
			t.Fatalf("visitor %d did not keep its identity: %s then %+v", i, me.UserID, again)
		}
	}
	return without
}

// A burst of 1,000 new visitors from distinct clients, on the production
// limits with Descope's own rate limits on: with local keys, every visitor
// gets an identity on its first request and keeps it on the next, at most a
// paced slice of the create budget reaches Descope, nothing answers 429 or
// 5xx, and the rest get local IDs. Without keys the rest get native tokens,
// as many as Descope's backend limit allows (1,000 in 10 s, paced: 90 a
// second), and the others none.
func TestOverflowBurst(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     []anonymous.Option
		overflow anonymous.Strategy
	}{
		{"local", []anonymous.Option{anonymous.WithLocalKeys(anontest.LocalKey)}, anonymous.LocalIDs},
		{"native", nil, anonymous.NativeTokens},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &anontest.Clock{}
			k := newKinds(clk.Now)
			// Each identity from Descope is a call to the emulator, which
			// signs two tokens: on a busy machine that can take longer than
			// newWorld's 300 ms, and a visitor whose mint timed out would
			// get a local ID for that reason instead.
			opts := append(slices.Clone(productionLimits), anonymous.WithClock(clk.Now), anonymous.WithObserver(k.observe),
				anonymous.WithTimeout(10*time.Second))
			w := newWorld(t, []descopetest.Option{descopetest.WithRateLimits(), descopetest.WithClock(clk.Now)}, append(opts, tc.opts...)...)
			users := w.Emu.UserCount()
			const n = 1000
			began := clk.Now()
			without := firstVisits(t, w.MW.Handler(anontest.App(w.MW, w.Convs)), n, func(i int) string {
				return fmt.Sprintf("198.18.%d.%d:5000", i/250, i%250+1)
			})
			seconds := int(clk.Now().Sub(began)/time.Second) + 2
			creates := w.Emu.Requests("/v1/mgmt/user/create")
			userBacked := k.get(anonymous.UserBacked)
			if creates != userBacked || w.Emu.UserCount()-users != userBacked {
				t.Errorf("%d user creates reached Descope for %d user-backed visitors (%d users)", creates, userBacked, w.Emu.UserCount()-users)
			}
			// Paced slices: 100/11 for each 6 s the burst lasted (one slice
			// on a quick machine; TestOverflowPacing checks every minute).
			span := seconds/6 + 2
			if userBacked < 9 || userBacked > 9*span {
				t.Errorf("%d user-backed visitors in a burst over %d slices, want 9 to %d", userBacked, span, 9*span)
			}
			overflow := k.get(tc.overflow)
			if overflow != n-userBacked-without || k.overflow.Load() != int64(overflow) {
				t.Errorf("%d %v overflow identities (%d overflow events) and %d visitors without, for %d", overflow, tc.overflow, k.overflow.Load(), without, n-userBacked)
			}
			switch tc.overflow {
			case anonymous.LocalIDs:
				if without != 0 {
					t.Errorf("%d of %d new visitors got no identity", without, n)
				}
				if w.Emu.Requests("/v1/mgmt/auth/anonymous") != 0 {
					t.Errorf("local overflow called Descope %d times for native tokens", w.Emu.Requests("/v1/mgmt/auth/anonymous"))
				}
			case anonymous.NativeTokens:
				// 90 native tokens in each second the burst lasted: within
				// Descope's 1,000 in 10 s.
				if overflow < 90 || overflow > 90*seconds || w.Emu.Requests("/v1/mgmt/auth/anonymous") != overflow {
					t.Errorf("%d native overflow identities (%d calls) in %d s", overflow, w.Emu.Requests("/v1/mgmt/auth/anonymous"), seconds)
				}
			}
			// A visitor arriving a slice later gets a user-backed identity.
			clk.Advance(6 * time.Second)
			me := anontest.Serve(w.MW.Handler(anontest.App(w.MW, w.Convs)), http.MethodGet, "/", "", "198.19.0.1:5000", nil)
			if me.UserID == "" || anonymous.IsLocalID(me.UserID) || !slices.ContainsFunc(me.SetCookie, func(c *http.Cookie) bool { return c.Name == "DSR" }) {
				t.Errorf("visitor after the burst: %+v", me)
			}
			if k.get(anonymous.UserBacked) != userBacked+1 {
				t.Errorf("visitor after the burst was not user-backed: %v", k.byKind)
			}
		})
	}
}

// Arrivals at ten a second for three minutes, twice Descope's create limit:
// no window of 60 s (wherever it starts) holds more than 100 user creates,
// the emulator's limit never answers 429, and the budget is used: at least
// 85 creates each minute.
func TestOverflowPacing(t *testing.T) {
	clk := &anontest.Clock{}
	k := newKinds(clk.Now)
	opts := append(slices.Clone(productionLimits), anonymous.WithClock(clk.Now), anonymous.WithObserver(k.observe),
		anonymous.WithLocalKeys(anontest.LocalKey))
	w := newWorld(t, []descopetest.Option{descopetest.WithRateLimits(), descopetest.WithClock(clk.Now)}, opts...)
	h := w.MW.Handler(anontest.App(w.MW, w.Convs))
	start := clk.Now()
	for i := range 1800 {
		me := anontest.Serve(h, http.MethodGet, "/", "", fmt.Sprintf("198.18.%d.%d:5000", i/250, i%250+1), nil)
		if me.UserID == "" {
			t.Fatalf("visitor %d at %v got no identity: %+v", i, clk.Now().Sub(start), me)
		}
		clk.Advance(100 * time.Millisecond)
	}
	creates := k.creates
	for i := range creates {
		j, _ := slices.BinarySearchFunc(creates, creates[i].Add(time.Minute), func(a, b time.Time) int { return a.Compare(b) })
		if j-i > 100 {
			t.Fatalf("%d user creates in the minute from %v", j-i, creates[i].Sub(start))
		}
	}
	if got := len(creates); got < 3*85 {
		t.Errorf("%d user creates in 3 minutes, want at least %d", got, 3*85)
	}
	if w.Emu.Requests("/v1/mgmt/user/create") != len(creates) {
		t.Errorf("%d creates reached Descope for %d user-backed visitors: some were refused", w.Emu.Requests("/v1/mgmt/user/create"), len(creates))
	}
	t.Logf("%d user-backed and %d local visitors in 3 minutes", len(creates), k.get(anonymous.LocalIDs))
}

// When Descope answers a user create with 429, the visitor gets an overflow
// identity at once, and the next ones too while Descope's Retry-After runs,
// with no further create.
func TestOverflowOnDescopeLimit(t *testing.T) {
	k := newKinds(time.Now)
	w := newWorld(t, nil, anonymous.WithOverflow(true), anonymous.WithObserver(k.observe), anonymous.WithLocalKeys(anontest.LocalKey))
	w.Emu.InjectFault("/v1/mgmt/user/create", descopetest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 60, Times: 1})
	for i := range 5 {
		_, me := w.Visitor(t)
		if !anonymous.IsLocalID(me.UserID) {
			t.Fatalf("visitor %d during Descope's limit: %+v", i, me)
		}
	}
	if n := w.Emu.Requests("/v1/mgmt/user/create"); n != 1 {
		t.Errorf("%d user creates during Descope's Retry-After, want the one refused", n)
	}
	if len(w.Errors()) != 0 {
		t.Errorf("errors reported for visitors who got an identity: %v", w.Errors())
	}
}

// With local keys, a visitor whose user create failed because Descope
// could not be reached gets a local ID at once; without keys, none (a
// native token would need Descope too).
func TestOverflowOnOutage(t *testing.T) {
	for _, keys := range []bool{true, false} {
		opts := []anonymous.Option{anonymous.WithOverflow(true)}
		if keys {
			opts = append(opts, anonymous.WithLocalKeys(anontest.LocalKey))
		}
		w := newWorld(t, nil, opts...)
		w.Emu.InjectFault("/v1/mgmt/user/create", descopetest.Fault{Status: http.StatusServiceUnavailable})
		me := w.Get(t, w.Browser(t), "/")
		if got := anonymous.IsLocalID(me.UserID); got != keys || !keys && me.UserID != "" {
			t.Errorf("keys %v: visitor during an outage: %+v", keys, me)
		}
		if n := w.Emu.Requests("/v1/mgmt/auth/anonymous"); n != 0 {
			t.Errorf("keys %v: %d native token calls during an outage", keys, n)
		}
	}
}

// The overflow budget bounds a flood from many addresses while the create
// budget is spent: past it, visitors get no identity, as without overflow.
func TestOverflowRateLimit(t *testing.T) {
	w := newWorld(t, nil, anonymous.WithOverflow(true), anonymous.WithLocalKeys(anontest.LocalKey),
		anonymous.WithGlobalRateLimit(1, time.Hour), anonymous.WithOverflowRateLimit(3, time.Hour))
	got := 0
	for range 10 {
		if me := w.Get(t, w.Browser(t), "/"); me.UserID != "" {
			got++
		}
	}
	if got != 1+3 {
		t.Errorf("%d visitors got an identity, want 1 user-backed and 3 overflow", got)
	}
	if errs := w.Errors(); len(errs) != 6 || !errors.Is(errs[0], anonymous.ErrRateLimited) {
		t.Errorf("refusals reported: %v", errs)
	}
}

// Overflow does not lift the per-client limit: one client's burst still
// gets its allowance and no more, whatever the kind of identity.
func TestOverflowKeepsTheClientLimit(t *testing.T) {
	w := newWorld(t, nil, append(slices.Clone(productionLimits), anonymous.WithLocalKeys(anontest.LocalKey))...)
	h := w.MW.Handler(anontest.App(w.MW, w.Convs))
	got := 0
	for range 50 {
		if me := anontest.Serve(h, http.MethodGet, "/", "", "203.0.113.9:4000", nil); me.UserID != "" {
			got++
		}
	}
	if got != 10 {
		t.Errorf("one client got %d identities in a burst, want its 10", got)
	}
}

// An overflow visitor converts like any local or native one: the hook moves
// its data once, to the account the code signs it up to.
func TestOverflowVisitorConverts(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []anonymous.Option
	}{
		{"local", []anonymous.Option{anonymous.WithLocalKeys(anontest.LocalKey)}},
		{"native", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, nil, append([]anonymous.Option{anonymous.WithOverflow(true), anonymous.WithGlobalRateLimit(1, time.Hour)}, tc.opts...)...)
			w.Visitor(t) // spends the budget
			b, me := w.Visitor(t)
			if !anonymous.IsLocalID(me.UserID) && w.Cookie(b, "DSR") == "" {
				t.Fatalf("second visitor: %+v", me)
			}
			done := w.Convert(t, b, "overflow@example.com")
			if done.Status != http.StatusOK || done.Anonymous || done.UserID == me.UserID {
				t.Fatalf("conversion of an overflow visitor: %+v", done)
			}
			if got := w.Converted(); len(got) != 1 || got[0] != [2]string{me.UserID, done.UserID} {
				t.Errorf("hook calls %v, want one from %s to %s", got, me.UserID, done.UserID)
			}
		})
	}
}

// Overflow needs the hook that moves an overflow visitor's data, and its
// default follows the hook: on with one, off without.
func TestOverflowDefault(t *testing.T) {
	w := newWorld(t, nil)
	if _, err := anonymous.New(w.SDK, anonymous.WithOverflow(true)); err == nil {
		t.Error("WithOverflow(true) without WithOnConvert was accepted")
	}
	hook := anonymous.WithOnConvert(func(context.Context, string, *anonymous.User) error { return nil })
	for i, tc := range []struct {
		opts []anonymous.Option
		want bool
	}{
		{[]anonymous.Option{hook}, true},
		{nil, false},
		{[]anonymous.Option{hook, anonymous.WithOverflow(false)}, false},
		{[]anonymous.Option{hook, anonymous.WithOverflow(true)}, true},
	} {
		opts := append([]anonymous.Option{anonymous.WithCookieSecure(false), anonymous.WithClientRateLimit(0, 0),
			anonymous.WithGlobalRateLimit(1, time.Hour)}, tc.opts...)
		h := defaultMiddleware(t, w, opts...)
		anontest.Serve(h, http.MethodGet, "/", "", "", nil)
		second := anontest.Serve(h, http.MethodGet, "/", "", "", nil)
		if got := second.UserID != ""; got != tc.want {
			t.Errorf("case %d: a visitor past the budget got an identity: %v, want %v (%+v)", i, got, tc.want, second)
		}
	}
}

// BenchmarkOverflow measures a new visitor served in overflow: a cookie-less
// request while the create budget is spent, given a local ID (no Descope
// call), on one core and on all; visitors/s is what one process serves.
func BenchmarkOverflow(b *testing.B) {
	hook := anonymous.WithOnConvert(func(context.Context, string, *anonymous.User) error { return nil })
	_, m, _ := benchWorld(b, hook, anonymous.WithLocalKeys(anontest.LocalKey),
		anonymous.WithClientRateLimit(0, 0), anonymous.WithGlobalRateLimit(1, time.Hour), anonymous.WithOverflowRateLimit(0, 0))
	app := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { sink, _ = anonymous.FromContext(r.Context()) })
	h := m.Handler(app)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("User-Agent", anontest.BrowserUA)
	h.ServeHTTP(anontest.NewNopWriter(), r) // spends the budget
	check := func() {
		if sink == nil || !anonymous.IsLocalID(sink.ID) {
			b.Fatalf("not served in overflow: %+v", sink)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			h.ServeHTTP(anontest.NewNopWriter(), r)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "visitors/s")
		check()
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h.ServeHTTP(anontest.NewNopWriter(), r)
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "visitors/s")
	})
}
