package anonymous_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// The root package's tests run on the one test harness, anontest.Env. The
// reliability and security tests (faults, forged input, floods, load) build
// it with newWorld, this file's preset, and share the checks in anontest's
// checks.go. This file also holds the helpers that tests in several files
// share.

// TestMain runs the wall-clock-bound tests eight at a time (see
// anontest.DefaultParallel).
func TestMain(m *testing.M) {
	anontest.DefaultParallel(8)
	os.Exit(m.Run())
}

// worldSetup is the harness setup of newWorld: plain net/http, a 300 ms
// timeout, and the middleware on the Env's clock.
var worldSetup = anontest.Setup{Timeout: 300 * time.Millisecond, Clock: anonymous.WithClock}

// newWorld starts an emulator (seconds unit on) and a middleware with a 300 ms
// timeout on the Env's clock, its own rate limits off, and an error hook that
// records and lets the request go on; opts come last.
func newWorld(t testing.TB, emuOpts []descopetest.Option, opts ...anonymous.Option) *anontest.Env {
	t.Helper()
	return anontest.NewEnvWith(t, worldSetup, emuOpts, opts...)
}

// netHTTP mounts the middleware the plain net/http way.
func netHTTP(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
	return m.Handler(app)
}

// appData is the application's data keyed by user ID, which its OnConvert
// hook (move) carries over to the user a visitor becomes.
type appData struct {
	mu   sync.Mutex
	data map[string][]string
	fail error
}

func (s *appData) move(_ context.Context, from string, u *anonymous.User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if from != u.ID {
		s.data[u.ID] = append(s.data[u.ID], s.data[from]...)
		delete(s.data, from)
	}
	return nil
}

func (s *appData) get(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data[id]
}

// wrongCode returns a one-time code other than code.
func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// cookieHeader is a request edit that sends v as the Cookie header.
func cookieHeader(v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Cookie", v) }
}

// claimsOf decodes the payload of a compact JWS without checking anything.
func claimsOf(t testing.TB, tok string) map[string]any {
	t.Helper()
	c, err := descopetest.Claims(tok)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// existing counts the users among ids that emu still holds.
func existing(emu *descopetest.Emulator, ids []string) int {
	n := 0
	for _, id := range ids {
		if _, ok := emu.User(id); ok {
			n++
		}
	}
	return n
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newTestLogger logs text lines to w, at every level.
func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// cullClock is a clock for Cull that only Cull's waits move: its sleep
// records the wait and advances the clock at once, so a test asserts the
// waits without waiting them out.
type cullClock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

func newCullClock() *cullClock { return &cullClock{t: time.Now()} }

func (c *cullClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *cullClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.t = c.t.Add(d)
	return nil
}

func (c *cullClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// options returns o on the clock c.
func (c *cullClock) options(o anonymous.CullOptions) anonymous.CullOptions {
	o.Now = c.now
	anonymous.CullClock(&o, c.now, c.sleep)
	return o
}

// took returns the waits so far and forgets them.
func (c *cullClock) took() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.waits
	c.waits = nil
	return w
}

// successes counts the 200s among the statuses of concurrent requests, and
// fails the test on anything but 200 and 409 (and 401 when retires: the
// requests are of a native or local identity a success retires).
func successes(t *testing.T, statuses []int, retires bool) int {
	t.Helper()
	ok := 0
	for _, s := range statuses {
		switch {
		case s == http.StatusOK:
			ok++
		case s == http.StatusConflict:
		case s == http.StatusUnauthorized && retires:
			// A native or local identity the winner retired: a request
			// that arrives after it proves nothing (ErrNoSession).
		default:
			t.Errorf("status %d among %v", s, statuses)
		}
	}
	return ok
}

// refusesReplay checks that the retired identity replay presents neither
// promotes nor converts: 401 each, no user created, and the hook, which
// counts its calls in hooks, called once in all (by the step that retired
// the identity).
func refusesReplay(t *testing.T, env *anontest.Env, replay *http.Client, hooks *atomic.Int32) {
	t.Helper()
	users := env.Emu.UserCount()
	if me := env.Post(t, replay, "/x/promote", nil); me.Status != http.StatusUnauthorized {
		t.Errorf("promotion replayed: %+v", me)
	}
	if me := env.Post(t, replay, "/convert/start", map[string]string{"email": "eve@example.com"}); me.Status != http.StatusUnauthorized {
		t.Errorf("conversion replayed: %+v", me)
	}
	if env.Emu.UserCount() != users || hooks.Load() != 1 {
		t.Errorf("after the replays: %d users (was %d), %d hook calls", env.Emu.UserCount(), users, hooks.Load())
	}
}
