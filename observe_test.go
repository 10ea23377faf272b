package anonymous_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// recorder is an observer that keeps every event, and the kinds ever seen
// by any recorder sharing seen.
type recorder struct {
	mu     sync.Mutex
	events []anonymous.Event
	seen   *kindSet
}

type kindSet struct {
	mu    sync.Mutex
	kinds map[anonymous.EventKind]bool
}

func (s *kindSet) add(k anonymous.EventKind) {
	s.mu.Lock()
	s.kinds[k] = true
	s.mu.Unlock()
}

func newRecorder(seen *kindSet) *recorder { return &recorder{seen: seen} }

func (r *recorder) observe(_ context.Context, e anonymous.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	if r.seen != nil {
		r.seen.add(e.Kind)
	}
}

// take returns the events recorded since the last take.
func (r *recorder) take() []anonymous.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// label names an event as the tests match it: "kind", "kind/reason" or
// "descope_call/op".
func label(e anonymous.Event) string {
	switch {
	case e.Kind == anonymous.EventDescopeCall:
		return e.Kind.String() + "/" + e.Op
	case e.Reason != "":
		return e.Kind.String() + "/" + e.Reason
	}
	return e.Kind.String()
}

func labels(events []anonymous.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = label(e)
	}
	return out
}

// expect takes the recorded events and fails unless each wanted label is
// among them, and no unwanted one is. It returns the events.
func (r *recorder) expect(t *testing.T, want []string, unwanted ...string) []anonymous.Event {
	t.Helper()
	events := r.take()
	got := labels(events)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("no %s event; got %v", w, got)
		}
	}
	for _, u := range unwanted {
		if slices.Contains(got, u) {
			t.Errorf("unexpected %s event; got %v", u, got)
		}
	}
	return events
}

// find returns the first event with the label.
func find(events []anonymous.Event, l string) (anonymous.Event, bool) {
	for _, e := range events {
		if label(e) == l {
			return e, true
		}
	}
	return anonymous.Event{}, false
}

// TestEvents drives the middleware, conversion and Cull through every event
// kind and checks what each event carries.
func TestEvents(t *testing.T) {
	seen := &kindSet{kinds: map[anonymous.EventKind]bool{}}
	observed := func(rec *recorder, opts ...anonymous.Option) []anonymous.Option {
		return append([]anonymous.Option{anonymous.WithObserver(rec.observe)}, opts...)
	}
	// world is a newWorld with opts whose events go to a new recorder.
	world := func(t *testing.T, opts ...anonymous.Option) (*anontest.Env, *recorder) {
		rec := newRecorder(seen)
		return newWorld(t, nil, observed(rec, opts...)...), rec
	}

	t.Run("provisioning, cache and calls", func(t *testing.T) {
		w, rec := world(t)
		events := rec.expect(t, []string{"descope_call/tenant.search", "descope_call/tenant.create",
			"descope_call/tenant.get_settings", "descope_call/tenant.configure_settings"})
		for _, e := range events {
			if e.Kind == anonymous.EventDescopeCall && (e.Duration <= 0 || e.Code != "" || e.Err != nil) {
				t.Errorf("successful call %s: duration %v, code %q, err %v", e.Op, e.Duration, e.Code, e.Err)
			}
		}
		b, first := w.Visitor(t)
		events = rec.expect(t, []string{"provisioned", "descope_call/user.create", "descope_call/jwt.sign_in"})
		if e, _ := find(events, "provisioned"); e.Strategy != anonymous.UserBacked || e.User == nil || e.User.ID != first.UserID || !e.User.New {
			t.Errorf("provisioned event: %+v", e)
		}
		w.Get(t, b, "/")
		rec.expect(t, []string{"cache_hit"}, "cache_miss")

		// A second replica has not seen the token: a miss, and a validation.
		rec2 := newRecorder(seen)
		s := w.Sibling(t, observed(rec2)...)
		rec2.take()
		if p := s.Get(t, b, "/"); p.UserID != first.UserID {
			t.Fatalf("sibling: %+v", p)
		}
		rec2.expect(t, []string{"cache_miss", "descope_call/session.validate"}, "cache_hit", "provisioned")

		// Logout revokes at Descope.
		w.Do(t, b, http.MethodPost, "/x/logout", nil, nil)
		rec.expect(t, []string{"descope_call/auth.logout"})
	})

	t.Run("provisioning skipped", func(t *testing.T) {
		w, rec := world(t, anonymous.WithSkipProvision(func(r *http.Request) bool { return r.URL.Path == "/skip" }))
		rec.take()
		b := w.Browser(t)
		for _, tc := range []struct {
			reason string
			method string
			target string
			edit   func(*http.Request)
		}{
			{"crawler", http.MethodGet, "/", func(r *http.Request) { r.Header.Set("User-Agent", "Googlebot/2.1") }},
			{"method", http.MethodHead, "/", nil},
			{"credentials", http.MethodGet, "/", func(r *http.Request) { r.Header.Set("Authorization", "Basic eDp5") }},
			{"skip", http.MethodGet, "/skip", nil},
			{"cross_site", http.MethodGet, "/", embedImage},
		} {
			w.Do(t, b, tc.method, tc.target, nil, tc.edit)
			rec.expect(t, []string{"provision_skipped/" + tc.reason}, "provisioned")
		}
		lazy, lazyRec := world(t, anonymous.WithLazy())
		lazyRec.take()
		lazy.Get(t, lazy.Browser(t), "/")
		lazyRec.expect(t, []string{"provision_skipped/lazy"}, "provisioned")
	})

	t.Run("provisioning refused", func(t *testing.T) {
		w, rec := world(t, anonymous.WithClientRateLimit(1, time.Minute))
		w.Visitor(t)
		rec.take()
		w.Get(t, w.Browser(t), "/")
		events := rec.expect(t, []string{"provision_refused/client_limit"}, "provisioned")
		if e, _ := find(events, "provision_refused/client_limit"); !errors.Is(e.Err, anonymous.ErrRateLimited) {
			t.Errorf("client limit event error: %v", e.Err)
		}

		g, grec := world(t, anonymous.WithGlobalRateLimit(1, time.Minute))
		g.Visitor(t)
		grec.take()
		g.Get(t, g.Browser(t), "/")
		grec.expect(t, []string{"provision_refused/global_limit"}, "provisioned")

		d, drec := world(t)
		drec.take()
		d.Emu.InjectFault("/v1/mgmt/user/create", descopetest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 60, Times: 1})
		d.Get(t, d.Browser(t), "/")
		events = drec.expect(t, []string{"provision_refused/descope_limit"}, "provisioned")
		if e, _ := find(events, "descope_call/user.create"); e.Code != "E130429" || e.Err == nil {
			t.Errorf("user create answered 429: code %q, err %v", e.Code, e.Err)
		}
		d.Get(t, d.Browser(t), "/")
		drec.expect(t, []string{"provision_refused/create_paused"}, "descope_call/user.create")

		// With overflow on, a spent budget gives an overflow identity and
		// reports why, not a refusal.
		o, orec := world(t, anonymous.WithOverflow(true), anonymous.WithGlobalRateLimit(1, time.Minute))
		o.Visitor(t)
		orec.take()
		o.Get(t, o.Browser(t), "/")
		events = orec.expect(t, []string{"overflow/global_limit", "provisioned/overflow", "descope_call/jwt.anonymous"}, "provision_refused/global_limit")
		if e, _ := find(events, "overflow/global_limit"); e.Strategy != anonymous.NativeTokens || e.User == nil {
			t.Errorf("overflow event: strategy %v, user %v", e.Strategy, e.User)
		}
		od, odrec := world(t, anonymous.WithOverflow(true))
		odrec.take()
		od.Emu.InjectFault("/v1/mgmt/user/create", descopetest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 60, Times: 1})
		od.Get(t, od.Browser(t), "/")
		odrec.expect(t, []string{"overflow/descope_limit", "provisioned/overflow"}, "provision_refused/descope_limit")
		od.Get(t, od.Browser(t), "/")
		odrec.expect(t, []string{"overflow/create_paused", "provisioned/overflow"}, "descope_call/user.create")

		for _, tc := range []struct {
			status int
			reason string
		}{{http.StatusInternalServerError, "unavailable"}, {http.StatusBadRequest, "error"}} {
			f, frec := world(t)
			frec.take()
			f.Emu.InjectFault("/v1/mgmt/user/create", descopetest.Fault{Status: tc.status})
			f.Get(t, f.Browser(t), "/")
			events := frec.expect(t, []string{"provision_refused/" + tc.reason}, "provisioned")
			if e, _ := find(events, "descope_call/user.create"); e.Code != "E011001" {
				t.Errorf("user create answered %d: code %q", tc.status, e.Code)
			}
		}
	})

	t.Run("refresh", func(t *testing.T) {
		w, rec := world(t)
		b, first := w.Visitor(t)
		rec.take()
		w.DropCookie(b, "DS")
		w.Get(t, b, "/")
		events := rec.expect(t, []string{"refreshed", "descope_call/session.refresh"})
		if e, _ := find(events, "refreshed"); e.User == nil || e.User.ID != first.UserID || !e.User.Refreshed {
			t.Errorf("refreshed event: %+v", e)
		}

		// Descope down: Degraded, one event per request.
		b2, _ := w.Visitor(t)
		rec.take()
		w.Emu.InjectFault("/v1/auth/refresh", descopetest.Fault{Status: http.StatusInternalServerError})
		w.DropCookie(b2, "DS")
		for range 2 {
			if p := w.Get(t, b2, "/"); !p.Degraded {
				t.Fatalf("not degraded: %+v", p)
			}
		}
		events = rec.take()
		if n := strings.Count(strings.Join(labels(events), " "), "degraded"); n != 2 {
			t.Errorf("%d degraded events for 2 degraded requests: %v", n, labels(events))
		}
		w.Emu.ClearFaults()

		// A refresh token that fails local verification.
		b3 := w.Browser(t)
		u, _ := url.Parse(w.Server.URL)
		b3.Jar.SetCookies(u, []*http.Cookie{{Name: "DSR", Value: "not.a.token", Path: "/"}})
		w.Get(t, b3, "/")
		rec.expect(t, []string{"refresh_rejected/invalid", "provisioned"})

		// A refresh token Descope revoked.
		b4, _ := w.Visitor(t)
		revoked := w.Jar(b4)["DSR"]
		w.Do(t, b4, http.MethodPost, "/x/logout", nil, nil)
		rec.take()
		b5 := w.Browser(t)
		b5.Jar.SetCookies(u, []*http.Cookie{{Name: "DSR", Value: revoked, Path: "/"}})
		w.Get(t, b5, "/")
		rec.expect(t, []string{"refresh_rejected/descope", "provisioned"})

		// Without Degraded identities, an outage is a failed refresh.
		f, frec := world(t, anonymous.WithDegradedIdentity(false))
		fb, _ := f.Visitor(t)
		f.Emu.InjectFault("/v1/auth/refresh", descopetest.Fault{Status: http.StatusInternalServerError})
		f.DropCookie(fb, "DS")
		frec.take()
		f.Get(t, fb, "/")
		events = frec.expect(t, []string{"refresh_failed"}, "degraded", "refreshed")
		if e, _ := find(events, "refresh_failed"); !errors.Is(e.Err, anonymous.ErrUnavailable) {
			t.Errorf("refresh_failed error: %v", e.Err)
		}
	})

	t.Run("conversion", func(t *testing.T) {
		w, rec := world(t)
		b, first := w.Visitor(t)
		rec.take()
		w.Start(t, b, "not-an-address")
		rec.expect(t, []string{"conversion_started", "conversion_failed/invalid_address"}, "code_sent")
		const addr = "ada@example.com"
		if p := w.Start(t, b, addr); p.Status != http.StatusOK {
			t.Fatalf("start: %+v", p)
		}
		rec.expect(t, []string{"conversion_started", "code_sent", "descope_call/user.load", "descope_call/otp.update_email"},
			"conversion_failed")
		w.Verify(t, b, addr, "000000")
		events := rec.expect(t, []string{"conversion_failed/invalid_code"}, "converted", "code_verified")
		if e, _ := find(events, "descope_call/otp.verify"); e.Code == "" || e.Err == nil {
			t.Errorf("a wrong code is a failed call: %+v", e)
		}
		code, _ := w.Emu.Outbox(addr)
		if p := w.Verify(t, b, addr, code); p.Status != http.StatusOK {
			t.Fatalf("verify: %+v", p)
		}
		events = rec.expect(t, []string{"code_verified", "converted", "descope_call/otp.verify",
			"descope_call/user.remove_tenant", "descope_call/user.update_login_id", "descope_call/jwt.sign_in",
			"descope_call/auth.logout"}, "conversion_failed")
		if e, _ := find(events, "converted"); e.User == nil || e.User.ID != first.UserID || e.User.Anonymous {
			t.Errorf("converted event: %+v", e)
		}
	})

	t.Run("resume", func(t *testing.T) {
		w, rec := world(t)
		b, _ := w.Visitor(t)
		const addr = "half@example.com"
		code := w.SendCode(t, b, addr)
		w.Emu.InjectFault("/v1/mgmt/user/update/tenant/remove", descopetest.Fault{Status: http.StatusBadGateway, Times: 1})
		rec.take()
		if p := w.Verify(t, b, addr, code); p.Status != http.StatusServiceUnavailable {
			t.Fatalf("verify during the fault: %+v", p)
		}
		rec.expect(t, []string{"code_verified", "conversion_failed/unavailable"}, "converted")
		if p := w.Verify(t, b, addr, "spent"); p.Status != http.StatusOK {
			t.Fatalf("resumed verify: %+v", p)
		}
		rec.expect(t, []string{"resumed", "converted"}, "conversion_failed")
	})

	t.Run("merge", func(t *testing.T) {
		w, rec := world(t, anonymous.WithMerge(func(context.Context, *anonymous.User, *anonymous.User) error { return nil }))
		const addr = "owner@example.com"
		owner := w.Registered(t, addr)
		b, _ := w.Visitor(t)
		rec.take()
		w.Start(t, b, addr)
		rec.expect(t, []string{"code_sent", "descope_call/otp.sign_up_or_in"})
		code, _ := w.Emu.Outbox(addr)
		if p := w.Verify(t, b, addr, code); p.Status != http.StatusOK {
			t.Fatalf("verify: %+v", p)
		}
		events := rec.expect(t, []string{"code_verified", "merged", "descope_call/user.delete"}, "converted")
		if e, _ := find(events, "merged"); e.User == nil || e.User.ID != owner.UserID {
			t.Errorf("merged event: %+v", e)
		}
	})

	t.Run("descope merged", func(t *testing.T) {
		w, rec := world(t)
		b, _ := w.Visitor(t)
		const addr = "late@example.com"
		code := w.SendCode(t, b, addr)
		w.Emu.InjectFault("/v1/auth/otp/verify/email", descopetest.Fault{Times: 1, Before: func() { w.Registered(t, addr) }})
		rec.take()
		if p := w.Verify(t, b, addr, code); p.Status != http.StatusConflict {
			t.Fatalf("verify in the race window: %+v", p)
		}
		events := rec.expect(t, []string{"descope_merged"}, "conversion_failed/error", "converted")
		if e, _ := find(events, "descope_merged"); !errors.Is(e.Err, anonymous.ErrDescopeMerged) {
			t.Errorf("descope_merged error: %v", e.Err)
		}
	})

	t.Run("native", func(t *testing.T) {
		native := worldSetup
		native.Strategy = anonymous.NativeTokens
		rec := newRecorder(seen)
		w := anontest.NewEnvWith(t, native, nil, observed(rec)...)
		b, _ := w.Visitor(t)
		events := rec.expect(t, []string{"provisioned", "descope_call/jwt.anonymous"}, "descope_call/user.create")
		if e, _ := find(events, "provisioned"); e.Strategy != anonymous.NativeTokens {
			t.Errorf("native provisioned event: strategy %v", e.Strategy)
		}
		p := w.Do(t, b, http.MethodPost, "/x/promote", nil, nil)
		if p.Status != http.StatusOK {
			t.Fatalf("promote: %+v", p)
		}
		events = rec.expect(t, []string{"provisioned", "promoted", "descope_call/user.create"})
		if e, _ := find(events, "promoted"); e.User == nil || e.User.ID != p.UserID {
			t.Errorf("promoted event: %+v", e)
		}

		nb, _ := w.Visitor(t)
		const addr = "native@example.com"
		w.Start(t, nb, addr)
		rec.expect(t, []string{"code_sent", "descope_call/otp.sign_up_or_in"})
		code, _ := w.Emu.Outbox(addr)
		if p := w.Verify(t, nb, addr, code); p.Status != http.StatusOK {
			t.Fatalf("verify: %+v", p)
		}
		rec.expect(t, []string{"code_verified", "converted"})
	})

	t.Run("cull", func(t *testing.T) {
		w := newWorld(t, nil)
		_, stale := w.Visitor(t)
		if err := w.Emu.SetUserCreatedTime(stale.UserID, time.Now().Add(-2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		rec := newRecorder(seen)
		report, err := anonymous.Cull(context.Background(), w.SDK, anonymous.CullOptions{OlderThan: time.Hour, Observer: rec.observe})
		if err != nil || report.Deleted != 1 {
			t.Fatalf("cull: %+v, %v", report, err)
		}
		events := rec.expect(t, []string{"cull_progress", "cull_finished", "descope_call/tenant.search",
			"descope_call/user.search", "descope_call/user.delete_batch"})
		if e, _ := find(events, "cull_progress"); e.Count != 1 || e.Cull == nil || e.Cull.Deleted != 1 {
			t.Errorf("cull progress: count %d, report %+v", e.Count, e.Cull)
		}
		if e, _ := find(events, "cull_finished"); e.Cull != report || e.Err != nil {
			t.Errorf("cull finished: %+v", e)
		}
	})

	t.Run("store fallback", func(t *testing.T) {
		clock := &anontest.Clock{}
		store := newSwitchStore(clock.Now)
		rec := newRecorder(seen)
		w := newWorld(t, nil, anonymous.WithStore(store), anonymous.WithClock(clock.Now), anonymous.WithObserver(rec.observe),
			anonymous.WithClientRateLimit(100, time.Minute)) // provisioning counts in the store
		w.Visitor(t)
		rec.take()
		store.down.Store(true)
		w.Visitor(t) // its provisioning limits meet the store down
		events := rec.expect(t, []string{"store_fallback/fallback"})
		if e, _ := find(events, "store_fallback/fallback"); !errors.Is(e.Err, errStoreDown) {
			t.Errorf("fallback event: %+v", e)
		}
		store.down.Store(false)
		clock.Advance(2 * time.Second) // past the next probe of the store
		w.Visitor(t)
		events = rec.expect(t, []string{"store_fallback/restored"})
		if e, _ := find(events, "store_fallback/restored"); e.Err != nil {
			t.Errorf("restored event: %+v", e)
		}
	})

	for _, k := range anonymous.EventKinds() {
		if !seen.kinds[k] {
			t.Errorf("no test produced an event of kind %s", k)
		}
	}
}

// The hooks that predate observers still work, through an observer.
func TestHooksAreObservers(t *testing.T) {
	var mu sync.Mutex
	var provisioned, refreshed []string
	var order []string
	w := newWorld(t, nil,
		anonymous.WithObserver(func(_ context.Context, e anonymous.Event) {
			if e.Kind == anonymous.EventProvisioned {
				mu.Lock()
				order = append(order, "observer")
				mu.Unlock()
			}
		}),
		anonymous.WithOnProvision(func(_ context.Context, u *anonymous.User) {
			mu.Lock()
			provisioned = append(provisioned, u.ID)
			order = append(order, "hook")
			mu.Unlock()
		}),
		anonymous.WithOnRefresh(func(_ context.Context, u *anonymous.User) {
			mu.Lock()
			refreshed = append(refreshed, u.ID)
			mu.Unlock()
		}))
	b, first := w.Visitor(t)
	w.DropCookie(b, "DS")
	w.Get(t, b, "/")
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(provisioned, []string{first.UserID}) || !slices.Equal(refreshed, []string{first.UserID}) {
		t.Errorf("hooks saw provisioned %v, refreshed %v; want %s once each", provisioned, refreshed, first.UserID)
	}
	if !slices.Equal(order, []string{"observer", "hook"}) {
		t.Errorf("called in order %v", order)
	}
	if _, err := anonymous.New(w.SDK, anonymous.WithObserver(nil)); err == nil {
		t.Error("a nil observer was accepted")
	}
}

func TestEventKindNames(t *testing.T) {
	names := map[string]bool{}
	for _, k := range anonymous.EventKinds() {
		n := k.String()
		if n == "" || strings.HasPrefix(n, "EventKind(") || names[n] {
			t.Errorf("kind %d named %q", int(k), n)
		}
		names[n] = true
	}
	if s := anonymous.EventKind(0).String(); s != "EventKind(0)" {
		t.Errorf("zero kind: %q", s)
	}
}

// BenchmarkHotPathObserved is BenchmarkHotPath/anonymous with an observer
// that counts events: the cost of observing the hot path (one cache-hit
// event per request).
func BenchmarkHotPathObserved(b *testing.B) {
	var n atomic.Int64
	_, m, r := benchWorld(b, anonymous.WithObserver(func(context.Context, anonymous.Event) { n.Add(1) }))
	app := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { sink, _ = anonymous.FromContext(r.Context()) })
	anontest.ServeLoop(b, m.Handler(app), r)
	if n.Load() < int64(b.N) {
		b.Fatalf("%d events for %d requests", n.Load(), b.N)
	}
}
