package anonymous_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// These tests run several middlewares ("replicas") on one emulator, sharing
// one store: a process-local store behind a switch that can make it fail or
// stall, and that records what is written to it. The same scenarios run on
// a real Redis server in module redisstore.

// switchStore is a shared store for tests.
type switchStore struct {
	inner anonymous.Store
	down  atomic.Bool
	slow  atomic.Int64 // a delay before every call, honouring the context
	calls atomic.Int64

	mu     sync.Mutex
	writes map[string][]byte // every key written, with its last value
}

var errStoreDown = errors.New("store down")

func newSwitchStore(now func() time.Time) *switchStore {
	return &switchStore{inner: anonymous.NewMemStore(now), writes: map[string][]byte{}}
}

func (s *switchStore) enter(ctx context.Context) error {
	s.calls.Add(1)
	if d := time.Duration(s.slow.Load()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.down.Load() {
		return errStoreDown
	}
	return nil
}

func (s *switchStore) wrote(key string, val []byte) {
	s.mu.Lock()
	s.writes[key] = bytes.Clone(val)
	s.mu.Unlock()
}

func (s *switchStore) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	s.wrote(key, nil)
	return s.inner.Incr(ctx, key, delta, ttl)
}

func (s *switchStore) SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	if err := s.enter(ctx); err != nil {
		return false, err
	}
	s.wrote(key, val)
	return s.inner.SetNX(ctx, key, val, ttl)
}

func (s *switchStore) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	s.wrote(key, val)
	return s.inner.Set(ctx, key, val, ttl)
}

func (s *switchStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := s.enter(ctx); err != nil {
		return nil, false, err
	}
	return s.inner.Get(ctx, key)
}

func (s *switchStore) Del(ctx context.Context, key string) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	return s.inner.Del(ctx, key)
}

// fallbackLog records the calls of the store fallback hook.
type fallbackLog struct {
	mu    sync.Mutex
	modes []bool
}

func (l *fallbackLog) hook(_ context.Context, fallingBack bool, err error) {
	if fallingBack == (err == nil) {
		panic("fallback hook: error and mode disagree")
	}
	l.mu.Lock()
	l.modes = append(l.modes, fallingBack)
	l.mu.Unlock()
}

func (l *fallbackLog) count(mode bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.modes {
		if m == mode {
			n++
		}
	}
	return n
}

// replicas is n middlewares on one emulator with refresh rotation (reuse
// detection on, the emulator's default) and 10-second sessions, sharing
// store. Tests force refreshes by dropping the session cookie.
func replicas(t *testing.T, n int, store *switchStore, log *fallbackLog, opts ...anonymous.Option) []*anontest.Env {
	t.Helper()
	emuOpts := []descopetest.Option{descopetest.WithRefreshRotation()}
	ws := make([]*anontest.Env, n)
	for i := range ws {
		o := append([]anonymous.Option{anonymous.WithSessionTTL(10 * time.Second)}, opts...)
		if store != nil {
			o = append(o, anonymous.WithStore(store), anonymous.WithStoreTimeout(50*time.Millisecond))
		}
		if log != nil {
			o = append(o, anonymous.WithOnStoreFallback(log.hook))
		}
		if i == 0 {
			ws[0] = newWorld(t, emuOpts, o...)
		} else {
			ws[i] = ws[0].Sibling(t, o...)
		}
	}
	return ws
}

// everyReplica drops b's session cookie, so the next requests must refresh, then
// sends perReplica requests to every replica at once with b's cookies, and
// returns the answers.
func everyReplica(t *testing.T, ws []*anontest.Env, b *http.Client, perReplica int) []anontest.Me {
	t.Helper()
	ws[0].DropCookie(b, "DS")
	var mu sync.Mutex
	var out []anontest.Me
	var wg sync.WaitGroup
	for _, w := range ws {
		for range perReplica {
			wg.Go(func() {
				p := w.Get(t, b, "/")
				mu.Lock()
				out = append(out, p)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return out
}

// checkSame fails unless every answer is a 200 for user id.
func checkSame(t *testing.T, w *anontest.Env, round string, ps []anontest.Me, id string) (degraded int) {
	t.Helper()
	for _, p := range ps {
		if p.Status != http.StatusOK || p.UserID != id {
			t.Fatalf("%s: an answer %d for user %q, want 200 for %q (hook saw %v)", round, p.Status, p.UserID, id, w.Hooks.All())
		}
		if p.Degraded {
			degraded++
		}
	}
	return degraded
}

// Parallel requests of one visitor reach three replicas at once, each with
// the same refresh token: one replica calls Descope, the others use its
// outcome, so rotation with reuse detection never revokes the session.
func TestReplicasShareOneRefresh(t *testing.T) {
	store := newSwitchStore(time.Now)
	ws := replicas(t, 3, store, nil)
	b, v := ws[0].Visitor(t)
	for round := range 4 {
		ws[0].Emu.ResetRequests()
		ps := everyReplica(t, ws, b, 3)
		if d := checkSame(t, ws[0], "round", ps, v.UserID); d != 0 {
			t.Fatalf("round %d: %d answers Degraded, want none (hook saw %v)", round, d, ws[0].Hooks.All())
		}
		if n := ws[0].Emu.Requests("/v1/auth/refresh"); n != 1 {
			t.Fatalf("round %d: %d refresh calls to Descope, want 1", round, n)
		}
	}
	// What the store holds never shows a token in clear.
	jar := ws[0].Jar(b)
	store.mu.Lock()
	defer store.mu.Unlock()
	for k, val := range store.writes {
		for _, tok := range []string{jar["DS"], jar["DSR"]} {
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			if strings.Contains(k, sig) || bytes.Contains(val, []byte(sig)) {
				t.Fatalf("the store holds a token in clear under %q", k)
			}
		}
	}
}

// A logout on one replica makes the refresh token it revoked, and the one
// spent for it, useless on every replica at once.
func TestReplicasLogoutForgetsSharedRefresh(t *testing.T) {
	store := newSwitchStore(time.Now)
	ws := replicas(t, 3, store, nil)
	b, v := ws[0].Visitor(t)
	oldDSR := ws[0].Jar(b)["DSR"]
	ws[0].DropCookie(b, "DS")
	if p := ws[0].Get(t, b, "/"); !p.Refreshed || p.UserID != v.UserID {
		t.Fatalf("refresh: %+v", p)
	}
	if p := ws[1].Do(t, b, http.MethodPost, "/x/logout", nil, nil); p.Status != http.StatusOK {
		t.Fatalf("logout: %+v", p)
	}
	p := ws[2].Do(t, ws[2].Browser(t), http.MethodGet, "/", nil, func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: "DSR", Value: oldDSR})
	})

	if p.UserID == v.UserID {
		t.Fatalf("the spent refresh token still named the visitor on another replica after logout: %+v", p)
	}
}

// The provisioning limit and the per-address code limit count across
// replicas.
func TestReplicasShareLimits(t *testing.T) {
	store := newSwitchStore(time.Now)
	ws := replicas(t, 3, store, nil, anonymous.WithGlobalRateLimit(5, time.Minute))
	created := 0
	var visitors []*http.Client
	for i := range 12 {
		b := ws[0].Browser(t)
		if p := ws[i%3].Get(t, b, "/"); p.New {
			created++
			visitors = append(visitors, b)
		}
	}
	if created != 5 {
		t.Fatalf("%d visitors provisioned across 3 replicas, want the global limit of 5", created)
	}
	// Each visitor asks every replica for one code to the same address: the
	// visitors could spend 15 of them, the address takes 10.
	sent, limited := 0, 0
	for _, b := range visitors {
		for _, w := range ws {
			switch p := w.Start(t, b, "target@example.com"); p.Status {
			case http.StatusOK:
				sent++
			case http.StatusTooManyRequests:
				limited++
			default:
				t.Fatalf("start: %+v (%v)", p, w.Convs.All())
			}
		}
	}
	if n := ws[0].Emu.Requests("/v1/auth/otp/update/email"); sent != 10 || n != 10 || limited != 5 {
		t.Fatalf("codes sent %d (Descope saw %d), limited %d; want 10 sent, 5 limited", sent, n, limited)
	}
}

// With the store down, a replica never spends a rotating refresh token it
// cannot agree on: visitors keep their identity, Degraded, with no 5xx and
// no refresh call; the fallback is reported once per replica, and so is the
// return of the store, after which refreshes go on through it.
func TestReplicasStoreDownKeepsIdentity(t *testing.T) {
	store := newSwitchStore(time.Now)
	log := &fallbackLog{}
	ws := replicas(t, 3, store, log)
	b, v := ws[0].Visitor(t)
	if d := checkSame(t, ws[0], "before", everyReplica(t, ws, b, 2), v.UserID); d != 0 {
		t.Fatalf("%d answers Degraded with the store up", d)
	}

	store.down.Store(true)
	ws[0].Emu.ResetRequests()
	for round := range 3 {
		ps := everyReplica(t, ws, b, 3)
		if d := checkSame(t, ws[0], "store down", ps, v.UserID); d != len(ps) {
			t.Fatalf("round %d: %d of %d answers Degraded, want all", round, d, len(ps))
		}
		for _, p := range ps {
			if anontest.HasCookie(p.SetCookie, "DS") || anontest.HasCookie(p.SetCookie, "DSR") {
				t.Fatalf("round %d: a Degraded answer wrote cookies", round)
			}
		}
	}
	if n := ws[0].Emu.Requests("/v1/auth/refresh"); n != 0 {
		t.Fatalf("%d refresh calls with the store down, want none", n)
	}
	if n := log.count(true); n != 3 {
		t.Fatalf("fallback reported %d times, want once per replica (3)", n)
	}
	// New visitors are still provisioned, on local limits.
	if _, p := ws[1].Visitor(t); p.UserID == "" {
		t.Fatal("no visitor provisioned with the store down")
	}

	store.down.Store(false)
	ws[0].Clock.Advance(1100 * time.Millisecond) // past the probe interval
	ps := everyReplica(t, ws, b, 3)
	if d := checkSame(t, ws[0], "store back", ps, v.UserID); d != 0 {
		t.Fatalf("%d answers Degraded once the store is back", d)
	}
	if n := ws[0].Emu.Requests("/v1/auth/refresh"); n != 1 {
		t.Fatalf("%d refresh calls once the store is back, want 1", n)
	}
	if n := log.count(false); n != 3 {
		t.Fatalf("return reported %d times, want once per replica (3)", n)
	}
	if n := len(ws[0].Hooks.All()); n != 0 {
		t.Fatalf("the error hook saw %d errors: %v", n, ws[0].Hooks.All())
	}
}

// A claim on a refresh token whose replica went away (it crashed, or the
// store failed it) stands: the token may be spent, so it is not spent again,
// and the visitor is served Degraded at once rather than after a wait.
func TestReplicasStaleClaimStands(t *testing.T) {
	store := newSwitchStore(time.Now)
	ws := replicas(t, 2, store, nil)
	b, v := ws[0].Visitor(t)
	dsr := ws[0].Jar(b)["DSR"]
	_ = store.Set(context.Background(), anonymous.RefreshOutcomeKey(dsr), anonymous.RefreshClaim(time.Now().Add(-10*time.Second)), time.Minute)
	ws[0].DropCookie(b, "DS")
	ws[0].Emu.ResetRequests()
	p := ws[1].Get(t, b, "/")
	if p.UserID != v.UserID || !p.Degraded || anontest.HasCookie(p.SetCookie, "DSR") {
		t.Fatalf("under a stale claim: %+v, want the visitor, Degraded, no cookie", p)
	}
	if p.Took > 400*time.Millisecond { // a wait would be 550 ms (300 ms timeout + 5 × 50 ms)
		t.Errorf("under a stale claim the request took %v, want no wait", p.Took)
	}
	if n := ws[0].Emu.Requests("/v1/auth/refresh"); n != 0 {
		t.Fatalf("%d refresh calls under another replica's claim, want none", n)
	}
}

// A store slower than the store timeout costs a request about one timeout,
// once; the middleware then works on local state.
func TestSlowStoreIsBounded(t *testing.T) {
	store := newSwitchStore(time.Now)
	log := &fallbackLog{}
	ws := replicas(t, 1, store, log, anonymous.WithGlobalRateLimit(100, time.Minute))
	store.slow.Store(int64(5 * time.Second))
	start := time.Now()
	_, p := ws[0].Visitor(t)
	if took := time.Since(start); took > 2*time.Second || p.UserID == "" {
		t.Fatalf("provisioning with a stalled store took %v (%+v)", took, p)
	}
	calls := store.calls.Load()
	for range 3 {
		ws[0].Visitor(t)
	}
	// At most one probe a second.
	if extra := store.calls.Load() - calls; extra > 1+int64(time.Since(start)/time.Second) {
		t.Fatalf("the stalled store was called %d more times in %v", extra, time.Since(start))
	}
	if log.count(true) != 1 {
		t.Fatalf("fallback reported %d times, want 1", log.count(true))
	}
}

// With rotation and no shared store, a replica whose refresh Descope
// rejects, because another replica rotated the token a moment ago, keeps the
// visitor's identity (Degraded, no cookie) instead of provisioning anew; it
// gives the token up only when it is still presented past refreshGrace.
func TestRejectedRefreshGrace(t *testing.T) {
	emuOpts := []descopetest.Option{descopetest.WithRefreshRotation(), descopetest.WithRefreshReuseDetection(false)}
	a := newWorld(t, emuOpts)
	b := a.Sibling(t)
	// Both replicas have seen Descope rotate refresh tokens.
	for _, w := range []*anontest.Env{a, b} {
		c, _ := w.Visitor(t)
		w.DropCookie(c, "DS")
		if p := w.Get(t, c, "/"); !p.Refreshed {
			t.Fatalf("warm-up refresh: %+v", p)
		}
	}
	c, v := a.Visitor(t)
	spent := a.Jar(c)["DSR"]
	a.DropCookie(c, "DS")
	if p := a.Get(t, c, "/"); !p.Refreshed || p.UserID != v.UserID {
		t.Fatalf("refresh on a: %+v", p)
	}
	withSpent := func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: "DSR", Value: spent})
	}
	p := b.Do(t, b.Browser(t), http.MethodGet, "/", nil, withSpent)
	if p.UserID != v.UserID || !p.Degraded || anontest.HasCookie(p.SetCookie, "DSR") {
		t.Fatalf("the spent token on b: %+v, want the visitor, Degraded, no cookie", p)
	}
	// The browser holds the rotated token: b refreshes it.
	b.DropCookie(c, "DS")
	if p := b.Get(t, c, "/"); !p.Refreshed || p.UserID != v.UserID {
		t.Fatalf("the rotated token on b: %+v", p)
	}
	a.Clock.Advance(31 * time.Second)
	if p := b.Do(t, b.Browser(t), http.MethodGet, "/", nil, withSpent); p.UserID == v.UserID || !p.New {
		t.Fatalf("the spent token past the grace: %+v, want a new visitor", p)
	}
}

// Descope's user-create limit is per project: once one replica meets its
// 429, no replica calls user create again until Retry-After has passed.
func TestReplicasShareTheUserCreatePause(t *testing.T) {
	store := newSwitchStore(time.Now)
	ws := replicas(t, 2, store, nil)
	ws[0].Emu.InjectFault("/v1/mgmt/user/create", descopetest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 60, Times: 1})
	if p := ws[0].Get(t, ws[0].Browser(t), "/"); p.UserID != "" {
		t.Fatalf("provisioned through a 429: %+v", p)
	}
	calls := ws[0].Emu.Requests("/v1/mgmt/user/create")
	ws[1].Hooks.Reset()
	if p := ws[1].Get(t, ws[1].Browser(t), "/"); p.UserID != "" {
		t.Fatalf("the other replica provisioned during the pause: %+v", p)
	}
	if n := ws[0].Emu.Requests("/v1/mgmt/user/create") - calls; n != 0 {
		t.Errorf("the other replica called user create %d times during the pause", n)
	}
	if errs := ws[1].Hooks.All(); len(errs) != 1 || !errors.Is(errs[0], anonymous.ErrRateLimited) {
		t.Errorf("the other replica's hook saw %v, want ErrRateLimited", errs)
	}
}
