package redisstore_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
	"github.com/descope-contrib/anonymous/internal/redistest"
	"github.com/descope-contrib/anonymous/redisstore"
)

// Conversion with refresh-token rotation on two replicas sharing one Redis:
// a request whose session expired is refreshed on the way in (once for both
// replicas, through Redis), which rotates its refresh cookie out at Descope;
// the conversion spends and revokes the token the refresh handed out. Run
// with Descope's reuse detection on (the emulator's default) and off.

// pair is two replicas on one emulator with rotation, sharing the Redis
// server srv, each with its own Redis client.
func pair(t *testing.T, srv *redistest.Server, emuOpts []descopetest.Option) (a, b *anontest.Env) {
	t.Helper()
	opts := func() []anonymous.Option {
		store, err := redisstore.New(newClient(t, srv))
		if err != nil {
			t.Fatal(err)
		}
		return []anonymous.Option{anonymous.WithSessionTTL(time.Minute), anonymous.WithStore(store),
			anonymous.WithStoreTimeout(time.Second)}
	}
	a = anontest.NewEnvWith(t, anontest.Setup{}, emuOpts, opts()...)
	return a, a.Sibling(t, opts()...)
}

var rotations = []struct {
	name string
	opts []descopetest.Option
}{
	{"reuse detection", []descopetest.Option{descopetest.WithRefreshRotation()}},
	{"no reuse detection", []descopetest.Option{descopetest.WithRefreshRotation(), descopetest.WithRefreshReuseDetection(false)}},
}

// seen is every refresh token the replicas handed one browser.
type seen []string

func (s *seen) note(me anontest.Me) anontest.Me {
	for _, c := range me.SetCookie {
		if c.Name == "DSR" && c.Value != "" && !slices.Contains(*s, c.Value) {
			*s = append(*s, c.Value)
		}
	}
	return me
}

// retiredAll checks, once c's visitor converted to user id: c's next
// request on each replica is that user, no user was created since there
// were users, Descope holds one live refresh token of id (c's), refuses
// every other token c was handed (newest first: with reuse detection a
// rotated-out one revokes its session, hiding a newer one left live), and,
// once c logged out, any.
func retiredAll(t *testing.T, a, b *anontest.Env, c *http.Client, s seen, id string, users int) {
	t.Helper()
	if n := a.Emu.LiveRefreshTokens(id); n != 1 {
		t.Errorf("%d live refresh tokens of the converted user, want 1", n)
	}
	for _, w := range []*anontest.Env{a, b} {
		if me := w.Get(t, c, "/whoami"); me.UserID != id || me.Anonymous || me.New {
			t.Errorf("the next request: %+v, want the converted user %s", me, id)
		}
	}
	if n := a.Emu.UserCount(); n != users {
		t.Errorf("%d users, want %d: the visitor was given a new user", n, users)
	}
	refuses := func(tokens []string) {
		for i := len(tokens) - 1; i >= 0; i-- {
			if _, _, err := a.SDK.Auth.RefreshSessionWithToken(context.Background(), tokens[i]); err == nil {
				t.Errorf("refresh token %d of %d still refreshes at Descope", i+1, len(tokens))
			}
		}
	}
	held := a.Cookie(c, "DSR")
	refuses(slices.DeleteFunc(slices.Clone(s), func(tok string) bool { return tok == held }))
	if me := a.Post(t, c, "/x/logout", nil); me.Status != http.StatusOK {
		t.Fatalf("logout: %+v", me)
	}
	if n := a.Emu.LiveRefreshTokens(id); n != 0 {
		t.Errorf("%d live refresh tokens after logout", n)
	}
	refuses(s)
}

// Start refreshes on one replica, verify on the other; then a double
// submitted verify whose two requests both refresh, one on each replica,
// and share one refresh through Redis.
func TestRotationConversionOnRedisReplicas(t *testing.T) {
	srv := redistest.Start(t)
	for _, rot := range rotations {
		t.Run(rot.name+"/start on one, verify on the other", func(t *testing.T) {
			a, b := pair(t, srv, rot.opts)
			var s seen
			c, v := a.Visitor(t)
			s.note(v)
			users := a.Emu.UserCount()
			const addr = "across@example.com"
			a.DropCookie(c, "DS")
			if st := s.note(a.Post(t, c, "/convert/start", map[string]string{"email": addr})); st.Status != http.StatusOK || len(s) != 2 {
				t.Fatalf("start: %d %s, %d refresh tokens", st.Status, st.Body, len(s))
			}
			code, _ := a.Emu.Outbox(addr)
			b.DropCookie(c, "DS")
			me := s.note(b.Post(t, c, "/convert/verify", map[string]string{"email": addr, "code": code}))
			if me.Status != http.StatusOK || me.UserID != v.UserID || me.Anonymous || len(s) != 4 {
				t.Fatalf("verify: %d %s, %d refresh tokens (hook saw %v)", me.Status, me.Body, len(s), a.Hooks.All())
			}
			retiredAll(t, a, b, c, s, v.UserID, users)
		})
		t.Run(rot.name+"/double submit", func(t *testing.T) {
			a, b := pair(t, srv, rot.opts)
			var s seen
			c, v := a.Visitor(t)
			s.note(v)
			users := a.Emu.UserCount()
			const addr = "twice@example.com"
			code := a.SendCode(t, c, addr)
			a.Emu.ResetRequests()
			cookie := "DSR=" + a.Cookie(c, "DSR") // the session cookie expired
			answers := make(chan anontest.Me, 2)
			for _, w := range []*anontest.Env{a, b} {
				go func() {
					answers <- w.Do(t, w.Browser(t), http.MethodPost, "/convert/verify", nil, func(r *http.Request) {
						anontest.JSONBody(t, map[string]string{"email": addr, "code": code})(r)
						r.Header.Set("Cookie", cookie)
					})
				}()
			}
			var won anontest.Me
			for range 2 {
				me := s.note(<-answers)
				switch me.Status {
				case http.StatusOK:
					if won.Status != 0 {
						t.Fatal("both verifies converted")
					}
					won = me
				case http.StatusConflict, http.StatusUnauthorized:
				default:
					t.Errorf("a verify answered %d %s", me.Status, me.Body)
				}
			}
			if won.UserID != v.UserID || won.Anonymous {
				t.Fatalf("no conversion of %s: %+v (hook saw %v)", v.UserID, won, a.Hooks.All())
			}
			if n := a.Emu.Requests("/v1/auth/refresh"); n != 1 {
				t.Errorf("%d refresh calls for one refresh token on two replicas, want 1", n)
			}
			// The browser keeps the cookies of the conversion, the last
			// answer it reads (the other is a 409 at once, or a 401).
			for _, ck := range won.SetCookie {
				a.SetCookie(c, ck.Name, ck.Value)
			}
			retiredAll(t, a, b, c, s, v.UserID, users)
		})
	}
}

// A conversion retried after a Redis outage: while Redis is down the
// refresh is held (the visitor is served Degraded and the start answers
// 503); once Redis is back the retried start refreshes on the way in, and
// the conversion goes through, where it used to answer 401 "no session".
func TestRotationConversionRetriedAfterRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	for _, rot := range rotations {
		t.Run(rot.name, func(t *testing.T) {
			a, b := pair(t, srv, rot.opts)
			var s seen
			c, v := a.Visitor(t)
			s.note(v)
			// Both replicas have seen Descope rotate: without a store they
			// would not spend a refresh token.
			for _, w := range []*anontest.Env{a, b} {
				x, _ := w.Visitor(t)
				w.DropCookie(x, "DS")
				if p := w.Get(t, x, "/"); !p.Refreshed {
					t.Fatalf("warm-up refresh: %+v", p)
				}
			}
			users := a.Emu.UserCount()
			const addr = "outage@example.com"
			a.DropCookie(c, "DS")
			srv.Stop(t)
			if st := s.note(a.Post(t, c, "/convert/start", map[string]string{"email": addr})); st.Status != http.StatusServiceUnavailable {
				t.Fatalf("start while Redis is down: %d %s", st.Status, st.Body)
			}
			srv.Restart(t)
			// The retry reaches the other replica, which has not seen Redis
			// fail (the first goes on with local state until its next probe).
			if st := s.note(b.Post(t, c, "/convert/start", map[string]string{"email": addr})); st.Status != http.StatusOK {
				t.Fatalf("start retried once Redis is back: %d %s (hook saw %v)", st.Status, st.Body, b.Hooks.All())
			}
			code, _ := a.Emu.Outbox(addr)
			me := s.note(b.Post(t, c, "/convert/verify", map[string]string{"email": addr, "code": code}))
			if me.Status != http.StatusOK || me.UserID != v.UserID || me.Anonymous {
				t.Fatalf("verify: %d %s", me.Status, me.Body)
			}
			retiredAll(t, a, b, c, s, v.UserID, users)
		})
	}
}
