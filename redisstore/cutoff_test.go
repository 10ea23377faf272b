package redisstore_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
	"github.com/descope-contrib/anonymous/internal/redistest"
	"github.com/descope-contrib/anonymous/redisstore"
)

// A replica cut off from Redis refuses conversions and promotions (503)
// instead of acting on state the other replicas cannot see: a lock taken,
// a pending conversion recorded, a retirement noted only in its memory.

// prefixes makes each Env group's keys its own.
var prefixes atomic.Int64

// storeOptions shares the state through rdb under prefix. The store timeout
// is generous: a conversion refuses while the store is slower than it, and
// the tests run on busy machines; a cut connection fails at once anyway.
func storeOptions(t *testing.T, rdb redisstore.Client, prefix string) []anonymous.Option {
	t.Helper()
	store, err := redisstore.New(rdb, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	return []anonymous.Option{anonymous.WithStore(store), anonymous.WithStoreTimeout(time.Second)}
}

// cutter is a TCP proxy between one replica's Redis client and the server.
// Cut closes its connections and stops listening, as a network partition
// of that replica alone would.
type cutter struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cut    bool
}

func newCutter(t *testing.T, target string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target}
	t.Cleanup(c.Cut)
	go c.serve()
	return c
}

func (c *cutter) serve() {
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", c.target)
		if err != nil {
			in.Close()
			continue
		}
		c.mu.Lock()
		if c.cut {
			c.mu.Unlock()
			in.Close()
			out.Close()
			return
		}
		c.conns = append(c.conns, in, out)
		c.mu.Unlock()
		go func() { _, _ = io.Copy(out, in); out.Close() }()
		go func() { _, _ = io.Copy(in, out); in.Close() }()
	}
}

// Cut ends every connection through the proxy and refuses new ones.
func (c *cutter) Cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = true
	c.ln.Close()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

// cutPair is two replicas on srv with strategy s: a healthy one, and one
// whose Redis connection goes through a cutter. It returns both and the
// cutter; OnConvert calls of both replicas are counted in hooks.
func cutPair(t *testing.T, srv *redistest.Server, s anonymous.Strategy, hooks *atomic.Int32) (healthy, cutOff *anontest.Env, c *cutter) {
	t.Helper()
	prefix := fmt.Sprintf("cut%d:", prefixes.Add(1))
	hook := anonymous.WithOnConvert(func(_ context.Context, _ string, _ *anonymous.User) error {
		hooks.Add(1)
		return nil
	})
	healthy = anontest.NewEnvWith(t, anontest.Setup{Strategy: s}, nil, append(storeOptions(t, newClient(t, srv), prefix), hook)...)
	c = newCutter(t, srv.Addr)
	rdb := redis.NewClient(&redis.Options{Addr: c.ln.Addr().String(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	cutOff = healthy.Sibling(t, append(storeOptions(t, rdb, prefix), hook)...)
	return healthy, cutOff, c
}

// 8. A verify posted to a replica cut off from Redis and to a healthy one:
// the cut-off replica answers 503 (it cannot see the pending conversion or
// take the lock the other holds), the healthy one converts, once. A start
// on the cut-off replica is refused before Descope is asked anything.
// Meanwhile the cut-off replica still serves its visitors.
func TestCutOffReplicaRefusesConversion(t *testing.T) {
	srv := redistest.Start(t)
	var hooks atomic.Int32
	healthy, cutOff, c := cutPair(t, srv, anonymous.UserBacked, &hooks)
	b, v := healthy.Visitor(t)
	code := healthy.SendCode(t, b, "ada@example.com")
	users := healthy.Emu.UserCount()
	c.Cut()

	healthy.Emu.ResetRequests()
	if st := cutOff.Start(t, b, "bob@example.com"); st.Status != http.StatusServiceUnavailable {
		t.Errorf("start on the cut-off replica: %+v", st)
	}
	if n := healthy.Calls(); n != 0 {
		t.Errorf("the refused start made %d calls to Descope", n)
	}
	if p := cutOff.Verify(t, b, "ada@example.com", code); p.Status != http.StatusServiceUnavailable {
		t.Errorf("verify on the cut-off replica: %+v", p)
	}
	if p := healthy.Verify(t, b, "ada@example.com", code); p.Status != http.StatusOK || p.UserID != v.UserID || p.Anonymous {
		t.Errorf("verify on the healthy replica: %+v", p)
	}
	if p := cutOff.Verify(t, b, "ada@example.com", code); p.Status == http.StatusOK {
		t.Errorf("verify on the cut-off replica after the conversion: %+v", p)
	}
	if n := hooks.Load(); n != 1 {
		t.Errorf("OnConvert called %d times, want 1", n)
	}
	if n := healthy.Emu.UserCount(); n != users {
		t.Errorf("%d users, was %d", n, users)
	}
	// The rest of the middleware goes on without Redis.
	if me := cutOff.Get(t, b, "/"); me.Status != http.StatusOK || me.UserID != v.UserID {
		t.Errorf("the converted visitor on the cut-off replica: %+v", me)
	}
	if _, me := cutOff.Visitor(t); me.UserID == "" {
		t.Error("no new visitor on the cut-off replica")
	}
}

// 8. A promotion posted to a replica cut off from Redis and to a healthy
// one: 503 and 200, one user created, one hook call.
func TestCutOffReplicaRefusesPromotion(t *testing.T) {
	srv := redistest.Start(t)
	var hooks atomic.Int32
	healthy, cutOff, c := cutPair(t, srv, anonymous.NativeTokens, &hooks)
	b, _ := healthy.Visitor(t)
	users := healthy.Emu.UserCount()
	c.Cut()
	if p := cutOff.Post(t, b, "/x/promote", nil); p.Status != http.StatusServiceUnavailable {
		t.Errorf("promotion on the cut-off replica: %+v", p)
	}
	if p := healthy.Post(t, b, "/x/promote", nil); p.Status != http.StatusOK || p.UserID == "" {
		t.Errorf("promotion on the healthy replica: %+v", p)
	}
	if n := healthy.Emu.UserCount() - users; n != 1 || hooks.Load() != 1 {
		t.Errorf("%d users created, %d hook calls; want 1 and 1", n, hooks.Load())
	}
}

// 8. The local cookie of a visitor promoted on one replica proves nothing
// on any replica afterwards: refused (401) where Redis answers, and 503
// where it does not, never promoted a second time.
func TestCutOffReplicaRefusesRetiredLocalCookie(t *testing.T) {
	srv := redistest.Start(t)
	var hooks atomic.Int32
	healthy, cutOff, c := cutPair(t, srv, anonymous.LocalIDs, &hooks)
	b, _ := healthy.Visitor(t)
	old := healthy.Cookie(b, "DSL")
	if p := healthy.Post(t, b, "/x/promote", nil); p.Status != http.StatusOK {
		t.Fatalf("promotion: %+v", p)
	}
	users := healthy.Emu.UserCount()
	c.Cut()
	for _, w := range []*anontest.Env{cutOff, healthy} {
		replay := w.Browser(t)
		w.SetCookie(replay, "DSL", old)
		want := http.StatusUnauthorized
		if w == cutOff {
			want = http.StatusServiceUnavailable
		}
		if p := w.Post(t, replay, "/x/promote", nil); p.Status != want {
			t.Errorf("the old local cookie promoted on the %s replica: %+v, want %d", map[bool]string{true: "cut-off", false: "healthy"}[w == cutOff], p, want)
		}
		if p := w.Start(t, replay, "eve@example.com"); p.Status != want {
			t.Errorf("the old local cookie started a conversion: %+v, want %d", p, want)
		}
	}
	if n := healthy.Emu.UserCount(); n != users || hooks.Load() != 1 {
		t.Errorf("%d users (was %d), %d hook calls; want one promotion", n, users, hooks.Load())
	}
}
