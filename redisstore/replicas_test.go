package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
	"github.com/descope-contrib/anonymous/internal/redistest"
	"github.com/descope-contrib/anonymous/redisstore"
)

// cluster is three replicas of an application: three middlewares, each with
// its own Descope client and Redis client, in front of one emulator, sharing
// one Redis server.
type cluster struct {
	emu      *descopetest.Emulator
	redis    *redistest.Server
	replicas []*replica
	tr       *http.Transport
}

type replica struct {
	mw  *anonymous.Middleware
	srv *httptest.Server

	fallbacks atomic.Int32 // store fallback hook: changes to local state
	returns   atomic.Int32 // store fallback hook: changes back
	mu        sync.Mutex
	errs      []error // what the error hook saw
}

// newCluster starts the emulator (refresh rotation with reuse detection, the
// emulator's default; lifetimes in seconds) and three replicas with
// 2-second sessions on the Redis server srv.
func newCluster(t *testing.T, srv *redistest.Server, opts ...anonymous.Option) *cluster {
	t.Helper()
	emu := descopetest.New(descopetest.WithSecondsUnit(), descopetest.WithRefreshRotation())
	t.Cleanup(emu.Close)
	c := &cluster{emu: emu, redis: srv, tr: http.DefaultTransport.(*http.Transport).Clone()}
	c.tr.MaxIdleConnsPerHost = 100
	t.Cleanup(c.tr.CloseIdleConnections)
	for range 3 {
		r := &replica{}
		store, err := redisstore.New(newClient(t, srv))
		if err != nil {
			t.Fatal(err)
		}
		base := []anonymous.Option{
			anonymous.WithCookieSecure(false),
			anonymous.WithEmulatorLifetimes(),
			anonymous.WithSessionTTL(2 * time.Second),
			anonymous.WithTimeout(2 * time.Second),
			anonymous.WithClientRateLimit(0, 0), // every visitor comes from 127.0.0.1
			anonymous.WithStore(store),
			anonymous.WithStoreTimeout(100 * time.Millisecond),
			anonymous.WithOnStoreFallback(func(_ context.Context, fallingBack bool, _ error) {
				if fallingBack {
					r.fallbacks.Add(1)
				} else {
					r.returns.Add(1)
				}
			}),
			anonymous.WithErrorHandler(func(_ http.ResponseWriter, _ *http.Request, err error) {
				r.mu.Lock()
				r.errs = append(r.errs, err)
				r.mu.Unlock()
			}),
		}
		if os.Getenv("ANON_DEBUG") != "" { // ANON_DEBUG=1 logs what each replica does
			base = append(base, anonymous.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("replica", len(c.replicas))))
		}
		m, err := anonymous.New(emu.MustClient(t), append(base, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Init(context.Background()); err != nil {
			t.Fatal(err)
		}
		r.mw = m
		r.srv = httptest.NewServer(m.Handler(anontest.App(m, nil)))
		t.Cleanup(r.srv.Close)
		c.replicas = append(c.replicas, r)
	}
	return c
}

// answer is what one request saw.
type answer struct {
	status   int
	userID   string
	degraded bool
	err      error
}

// visitor is one browser: a cookie jar, which cookies ignore the port of,
// so the three replicas on 127.0.0.1 see the same cookies.
type visitor struct {
	client *http.Client
	id     string
}

func (c *cluster) newVisitor(t *testing.T) *visitor {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &visitor{client: &http.Client{Jar: jar, Transport: c.tr, Timeout: 10 * time.Second}}
}

func (v *visitor) get(r *replica, path string) answer {
	req, _ := http.NewRequest(http.MethodGet, r.srv.URL+path, nil)
	req.Header.Set("User-Agent", anontest.BrowserUA)
	res, err := v.client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	a := answer{status: res.StatusCode}
	if res.StatusCode == http.StatusOK {
		var me anontest.Me
		if err := json.Unmarshal(body, &me); err != nil {
			a.err = fmt.Errorf("decode %q: %w", body, err)
		}
		a.userID, a.degraded = me.UserID, me.Degraded
	}
	return a
}

func (v *visitor) post(r *replica, path string, body any) int {
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+path, strings.NewReader(string(data)))
	req.Header.Set("User-Agent", anontest.BrowserUA)
	req.Header.Set("Content-Type", "application/json")
	res, err := v.client.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// tally counts what the visitors saw.
type tally struct {
	requests, changes, serverErrors, transport, degraded atomic.Int64
	first                                                sync.Once
	example                                              atomic.Value // string
}

func (t *tally) note(v *visitor, a answer) {
	t.requests.Add(1)
	bad := ""
	switch {
	case a.err != nil:
		t.transport.Add(1)
		bad = a.err.Error()
	case a.status >= 500:
		t.serverErrors.Add(1)
		bad = fmt.Sprintf("status %d", a.status)
	case a.userID != v.id:
		t.changes.Add(1)
		bad = fmt.Sprintf("status %d, user %q instead of %q", a.status, a.userID, v.id)
	}
	if a.degraded {
		t.degraded.Add(1)
	}
	if bad != "" {
		t.first.Do(func() { t.example.Store(bad) })
	}
}

// run has every visitor send one request to every replica at once, wait for
// the three answers, pause a little and start again, until d has passed.
func (c *cluster) run(visitors []*visitor, d time.Duration, tl *tally) {
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i, v := range visitors {
		wg.Go(func() {
			// Spread the visitors over the pause, so that their sessions
			// expire at different moments.
			time.Sleep(time.Duration(i) * 150 * time.Millisecond / time.Duration(len(visitors)))
			for round := 0; round < 1000 && time.Now().Before(deadline); round++ {
				var rw sync.WaitGroup
				for _, r := range c.replicas {
					rw.Add(1)
					go func() {
						defer rw.Done()
						tl.note(v, v.get(r, "/whoami"))
					}()
				}
				rw.Wait()
				time.Sleep(150 * time.Millisecond)
			}
		})
	}
	wg.Wait()
}

func (tl *tally) check(t *testing.T, phase string) {
	t.Helper()
	t.Logf("%s: %d requests, %d identity changes, %d 5xx, %d transport errors, %d Degraded",
		phase, tl.requests.Load(), tl.changes.Load(), tl.serverErrors.Load(), tl.transport.Load(), tl.degraded.Load())
	if tl.changes.Load() != 0 || tl.serverErrors.Load() != 0 || tl.transport.Load() != 0 {
		ex, _ := tl.example.Load().(string)
		t.Errorf("%s: identity changes, 5xx or transport errors; the first: %s", phase, ex)
	}
	if tl.requests.Load() == 0 {
		t.Errorf("%s: no request made", phase)
	}
}

// Thirty visitors, each sending its requests to three replicas at once,
// with 2-second sessions and rotating refresh tokens whose reuse revokes the
// whole session: no visitor ever becomes another user, no request gets a
// 5xx, not while Redis runs, not while it is stopped, not once it is back.
func TestReplicasOnRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 15 seconds")
	}
	srv := redistest.Start(t)
	c := newCluster(t, srv)
	visitors := make([]*visitor, 30)
	for i := range visitors {
		v := c.newVisitor(t)
		a := v.get(c.replicas[i%3], "/whoami")
		if a.err != nil || a.status != http.StatusOK || a.userID == "" {
			t.Fatalf("visitor %d not provisioned: %+v", i, a)
		}
		v.id = a.userID
		visitors[i] = v
	}
	users := c.emu.UserCount()

	up := &tally{}
	c.emu.ResetRequests()
	c.run(visitors, 5*time.Second, up)
	up.check(t, "Redis up")
	refreshes := c.emu.Requests("/v1/auth/refresh")
	t.Logf("Redis up: %d refresh calls to Descope for 30 visitors in 5s of 2s sessions", refreshes)
	if refreshes < 30 {
		t.Errorf("only %d refresh calls: the sessions did not expire during the run", refreshes)
	}
	checkDump(t, c, visitors)

	// Redis stops mid-run: the replicas go on with local state.
	down := &tally{}
	stopped := make(chan struct{})
	go func() {
		time.Sleep(time.Second)
		srv.Stop(t)
		close(stopped)
	}()
	c.run(visitors, 5*time.Second, down)
	<-stopped
	down.check(t, "Redis stopped after 1s")
	if down.degraded.Load() == 0 {
		t.Error("no Degraded answer while Redis was stopped: did the sessions expire?")
	}
	for i, r := range c.replicas {
		if n := r.fallbacks.Load(); n < 1 {
			t.Errorf("replica %d reported no fallback while Redis was stopped", i)
		}
	}

	// Redis is back, empty: the replicas return to it.
	srv.Restart(t)
	back := &tally{}
	c.emu.ResetRequests()
	c.run(visitors, 4*time.Second, back)
	back.check(t, "Redis back")
	for i, r := range c.replicas {
		// Each change is reported once: a return after each fallback (one,
		// unless Redis was also slower than the store timeout on the way;
		// the last fallback may not have returned yet).
		if f, b := r.fallbacks.Load(), r.returns.Load(); b < 1 || f-b < 0 || f-b > 1 {
			t.Errorf("replica %d reported %d fallbacks and %d returns to Redis", i, f, b)
		} else if f > 1 {
			t.Logf("replica %d fell back %d times (Redis slower than the store timeout)", i, f)
		}
	}
	if n := c.emu.Requests("/v1/auth/refresh"); n < 30 {
		t.Errorf("only %d refresh calls once Redis was back", n)
	}
	if n := c.emu.UserCount() - users; n != 0 {
		t.Errorf("%d users created during the run, want none", n)
	}
	for i, r := range c.replicas {
		r.mu.Lock()
		if len(r.errs) > 0 {
			t.Logf("replica %d error hook saw %d errors, the first: %v", i, len(r.errs), r.errs[0])
		}
		r.mu.Unlock()
	}
}

// checkDump reads every key and value Redis holds and fails if any shows a
// token the visitors hold: a dump of Redis alone yields no usable token.
func checkDump(t *testing.T, c *cluster, visitors []*visitor) {
	t.Helper()
	var sigs []string
	for _, v := range visitors {
		for _, r := range c.replicas {
			u, _ := url.Parse(r.srv.URL)
			for _, ck := range v.client.Jar.Cookies(u) {
				if i := strings.LastIndexByte(ck.Value, '.'); i > 0 {
					sigs = append(sigs, ck.Value[i+1:])
				}
			}
		}
	}
	ctx := context.Background()
	rdb := newClient(t, c.redis)
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	values := 0
	for _, k := range keys {
		v, err := rdb.Get(ctx, k).Result()
		if err != nil {
			continue // expired since, or a counter read as a number: shown by the key check
		}
		values++
		for _, s := range sigs {
			if strings.Contains(k, s) || strings.Contains(v, s) {
				t.Fatalf("Redis shows a visitor's token under %q", k)
			}
		}
	}
	t.Logf("Redis dump: %d keys, %d values read, none shows any of the visitors' %d tokens", len(keys), values, len(sigs))
	if len(sigs) == 0 || values == 0 {
		t.Error("nothing to check in the dump")
	}
}

// The global provisioning limit holds for the three replicas together.
func TestReplicasShareProvisioningLimit(t *testing.T) {
	srv := redistest.Start(t)
	c := newCluster(t, srv, anonymous.WithGlobalRateLimit(10, time.Minute))
	users := c.emu.UserCount()
	var wg sync.WaitGroup
	var provisioned atomic.Int32
	for i := range 30 {
		wg.Go(func() {
			if a := c.newVisitor(t).get(c.replicas[i%3], "/whoami"); a.status == http.StatusOK {
				provisioned.Add(1)
			}
		})
	}
	wg.Wait()
	created := c.emu.UserCount() - users
	t.Logf("30 new visitors over 3 replicas with a global limit of 10 a minute: %d provisioned, %d users created", provisioned.Load(), created)
	if created != 10 || provisioned.Load() != 10 {
		t.Fatalf("%d users created (%d visitors provisioned), want 10", created, provisioned.Load())
	}
}

// The one-time-code limits hold for the three replicas together: per address
// (10 in 10 minutes) and per visitor (5).
func TestReplicasShareCodeLimits(t *testing.T) {
	srv := redistest.Start(t)
	c := newCluster(t, srv)
	const target = "victim@example.com"
	// Six visitors ask each replica for a code to one address: 18 asked.
	sent := 0
	for i := range 6 {
		v := c.newVisitor(t)
		if a := v.get(c.replicas[i%3], "/whoami"); a.status != http.StatusOK {
			t.Fatalf("visitor %d: %+v", i, a)
		}
		for _, r := range c.replicas {
			switch st := v.post(r, "/convert/start", map[string]string{"email": target}); st {
			case http.StatusOK:
				sent++
			case http.StatusTooManyRequests:
			default:
				t.Fatalf("start: status %d", st)
			}
		}
	}
	n := c.emu.Requests("/v1/auth/otp/update/email")
	t.Logf("18 codes asked for one address over 3 replicas: %d sent (Descope saw %d)", sent, n)
	if sent != 10 || n != 10 {
		t.Fatalf("%d codes sent to one address (Descope saw %d), want 10", sent, n)
	}

	// One visitor asks each replica for three codes, to fresh addresses.
	c.emu.ResetRequests()
	v := c.newVisitor(t)
	v.get(c.replicas[0], "/whoami")
	sent = 0
	for i := range 9 {
		addr := fmt.Sprintf("own%d@example.com", i)
		if v.post(c.replicas[i%3], "/convert/start", map[string]string{"email": addr}) == http.StatusOK {
			sent++
		}
	}
	if n := c.emu.Requests("/v1/auth/otp/update/email"); sent != 5 || n != 5 {
		t.Fatalf("one visitor got %d codes over 3 replicas (Descope saw %d), want 5", sent, n)
	}
}

// A burst of 1,000 new visitors over three replicas sharing Redis, with the
// create budget of 100 a minute and overflow on: every visitor gets an
// identity on its first request and keeps it on its next (on another
// replica); the replicas together spend one paced slice of the budget per
// 6 s, never more than 100 user creates.
func TestReplicasOverflowBurst(t *testing.T) {
	srv := redistest.Start(t)
	hook := anonymous.WithOnConvert(func(context.Context, string, *anonymous.User) error { return nil })
	c := newCluster(t, srv, anonymous.WithGlobalRateLimit(100, time.Minute), hook,
		anonymous.WithLocalKeys(anontest.LocalKey), anonymous.WithOverflow(true),
		// A burst on a busy machine can hold a store call past the
		// cluster's 100 ms, and a replica that fell back counts alone.
		anonymous.WithStoreTimeout(5*time.Second))
	users := c.emu.UserCount()
	const n = 1000
	began := time.Now()
	var wg sync.WaitGroup
	var next, without, changed, local atomic.Int32
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				v := c.newVisitor(t)
				first := v.get(c.replicas[i%3], "/whoami")
				if first.status != http.StatusOK || first.userID == "" {
					without.Add(1)
					continue
				}
				if anonymous.IsLocalID(first.userID) {
					local.Add(1)
				}
				if again := v.get(c.replicas[(i+1)%3], "/whoami"); again.userID != first.userID {
					changed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	created := c.emu.UserCount() - users
	span := int(time.Since(began)/(6*time.Second)) + 2
	t.Logf("%d new visitors over 3 replicas in %v: %d user-backed, %d local", n, time.Since(began).Round(time.Millisecond), created, local.Load())
	if without.Load() != 0 || changed.Load() != 0 {
		t.Fatalf("%d visitors got no identity, %d lost it on their second request", without.Load(), changed.Load())
	}
	for i, r := range c.replicas {
		if r.fallbacks.Load() != 0 {
			t.Fatalf("replica %d fell back to local state, so the replicas counted apart", i)
		}
	}
	if creates := c.emu.Requests("/v1/mgmt/user/create"); created < 9 || creates != created || created > min(9*span, 100) {
		t.Fatalf("%d user creates (%d users) over %d slices, want 9 to %d", creates, created, span, min(9*span, 100))
	}
	if int(local.Load())+created != n {
		t.Fatalf("%d local and %d user-backed identities for %d visitors", local.Load(), created, n)
	}
}
