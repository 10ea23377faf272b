package anonymous_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// The loser of a double-submitted conversion finish. Both requests carry the
// same cookies, sent while the visitor's session cookie had expired (the
// browser drops it at its Max-Age: the request carries the refresh cookie
// alone, as in rotation_test.go), so the middleware refreshes on the way in
// and writes the refreshed anonymous cookies on both responses (or, on a
// request that reaches it after the winner revoked the refresh token,
// provisions a new visitor and writes its cookies). One finish converts;
// the browser processes the winner's answer first and the loser's after it
// (the bad order), and must still be the converted user.

// loserControl stages the race: a request sent with the header X-Hold
// waits in front of the application (after the middleware) until release
// is closed, once it reported in reached; busy reports a finish that found
// the conversion lock held.
type loserControl struct {
	reached chan struct{}
	release chan struct{}
	busy    chan struct{}
	once    sync.Once
}

func newLoserControl() *loserControl {
	return &loserControl{reached: make(chan struct{}, 1), release: make(chan struct{}), busy: make(chan struct{}, 1)}
}

// free lets a held request (or a held Descope call) go on.
func (c *loserControl) free() { c.once.Do(func() { close(c.release) }) }

// mount serves app through m.Handler, with the hold in between.
func (c *loserControl) mount(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
	return m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Hold") != "" {
			c.reached <- struct{}{}
			<-c.release
		}
		app.ServeHTTP(w, r)
	}))
}

// observe notes a finish that found the lock held.
func (c *loserControl) observe(_ context.Context, ev anonymous.Event) {
	if ev.Kind == anonymous.EventConversionFailed && errors.Is(ev.Err, anonymous.ErrConversionInProgress) {
		select {
		case c.busy <- struct{}{}:
		default:
		}
	}
}

// The ways the loser's request meets the winner's.
const (
	// The winner holds the conversion lock (held in its code verify at
	// Descope) when the loser's finish comes: ErrConversionInProgress.
	loserLockHeld = "lock held"
	// The loser's request was refreshed before the winner converted, and
	// its finish runs after: nothing pending, or the identity retired.
	loserRefreshedBefore = "refreshed before the winner converted"
	// The loser's request was sent before the winner answered and reaches
	// the server after it converted: its refresh token is revoked, so the
	// middleware provisions a new visitor on the way in.
	loserProvisioned = "provisioned on the way in"
	// Both at once, as they come.
	loserParallel = "parallel"
)

var loserModes = []string{loserLockHeld, loserRefreshedBefore, loserProvisioned, loserParallel}

// loserRotations are the emulator's readings of refresh-token rotation:
// off, and on with and without reuse detection.
var loserRotations = []struct {
	name string
	opts []descopetest.Option
}{
	{"no rotation", nil},
	{"rotation, reuse detection", []descopetest.Option{descopetest.WithRefreshRotation()}},
	{"rotation, no reuse detection", []descopetest.Option{descopetest.WithRefreshRotation(), descopetest.WithRefreshReuseDetection(false)}},
}

// loserWorld builds the winner's replica a and the loser's b (a itself, or
// a second replica sharing a store with a) for strategy s, staged by c.
func loserWorld(t *testing.T, s anonymous.Strategy, emuOpts []descopetest.Option, replicas bool, c *loserControl, opts ...anonymous.Option) (a, b *anontest.Env) {
	t.Helper()
	setup := anontest.Setup{Strategy: s, Clock: anonymous.WithClock, Mount: c.mount}
	opts = append([]anonymous.Option{anonymous.WithObserver(c.observe)}, opts...)
	if replicas {
		opts = append(opts, anonymous.WithStore(newSwitchStore(time.Now)))
	}
	a = anontest.NewEnvWith(t, setup, emuOpts, opts...)
	if !replicas {
		return a, a
	}
	return a, a.Sibling(t, opts...)
}

// cookieLine is the Cookie header b's jar sends w now.
func cookieLine(w *anontest.Env, b *http.Client) string {
	u, _ := url.Parse(w.Server.URL)
	var parts []string
	for _, c := range b.Jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// land lets the browser b process answers, in the order given.
func land(w *anontest.Env, b *http.Client, answers ...anontest.Me) {
	u, _ := url.Parse(w.Server.URL)
	for _, me := range answers {
		b.Jar.SetCookies(u, me.SetCookie)
	}
}

// identityCookies returns the names of the identity cookies me sets.
func identityCookies(me anontest.Me) []string {
	var names []string
	for _, c := range me.SetCookie {
		if c.Name == "DS" || c.Name == "DSR" || c.Name == "DSL" {
			names = append(names, c.Name)
		}
	}
	return names
}

// doubleSubmit sends the finish path with body twice with the Cookie header
// cookie, the winner's to a and the loser's to b, staged as mode says, and
// returns the winner's answer and the loser's. verifyPath is the Descope
// path the winner's finish calls to verify (for loserLockHeld).
func doubleSubmit(t *testing.T, a, b *anontest.Env, c *loserControl, mode, path string, body any, cookie, verifyPath string) (win, lose anontest.Me) {
	t.Helper()
	send := func(w *anontest.Env, hold bool) anontest.Me {
		return w.Do(t, w.Browser(t), http.MethodPost, path, nil, func(r *http.Request) {
			anontest.JSONBody(t, body)(r)
			cookieHeader(cookie)(r)
			if hold {
				r.Header.Set("X-Hold", "1")
			}
		})
	}
	answers := make(chan anontest.Me, 2)
	defer c.free()
	switch mode {
	case loserLockHeld:
		a.Emu.InjectFault(verifyPath, descopetest.Fault{Times: 1, Before: func() {
			c.reached <- struct{}{}
			<-c.release
		}})
		won := make(chan anontest.Me, 1)
		go func() { won <- send(a, false) }()
		<-c.reached // the winner holds the lock, at Descope
		go func() { answers <- send(b, false) }()
		<-c.busy // the loser found it held
		c.free()
		return <-won, <-answers
	case loserRefreshedBefore:
		go func() { answers <- send(b, true) }()
		<-c.reached // refreshed, not yet at its finish
		win = send(a, false)
		c.free()
		return win, <-answers
	case loserProvisioned:
		win = send(a, false)
		return win, send(b, false)
	}
	go func() { answers <- send(a, false) }()
	go func() { answers <- send(b, false) }()
	first, second := <-answers, <-answers
	if second.Status == http.StatusOK {
		return second, first
	}
	return first, second
}

// loserLeavesWinner checks the answers of a double submit, then lands them
// on the visitor's browser v in the bad order (the winner's, then the
// loser's): its next requests must be the converted user want (not
// anonymous), with its session cookie and without.
func loserLeavesWinner(t *testing.T, w *anontest.Env, v *http.Client, mode string, win, lose anontest.Me, anonID, want string) {
	t.Helper()
	if win.Status != http.StatusOK || win.Anonymous || (want != "" && win.UserID != want) {
		t.Fatalf("the winner answered %d %s, want the conversion of %s", win.Status, win.Body, anonID)
	}
	if want == "" {
		want = win.UserID
	}
	if lose.Status != http.StatusConflict && lose.Status != http.StatusUnauthorized {
		t.Fatalf("the loser answered %d %s, want 409 or 401", lose.Status, lose.Body)
	}
	if mode == loserLockHeld && !strings.Contains(lose.Body, "conversion_in_progress") {
		t.Errorf("the loser answered %d %s, want conversion_in_progress", lose.Status, lose.Body)
	}
	if names := identityCookies(lose); len(names) != 0 {
		t.Errorf("the loser (%d %s) sets %v", lose.Status, strings.TrimSpace(lose.Body), names)
	}
	land(w, v, win, lose)
	if me := w.Get(t, v, "/whoami"); me.Status != http.StatusOK || me.UserID != want || me.Anonymous {
		t.Fatalf("after the winner's answer, then the loser's: %+v, want the converted user %s", me, want)
	}
	w.DropCookie(v, "DS")
	if me := w.Get(t, v, "/whoami"); me.Status != http.StatusOK || me.UserID != want || me.Anonymous || me.New {
		t.Fatalf("once the session cookie expired: %+v, want the converted user %s", me, want)
	}
}

// A double-submitted code verify, for user-backed and native visitors,
// with and without rotation, on one replica and on two sharing a store:
// whatever way the loser meets the winner, its answer sets no identity
// cookie, and the browser that lands it after the winner's is the
// converted user.
func TestDoubleSubmitLoserKeepsWinnersCookies(t *testing.T) {
	for _, s := range []anonymous.Strategy{anonymous.UserBacked, anonymous.NativeTokens} {
		for _, rot := range loserRotations {
			for _, replicas := range []bool{false, true} {
				for _, mode := range loserModes {
					name := s.String() + "/" + rot.name + "/one replica/" + mode
					if replicas {
						name = s.String() + "/" + rot.name + "/two replicas/" + mode
					}
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						c := newLoserControl()
						a, b := loserWorld(t, s, rot.opts, replicas, c)
						v, anon := a.Visitor(t)
						const addr = "loser@example.com"
						code := a.SendCode(t, v, addr)
						a.DropCookie(v, "DS")
						body := map[string]string{"email": addr, "code": code}
						win, lose := doubleSubmit(t, a, b, c, mode, "/convert/verify", body, cookieLine(a, v), "/v1/auth/otp/verify/email")
						want := anon.UserID // user-backed: the same user ID
						if s == anonymous.NativeTokens {
							want = ""
							if win.UserID == anon.UserID {
								t.Fatalf("a native conversion kept the anonymous ID %s", anon.UserID)
							}
						}
						loserLeavesWinner(t, a, v, mode, win, lose, anon.UserID, want)
					})
				}
			}
		}
	}
}

// The same with a social login's finish (a method bound by a token, not an
// address), for user-backed and native visitors, on two replicas.
func TestDoubleSubmitLoserKeepsWinnersCookiesOAuth(t *testing.T) {
	for _, s := range []anonymous.Strategy{anonymous.UserBacked, anonymous.NativeTokens} {
		for _, rot := range loserRotations {
			for _, mode := range loserModes {
				t.Run(s.String()+"/"+rot.name+"/"+mode, func(t *testing.T) {
					t.Parallel()
					c := newLoserControl()
					a, b := loserWorld(t, s, rot.opts, true, c, anonymous.WithOAuthRedirectURLs(oauthCallback))
					v, anon := a.Visitor(t)
					q := providerAnswer(t, startOAuth(t, a, v), "social@example.com", "allow")
					a.DropCookie(v, "DS")
					body := map[string]string{"code": q.Get("code"), "state": q.Get("state")}
					win, lose := doubleSubmit(t, a, b, c, mode, "/convert/oauth/finish", body, cookieLine(a, v), "/v1/auth/oauth/exchange")
					if win.UserID == anon.UserID {
						t.Fatalf("a social login kept the anonymous ID %s", anon.UserID)
					}
					loserLeavesWinner(t, a, v, mode, win, lose, anon.UserID, "")
				})
			}
		}
	}
}

// A local visitor's cookie sealed under a key the deployment has since
// moved from is sealed again on every answer: both finishes of a double
// submit carry the old local ID cookie. The winner's answer expires it;
// the loser's must not bring it back, or the browser would fall back on
// the retired local identity (whose data OnConvert moved) once its
// regular session is gone.
func TestDoubleSubmitLoserLocalKeepsNoLocalID(t *testing.T) {
	newKey := []byte("loser_test: the key local IDs moved to, 48 bytes!")
	for _, replicas := range []bool{false, true} {
		for _, mode := range loserModes {
			if mode == loserProvisioned {
				// A retired local ID is identified on the way in (the hot
				// path reads no store) and its finish fails as in
				// loserRefreshedBefore: nothing is provisioned.
				continue
			}
			name := "one replica/" + mode
			if replicas {
				name = "two replicas/" + mode
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				c := newLoserControl()
				store := newSwitchStore(time.Now)
				opts := []anonymous.Option{anonymous.WithLocalKeys(newKey, anontest.LocalKey), anonymous.WithStore(store), anonymous.WithObserver(c.observe)}
				a := anontest.NewEnvWith(t, anontest.Setup{Strategy: anonymous.LocalIDs, Clock: anonymous.WithClock, Mount: c.mount}, nil, opts...)
				b := a
				if replicas {
					b = a.Sibling(t, opts...)
				}
				old := a.Sibling(t, anonymous.WithStore(store)) // seals with anontest.LocalKey alone
				v, anon := old.Visitor(t)
				const addr = "local-loser@example.com"
				code := old.SendCode(t, v, addr)
				sealed := old.Cookie(v, "DSL")
				body := map[string]string{"email": addr, "code": code}
				// The staging: the replicas seal the visitor's cookie again.
				if me := b.Do(t, b.Browser(t), http.MethodGet, "/", nil, cookieHeader("DSL="+sealed)); me.UserID != anon.UserID || !slices.Contains(identityCookies(me), "DSL") {
					t.Fatalf("the old local ID cookie on the new key: %+v", me)
				}
				win, lose := doubleSubmit(t, a, b, c, mode, "/convert/verify", body, cookieLine(a, v), "/v1/auth/otp/verify/email")
				if win.UserID == anon.UserID {
					t.Fatalf("a local conversion kept the local ID %s", anon.UserID)
				}
				loserLeavesWinner(t, a, v, mode, win, lose, anon.UserID, "")
				if got := a.Cookie(v, "DSL"); got != "" {
					t.Errorf("the browser holds a local ID cookie after the conversion")
				}
				// Once the regular session is gone (logged out elsewhere,
				// expired), the browser is a new visitor, never the
				// retired local ID.
				a.DropCookie(v, "DS")
				a.DropCookie(v, "DSR")
				if me := a.Get(t, v, "/whoami"); me.UserID == anon.UserID {
					t.Errorf("without the regular session the browser is the retired local ID again: %+v", me)
				}
			})
		}
	}
}

// The same with [anonymous.Middleware.CompleteConversion] after the
// application's own flow verified an email (user-backed visitors), on two
// replicas.
func TestDoubleSubmitLoserKeepsWinnersCookiesComplete(t *testing.T) {
	for _, rot := range loserRotations {
		for _, mode := range loserModes {
			t.Run(rot.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				c := newLoserControl()
				a, b := loserWorld(t, anonymous.UserBacked, rot.opts, true, c)
				v, anon := a.Visitor(t)
				flowAddsEmail(t, a, v, anon.UserID, "adopted@example.com", true)
				a.DropCookie(v, "DS")
				win, lose := doubleSubmit(t, a, b, c, mode, "/convert/complete", map[string]string{}, cookieLine(a, v), "/v1/mgmt/user")
				loserLeavesWinner(t, a, v, mode, win, lose, anon.UserID, anon.UserID)
			})
		}
	}
}

// A finish that fails for an ordinary reason keeps the cookies the
// middleware refreshed on the way in: with rotation, the refresh cookie the
// request carried is rotated out, and only the answer's is live. A wrong
// code; a verify when nothing was started; and a double submit whose
// winner fails (a wrong code, held at Descope while the loser finds the
// lock): no conversion, so the loser, which waits for the winner's
// outcome, keeps them too.
func TestDoubleSubmitOrdinaryFailureKeepsRefreshedCookies(t *testing.T) {
	for _, s := range []anonymous.Strategy{anonymous.UserBacked, anonymous.NativeTokens} {
		for _, rot := range loserRotations {
			for _, what := range []string{"wrong code", "nothing started", "the winner fails"} {
				t.Run(s.String()+"/"+rot.name+"/"+what, func(t *testing.T) {
					t.Parallel()
					c := newLoserControl()
					a, b := loserWorld(t, s, rot.opts, true, c)
					v, anon := a.Visitor(t)
					const addr = "ordinary@example.com"
					code := "000000"
					if what != "nothing started" {
						code = wrongOf(a.SendCode(t, v, addr))
					}
					a.DropCookie(v, "DS")
					body := map[string]string{"email": addr, "code": code}
					var answers []anontest.Me
					if what == "the winner fails" {
						win, lose := doubleSubmit(t, a, b, c, loserLockHeld, "/convert/verify", body, cookieLine(a, v), "/v1/auth/otp/verify/email")
						if !strings.Contains(lose.Body, "conversion_in_progress") {
							t.Fatalf("the loser answered %d %s, want conversion_in_progress", lose.Status, lose.Body)
						}
						answers = []anontest.Me{win, lose}
					} else {
						answers = []anontest.Me{b.Do(t, b.Browser(t), http.MethodPost, "/convert/verify", body, cookieHeader(cookieLine(a, v)))}
					}
					for _, me := range answers {
						if me.Status == http.StatusOK {
							t.Fatalf("a verify with code %s answered 200 %s", code, me.Body)
						}
						want := []string{"DS"}
						if rot.opts != nil {
							want = []string{"DS", "DSR"}
						}
						if got := identityCookies(me); !slices.Equal(got, want) {
							t.Errorf("a failed verify (%d %s) sets %v, want the refreshed %v", me.Status, strings.TrimSpace(me.Body), got, want)
						}
					}
					land(a, v, answers...)
					for range 2 {
						if me := a.Get(t, v, "/whoami"); me.Status != http.StatusOK || me.UserID != anon.UserID || !me.Anonymous || me.New {
							t.Fatalf("after the failed verify: %+v, want the anonymous visitor %s", me, anon.UserID)
						}
						a.DropCookie(v, "DS") // and again once it expired: the refresh cookie held is live
					}
				})
			}
		}
	}
}

// wrongOf returns a six-digit code other than code.
func wrongOf(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// A conversion notes its anonymous identity for a minute (convertedFor at
// the default timeout), with an empty value: the bound the documents give.
func TestConversionNoteLifetime(t *testing.T) {
	clock := &anontest.Clock{}
	store := newSwitchStore(clock.Now)
	for _, s := range anontest.Strategies {
		w := anontest.NewEnvWith(t, anontest.Setup{Strategy: s, Timeout: 5 * time.Second}, nil, anonymous.WithStore(store))
		v, anon := w.Visitor(t)
		if me := w.Convert(t, v, s.String()+"@example.com"); me.Status != http.StatusOK {
			t.Fatalf("%s: convert: %d %s", s, me.Status, me.Body)
		}
		key := "conv:converted:" + anon.UserID
		ctx := context.Background()
		if val, ok, err := store.Get(ctx, key); err != nil || !ok || len(val) != 0 {
			t.Fatalf("%s: %s: %q %v %v, want an empty note", s, key, val, ok, err)
		}
		clock.Advance(59 * time.Second)
		if _, ok, _ := store.Get(ctx, key); !ok {
			t.Errorf("%s: the note is gone before its minute", s)
		}
		clock.Advance(2 * time.Second)
		if _, ok, _ := store.Get(ctx, key); ok {
			t.Errorf("%s: the note outlives its minute", s)
		}
	}
}

// The loser of a double-submitted promotion of a native visitor whose
// session cookie expired, for each rotation reading, on one replica and on
// two: however the loser meets the winner, it promotes nothing (one user
// created, one OnConvert call), its answer sets no identity cookie, and the
// browser that lands it after the winner's is the promoted user. In the
// old code a loser provisioned on the way in (its refresh token revoked by
// the winner) was promoted too: a second user, with none of the data,
// under cookies the browser may read last.
func TestDoubleSubmitLoserPromotion(t *testing.T) {
	for _, rot := range loserRotations {
		for _, replicas := range []bool{false, true} {
			// The lock-held meeting is a conversion's (the staging waits
			// for its failure event); the others are a promotion's too.
			for _, mode := range []string{loserRefreshedBefore, loserProvisioned, loserParallel} {
				name := rot.name + "/one replica/" + mode
				if replicas {
					name = rot.name + "/two replicas/" + mode
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					c := newLoserControl()
					a, b := loserWorld(t, anonymous.NativeTokens, rot.opts, replicas, c)
					v, anon := a.Visitor(t)
					a.DropCookie(v, "DS")
					a.Emu.ResetRequests()
					win, lose := doubleSubmit(t, a, b, c, mode, promoteTo(anonymous.UserBacked), nil, cookieLine(a, v), "")
					if win.Status != http.StatusOK || win.UserID == anon.UserID || !win.Anonymous {
						t.Fatalf("the winner: %d %s", win.Status, win.Body)
					}
					if lose.Status != http.StatusConflict && lose.Status != http.StatusUnauthorized {
						t.Errorf("the loser answered %d %s, want 409 or 401", lose.Status, lose.Body)
					}
					if names := identityCookies(lose); len(names) != 0 {
						t.Errorf("the loser (%d %s) sets %v", lose.Status, strings.TrimSpace(lose.Body), names)
					}
					if n := a.Emu.Requests("/v1/mgmt/user/create"); n != 1 {
						t.Errorf("%d users created, want the winner's alone", n)
					}
					conv := a.Converted()
					if b != a {
						conv = append(conv, b.Converted()...)
					}
					if len(conv) != 1 || conv[0] != [2]string{anon.UserID, win.UserID} {
						t.Errorf("OnConvert saw %v", conv)
					}
					land(a, v, win, lose)
					a.DropCookie(v, "DS")
					if me := a.Get(t, v, "/whoami"); me.UserID != win.UserID || me.New {
						t.Errorf("after the winner's answer, then the loser's: %+v, want the promoted user %s", me, win.UserID)
					}
				})
			}
		}
	}
}
