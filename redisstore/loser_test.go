package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
	"github.com/descope-contrib/anonymous/internal/redistest"
)

// The loser of a double-submitted conversion finish on two replicas sharing
// one Redis: the winner converts on one, the loser's request reaches the
// other. Its answer must set no identity cookie, so that a browser that
// processes it after the winner's is still the converted user. The session
// cookie had expired (the browser dropped it): both requests carry the
// refresh cookie alone and are refreshed on the way in, once for both
// through Redis.

// loserStage holds a request sent with X-Hold after the middleware until
// release is closed, and reports a finish that found the conversion lock
// held in busy.
type loserStage struct {
	reached, release, busy chan struct{}
	once                   sync.Once
}

func (c *loserStage) free() { c.once.Do(func() { close(c.release) }) }

func (c *loserStage) mount(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
	return m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Hold") != "" {
			c.reached <- struct{}{}
			<-c.release
		}
		app.ServeHTTP(w, r)
	}))
}

func (c *loserStage) observe(_ context.Context, ev anonymous.Event) {
	if ev.Kind == anonymous.EventConversionFailed && errors.Is(ev.Err, anonymous.ErrConversionInProgress) {
		select {
		case c.busy <- struct{}{}:
		default:
		}
	}
}

func TestDoubleSubmitLoserOnRedisReplicas(t *testing.T) {
	srv := redistest.Start(t)
	settings := append([]struct {
		name string
		opts []descopetest.Option
	}{{"no rotation", nil}}, rotations...)
	for _, s := range []anonymous.Strategy{anonymous.UserBacked, anonymous.NativeTokens} {
		for _, rot := range settings {
			for _, mode := range []string{"lock held", "refreshed before", "provisioned"} {
				t.Run(s.String()+"/"+rot.name+"/"+mode, func(t *testing.T) {
					c := &loserStage{reached: make(chan struct{}, 1), release: make(chan struct{}), busy: make(chan struct{}, 1)}
					defer c.free()
					prefix := fmt.Sprintf("loser%d:", prefixes.Add(1))
					opts := func() []anonymous.Option {
						return append(storeOptions(t, newClient(t, srv), prefix), anonymous.WithObserver(c.observe))
					}
					a := anontest.NewEnvWith(t, anontest.Setup{Strategy: s, Mount: c.mount}, rot.opts, opts()...)
					b := a.Sibling(t, opts()...)
					v, anon := a.Visitor(t)
					const addr = "redis-loser@example.com"
					code := a.SendCode(t, v, addr)
					a.DropCookie(v, "DS")
					cookie := "DSR=" + a.Cookie(v, "DSR")
					send := func(w *anontest.Env, hold bool) anontest.Me {
						return w.Do(t, w.Browser(t), http.MethodPost, "/convert/verify", map[string]string{"email": addr, "code": code}, func(r *http.Request) {
							r.Header.Set("Cookie", cookie)
							if hold {
								r.Header.Set("X-Hold", "1")
							}
						})
					}
					var win, lose anontest.Me
					switch mode {
					case "lock held": // the winner holds the lock, at Descope
						a.Emu.InjectFault("/v1/auth/otp/verify/email", descopetest.Fault{Times: 1, Before: func() {
							c.reached <- struct{}{}
							<-c.release
						}})
						won, lost := make(chan anontest.Me, 1), make(chan anontest.Me, 1)
						go func() { won <- send(a, false) }()
						<-c.reached
						go func() { lost <- send(b, false) }()
						<-c.busy
						c.free()
						win, lose = <-won, <-lost
					case "refreshed before": // refreshed, then its finish runs after the winner's
						lost := make(chan anontest.Me, 1)
						go func() { lost <- send(b, true) }()
						<-c.reached
						win = send(a, false)
						c.free()
						lose = <-lost
					default: // sent before the winner answered, served after it
						win = send(a, false)
						lose = send(b, false)
					}
					if win.Status != http.StatusOK || win.Anonymous || (s == anonymous.UserBacked) != (win.UserID == anon.UserID) {
						t.Fatalf("the winner answered %d %s", win.Status, win.Body)
					}
					if lose.Status != http.StatusConflict && lose.Status != http.StatusUnauthorized {
						t.Fatalf("the loser answered %d %s", lose.Status, lose.Body)
					}
					for _, ck := range lose.SetCookie {
						if ck.Name == "DS" || ck.Name == "DSR" {
							t.Errorf("the loser (%d %s) sets %s", lose.Status, strings.TrimSpace(lose.Body), ck.Name)
						}
					}
					// The browser processes the winner's answer, then the loser's.
					u, _ := url.Parse(a.Server.URL)
					v.Jar.SetCookies(u, win.SetCookie)
					v.Jar.SetCookies(u, lose.SetCookie)
					for _, w := range []*anontest.Env{b, a} {
						if me := w.Get(t, v, "/whoami"); me.UserID != win.UserID || me.Anonymous {
							t.Fatalf("after the winner's answer, then the loser's: %+v, want the converted user %s", me, win.UserID)
						}
						w.DropCookie(v, "DS")
					}
				})
			}
		}
	}
}
