package anonymous_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// Refresh-token rotation (a Descope project setting) and conversion. A
// request whose session expired is refreshed on the way in, which rotates
// the refresh cookie it carried out at Descope: conversion and promotion on
// that request must spend the token the refresh handed out (written in the
// response's first Set-Cookie), and in the end revoke it. These tests run
// with Descope's reuse detection on (the emulator's default: presenting a
// rotated-out token revokes the whole session) and off.

// reuseSettings are the emulator's two readings of rotation.
var reuseSettings = []struct {
	name string
	opts []descopetest.Option
}{
	{"reuse detection", []descopetest.Option{descopetest.WithRefreshRotation()}},
	{"no reuse detection", []descopetest.Option{descopetest.WithRefreshRotation(), descopetest.WithRefreshReuseDetection(false)}},
}

// anonSessionTTL is the anonymous sessions' lifetime in these tests.
const anonSessionTTL = time.Minute

// rotationSetup is the harness setup of these tests: the middleware on the
// Env's clock, with the default timeout (they count no wait).
var rotationSetup = anontest.Setup{Clock: anonymous.WithClock}

// rotationWorld starts an emulator with emuOpts and a middleware on
// rotationSetup with anonSessionTTL sessions; opts come last.
func rotationWorld(t *testing.T, emuOpts []descopetest.Option, opts ...anonymous.Option) *anontest.Env {
	t.Helper()
	return anontest.NewEnvWith(t, rotationSetup, emuOpts, append([]anonymous.Option{anonymous.WithSessionTTL(anonSessionTTL)}, opts...)...)
}

// passExpiry lets the sessions the visitor of w, user id, holds expire on
// the middleware's clock: the anonymous tenant's session lifetime is raised
// to 5 minutes at Descope (as an operator would), and the clock moves
// anonSessionTTL on. The sessions issued from then on are live on it: token
// expiry is on the real clock, so the clock cannot pass one session's
// expiry without the next's unless their lifetimes differ.
func passExpiry(t *testing.T, w *anontest.Env, id string) {
	t.Helper()
	u, _ := w.Emu.User(id)
	if len(u.UserTenants) != 1 {
		t.Fatalf("visitor %s is in %d tenants", id, len(u.UserTenants))
	}
	ctx := context.Background()
	ts := w.SDK.Management.Tenant()
	settings, err := ts.GetSettings(ctx, u.UserTenants[0].TenantID)
	if err != nil {
		t.Fatal(err)
	}
	settings.SessionTokenExpiration, settings.SessionTokenExpirationUnit = 5, "minutes"
	if err := ts.ConfigureSettings(ctx, u.UserTenants[0].TenantID, settings); err != nil {
		t.Fatal(err)
	}
	w.Clock.Advance(anonSessionTTL)
}

// trail is every refresh token the server handed one browser, in order.
type trail struct{ tokens []string }

// note records the refresh cookies of an answer, every one of them: a
// conversion writes the one its request's refresh rotated in first, then
// the converted user's.
func (tr *trail) note(me anontest.Me) anontest.Me {
	for _, c := range me.SetCookie {
		if c.Name == "DSR" && c.Value != "" && !slices.Contains(tr.tokens, c.Value) {
			tr.tokens = append(tr.tokens, c.Value)
		}
	}
	return me
}

// rotatedIn counts the refresh cookies of me that are not the last one.
func rotatedIn(me anontest.Me) int {
	n := 0
	for _, c := range me.SetCookie {
		if c.Name == "DSR" && c.Value != "" {
			n++
		}
	}
	return max(n-1, 0)
}

// refused fails the test unless Descope refuses to refresh each of tokens.
// They are tried newest first: with reuse detection, presenting a
// rotated-out token revokes its whole session, which would hide a newer
// token left live.
func refused(t *testing.T, w *anontest.Env, what string, tokens []string) {
	t.Helper()
	for i := len(tokens) - 1; i >= 0; i-- {
		if _, _, err := w.SDK.Auth.RefreshSessionWithToken(context.Background(), tokens[i]); err == nil {
			t.Errorf("%s: refresh token %d of %d still refreshes at Descope", what, i+1, len(tokens))
		}
	}
}

// keepsUser checks that b's next request is the converted user id, no
// longer anonymous, and that no user was created since there were users.
func keepsUser(t *testing.T, w *anontest.Env, b *http.Client, id string, users int) {
	t.Helper()
	if me := w.Get(t, b, "/whoami"); me.Status != http.StatusOK || me.UserID != id || me.Anonymous || me.New {
		t.Errorf("the next request: %+v, want the converted user %s", me, id)
	}
	if n := w.Emu.UserCount(); n != users {
		t.Errorf("%d users, want %d: the visitor was given a new user", n, users)
	}
}

// liveRefresh checks the number of refresh tokens of subject that Descope would
// still refresh: those b was handed, and those it never saw (a conversion's
// own refresh, a verify's tokens).
func liveRefresh(t *testing.T, w *anontest.Env, what, subject string, want int) {
	t.Helper()
	if n := w.Emu.LiveRefreshTokens(subject); n != want {
		t.Errorf("%s: %d live refresh tokens of %s at Descope, want %d", what, n, subject, want)
	}
}

// logsOut logs b's converted session, of user id, out and checks that none
// of the refresh tokens b was ever handed refreshes any more, nor any other.
func logsOut(t *testing.T, w *anontest.Env, b *http.Client, tr *trail, id string) {
	t.Helper()
	if me := w.Post(t, b, "/x/logout", nil); me.Status != http.StatusOK {
		t.Fatalf("logout: %+v", me)
	}
	liveRefresh(t, w, "after logout", id, 0)
	refused(t, w, "after logout", tr.tokens)
}

// A conversion through the handlers whose start, verify or both requests
// come with an expired session (the browser dropped the cookie, or the
// middleware's clock passed its expiry) answers 200 twice, keeps the user
// ID, leaves the visitor that user on its next request (no new user), and
// leaves no refresh token of the anonymous visitor live at Descope: the
// ones rotated in on the converting requests included.
func TestRotationConversionOnRefreshedRequests(t *testing.T) {
	type expiry int
	const (
		none    expiry = iota
		dropped        // the browser dropped DS, its Max-Age passed
		clock          // the middleware's clock passed its expiry (passExpiry)
	)
	cases := []struct {
		name          string
		start, verify expiry
	}{
		{"start refreshed, verify with its cookie", dropped, none},
		{"verify refreshed", none, dropped},
		{"start and verify refreshed", dropped, dropped},
		{"clock past the session's expiry before start", clock, none},
		{"clock past the session's expiry before verify", none, clock},
	}
	for _, rs := range reuseSettings {
		for _, tc := range cases {
			t.Run(rs.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				w := rotationWorld(t, rs.opts)
				tr := &trail{}
				b, v := w.Visitor(t)
				tr.tokens = append(tr.tokens, w.Cookie(b, "DSR"))
				users := w.Emu.UserCount()
				expire := func(e expiry) {
					switch e {
					case dropped:
						w.DropCookie(b, "DS")
					case clock:
						passExpiry(t, w, v.UserID)
					}
				}
				const addr = "rotated@example.com"
				expire(tc.start)
				st := tr.note(w.Post(t, b, "/convert/start", map[string]string{"email": addr}))
				if st.Status != http.StatusOK {
					t.Fatalf("start: %d %s (hook saw %v)", st.Status, st.Body, w.Hooks.All())
				}
				if tc.start != none && len(tr.tokens) < 2 {
					t.Fatal("start: no refresh, or no rotation, on the way in")
				}
				code, ok := w.Emu.Outbox(addr)
				if !ok {
					t.Fatal("no code sent")
				}
				expire(tc.verify)
				before := len(tr.tokens)
				me := tr.note(w.Post(t, b, "/convert/verify", map[string]string{"email": addr, "code": code}))
				if me.Status != http.StatusOK || me.UserID != v.UserID || me.Anonymous {
					t.Fatalf("verify: %d %s (hook saw %v)", me.Status, me.Body, w.Hooks.All())
				}
				if got := rotatedIn(me); tc.verify != none && (got != 1 || len(tr.tokens) != before+2) {
					t.Fatalf("verify: %d refresh tokens rotated in before the converted one, want 1", got)
				}
				liveRefresh(t, w, "after conversion", v.UserID, 1)
				keepsUser(t, w, b, v.UserID, users)
				if w.Cookie(b, "DSR") != tr.tokens[len(tr.tokens)-1] {
					t.Fatal("the browser does not hold the converted refresh token")
				}
				refused(t, w, "after conversion", tr.tokens[:len(tr.tokens)-1])
				logsOut(t, w, b, tr, v.UserID)
			})
		}
	}
}

// A conversion interrupted after the code was verified resumes on a request
// that refreshed: resume proves the session with the token the refresh
// handed out (itself rotating it), and every token is retired.
func TestRotationResumeOnRefreshedRequest(t *testing.T) {
	for _, rs := range reuseSettings {
		t.Run(rs.name, func(t *testing.T) {
			t.Parallel()
			w := rotationWorld(t, rs.opts)
			tr := &trail{}
			b, v := w.Visitor(t)
			tr.tokens = append(tr.tokens, w.Cookie(b, "DSR"))
			users := w.Emu.UserCount()
			const addr = "halfway@example.com"
			code := w.SendCode(t, b, addr)
			w.Emu.InjectFault("/v1/mgmt/user/update/tenant/remove", descopetest.Fault{Status: http.StatusBadGateway, Times: 1})
			if me := tr.note(w.Post(t, b, "/convert/verify", map[string]string{"email": addr, "code": code})); me.Status != http.StatusServiceUnavailable {
				t.Fatalf("interrupted verify: %d %s", me.Status, me.Body)
			}
			w.DropCookie(b, "DS")
			me := tr.note(w.Post(t, b, "/convert/verify", map[string]string{"email": addr, "code": "spent"}))
			if me.Status != http.StatusOK || me.UserID != v.UserID || me.Anonymous {
				t.Fatalf("resumed verify: %d %s (hook saw %v)", me.Status, me.Body, w.Hooks.All())
			}
			if rotatedIn(me) != 1 {
				t.Fatalf("the resumed verify did not refresh on the way in: %v", me.SetCookie)
			}
			liveRefresh(t, w, "after the resumed conversion", v.UserID, 1)
			keepsUser(t, w, b, v.UserID, users)
			refused(t, w, "after the resumed conversion", tr.tokens[:len(tr.tokens)-1])
			logsOut(t, w, b, tr, v.UserID)
		})
	}
}

// With WithMerge, a visitor whose verify request refreshed is switched to
// the existing account, and its anonymous refresh tokens are all retired.
func TestRotationMergeOnRefreshedRequest(t *testing.T) {
	for _, rs := range reuseSettings {
		t.Run(rs.name, func(t *testing.T) {
			t.Parallel()
			w := rotationWorld(t, rs.opts,
				anonymous.WithMerge(func(context.Context, *anonymous.User, *anonymous.User) error { return nil }))
			const addr = "owner@example.com"
			owner := w.Registered(t, addr)
			tr := &trail{}
			b, v := w.Visitor(t)
			tr.tokens = append(tr.tokens, w.Cookie(b, "DSR"))
			code := w.SendCode(t, b, addr)
			w.DropCookie(b, "DS")
			me := tr.note(w.Post(t, b, "/convert/verify", map[string]string{"email": addr, "code": code}))
			if me.Status != http.StatusOK || me.UserID != owner.UserID {
				t.Fatalf("merge verify: %d %s (hook saw %v)", me.Status, me.Body, w.Hooks.All())
			}
			if rotatedIn(me) != 1 {
				t.Fatalf("the verify did not refresh on the way in: %v", me.SetCookie)
			}
			if _, ok := w.Emu.User(v.UserID); ok {
				t.Error("the merged anonymous user was not deleted")
			}
			liveRefresh(t, w, "after the merge", v.UserID, 0)
			liveRefresh(t, w, "after the merge", owner.UserID, 1)
			if after := w.Get(t, b, "/whoami"); after.UserID != owner.UserID || after.New {
				t.Errorf("the next request: %+v, want the existing account", after)
			}
			refused(t, w, "after the merge", tr.tokens[:len(tr.tokens)-1])
			logsOut(t, w, b, tr, owner.UserID)
		})
	}
}

// Native anonymous tokens refresh and rotate too: a native visitor whose
// verify request refreshed converts, and one whose promotion request
// refreshed is promoted; neither leaves a native refresh token live.
func TestRotationNativeOnRefreshedRequests(t *testing.T) {
	setup := rotationSetup
	setup.Strategy = anonymous.NativeTokens
	for _, rs := range reuseSettings {
		t.Run(rs.name+"/conversion", func(t *testing.T) {
			t.Parallel()
			w := anontest.NewEnvWith(t, setup, rs.opts, anonymous.WithSessionTTL(anonSessionTTL))
			tr := &trail{}
			b, v := w.Visitor(t)
			tr.tokens = append(tr.tokens, w.Cookie(b, "DSR"))
			const addr = "native@example.com"
			w.DropCookie(b, "DS")
			st := tr.note(w.Post(t, b, "/convert/start", map[string]string{"email": addr}))
			if st.Status != http.StatusOK {
				t.Fatalf("start: %d %s", st.Status, st.Body)
			}
			code, _ := w.Emu.Outbox(addr)
			w.DropCookie(b, "DS")
			me := tr.note(w.Post(t, b, "/convert/verify", map[string]string{"email": addr, "code": code}))
			if me.Status != http.StatusOK || me.UserID == "" || me.Anonymous || rotatedIn(me) != 1 {
				t.Fatalf("verify: %d %s %v (hook saw %v)", me.Status, me.Body, me.SetCookie, w.Hooks.All())
			}
			liveRefresh(t, w, "after conversion", v.UserID, 0)
			liveRefresh(t, w, "after conversion", me.UserID, 1)
			keepsUser(t, w, b, me.UserID, w.Emu.UserCount())
			refused(t, w, "after conversion", tr.tokens[:len(tr.tokens)-1])
			logsOut(t, w, b, tr, me.UserID)
		})
		t.Run(rs.name+"/promotion", func(t *testing.T) {
			t.Parallel()
			w := anontest.NewEnvWith(t, setup, rs.opts, anonymous.WithSessionTTL(anonSessionTTL))
			tr := &trail{}
			b, v := w.Visitor(t)
			tr.tokens = append(tr.tokens, w.Cookie(b, "DSR"))
			w.DropCookie(b, "DS")
			me := tr.note(w.Post(t, b, "/x/promote", nil))
			if me.Status != http.StatusOK || me.UserID == "" || !me.Anonymous || rotatedIn(me) != 1 {
				t.Fatalf("promote: %d %s %v (hook saw %v)", me.Status, me.Body, me.SetCookie, w.Hooks.All())
			}
			if _, ok := w.Emu.User(me.UserID); !ok {
				t.Fatal("no user record for the promoted visitor")
			}
			if after := w.Get(t, b, "/whoami"); after.UserID != me.UserID || after.New {
				t.Errorf("the next request: %+v, want the promoted user %s", after, me.UserID)
			}
			liveRefresh(t, w, "after promotion", v.UserID, 0)
			refused(t, w, "after promotion", tr.tokens[:len(tr.tokens)-1])
		})
	}
}

// A double-submitted verify whose two requests both refresh, on two
// replicas that share one refresh outcome through the store: both prove the
// visitor with the token that outcome rotated in, one converts, the other
// gets 409 or 401, and the visitor keeps the converted user.
func TestRotationDoubleSubmitOnReplicas(t *testing.T) {
	for _, rs := range reuseSettings {
		t.Run(rs.name, func(t *testing.T) {
			t.Parallel()
			store := newSwitchStore(time.Now)
			a := rotationWorld(t, rs.opts, anonymous.WithStore(store))
			b := a.Sibling(t, anonymous.WithSessionTTL(anonSessionTTL), anonymous.WithStore(store))
			tr := &trail{}
			c, v := a.Visitor(t)
			tr.tokens = append(tr.tokens, a.Cookie(c, "DSR"))
			users := a.Emu.UserCount()
			const addr = "double@example.com"
			code := a.SendCode(t, c, addr)
			a.DropCookie(c, "DS")
			cookie := "DSR=" + a.Cookie(c, "DSR")
			body := map[string]string{"email": addr, "code": code}
			answers := make([]anontest.Me, 2)
			done := make(chan struct{})
			for i, w := range []*anontest.Env{a, b} {
				go func() {
					defer func() { done <- struct{}{} }()
					answers[i] = w.Do(t, w.Browser(t), http.MethodPost, "/convert/verify", nil, func(r *http.Request) {
						anontest.JSONBody(t, body)(r)
						cookieHeader(cookie)(r)
					})
				}()
			}
			<-done
			<-done
			if n := a.Emu.Requests("/v1/auth/refresh"); n != 1 {
				t.Errorf("%d refresh calls for two requests with one refresh token, want 1", n)
			}
			var won anontest.Me
			wins := 0
			for _, me := range answers {
				tr.note(me)
				switch me.Status {
				case http.StatusOK:
					won, wins = me, wins+1
				case http.StatusConflict, http.StatusUnauthorized:
				default:
					t.Errorf("a verify answered %d %s", me.Status, me.Body)
				}
			}
			t.Logf("answers: %d, %d", answers[0].Status, answers[1].Status)
			if wins != 1 || won.UserID != v.UserID || won.Anonymous {
				t.Fatalf("answers %v %v, want one conversion of %s", answers[0].Body, answers[1].Body, v.UserID)
			}
			// The browser keeps the winner's cookies, whatever order the
			// answers came in.
			for _, ck := range won.SetCookie {
				a.SetCookie(c, ck.Name, ck.Value)
			}
			liveRefresh(t, a, "after conversion", v.UserID, 1)
			for _, w := range []*anontest.Env{a, b} {
				keepsUser(t, w, c, v.UserID, users)
			}
			refused(t, a, "after conversion", slices.DeleteFunc(slices.Clone(tr.tokens), func(tok string) bool { return tok == a.Cookie(c, "DSR") }))
			logsOut(t, a, c, tr, v.UserID)
		})
	}
}

// Sanity of the tests above: without rotation nothing is rotated in, and
// the same flows pass.
func TestRotationOffConversionOnRefreshedRequest(t *testing.T) {
	w := rotationWorld(t, nil)
	tr := &trail{}
	b, v := w.Visitor(t)
	tr.tokens = append(tr.tokens, w.Cookie(b, "DSR"))
	users := w.Emu.UserCount()
	const addr = "plain@example.com"
	w.DropCookie(b, "DS")
	if st := tr.note(w.Post(t, b, "/convert/start", map[string]string{"email": addr})); st.Status != http.StatusOK || len(tr.tokens) != 1 {
		t.Fatalf("start: %d %s, %d refresh tokens", st.Status, st.Body, len(tr.tokens))
	}
	code, _ := w.Emu.Outbox(addr)
	w.DropCookie(b, "DS")
	me := tr.note(w.Post(t, b, "/convert/verify", map[string]string{"email": addr, "code": code}))
	if me.Status != http.StatusOK || me.UserID != v.UserID || rotatedIn(me) != 0 || !strings.Contains(me.Body, v.UserID) {
		t.Fatalf("verify: %d %s %v", me.Status, me.Body, me.SetCookie)
	}
	liveRefresh(t, w, "after conversion", v.UserID, 1)
	keepsUser(t, w, b, v.UserID, users)
	refused(t, w, "after conversion", tr.tokens[:len(tr.tokens)-1])
	logsOut(t, w, b, tr, v.UserID)
}

// A parallel request of the visitor (another tab, another replica) that
// refreshes while a conversion is under way rotates the refresh cookie the
// conversion's request carries out: the conversion proves the visitor with
// the token that refresh rotated in, as the deployment remembers it (in the
// process, or in the shared store), and revokes it in the end. The answers
// reach the browser in the order the requests were served.
func TestRotationParallelRefreshDuringConversion(t *testing.T) {
	for _, rs := range reuseSettings {
		for _, shared := range []bool{false, true} {
			for _, before := range []string{"start", "verify"} {
				name := rs.name + "/one replica/before " + before
				if shared {
					name = rs.name + "/two replicas sharing a store/before " + before
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					opts := []anonymous.Option{anonymous.WithSessionTTL(anonSessionTTL)}
					if shared {
						opts = append(opts, anonymous.WithStore(newSwitchStore(time.Now)))
					}
					a := anontest.NewEnvWith(t, rotationSetup, rs.opts, opts...)
					tab := a // the replica the parallel request reaches
					if shared {
						tab = a.Sibling(t, opts...)
					}
					tr := &trail{}
					c, v := a.Visitor(t)
					tr.tokens = append(tr.tokens, a.Cookie(c, "DSR"))
					users := a.Emu.UserCount()
					// send notes the cookies c sends a request of its with now;
					// land serves it to a with them, and lets the answer reach
					// c's jar.
					send := func() string { return "DS=" + a.Cookie(c, "DS") + "; DSR=" + a.Cookie(c, "DSR") }
					land := func(cookie, path string, body any) anontest.Me {
						me := tr.note(a.Do(t, a.Browser(t), http.MethodPost, path, nil, func(r *http.Request) {
							anontest.JSONBody(t, body)(r)
							cookieHeader(cookie)(r)
						}))
						for _, ck := range me.SetCookie {
							a.SetCookie(c, ck.Name, ck.Value)
						}
						return me
					}
					parallel := func() {
						// The other tab's session cookie has expired: only DSR.
						p := tr.note(tab.Do(t, tab.Browser(t), http.MethodGet, "/", nil, cookieHeader("DSR="+a.Cookie(c, "DSR"))))
						if !p.Refreshed || p.UserID != v.UserID || rotatedIn(p) != 0 || !anontest.HasCookie(p.SetCookie, "DSR") {
							t.Fatalf("the parallel refresh: %+v", p)
						}
						for _, ck := range p.SetCookie {
							a.SetCookie(c, ck.Name, ck.Value)
						}
					}
					const addr = "tabs@example.com"
					sent := send()
					if before == "start" {
						parallel()
					}
					if st := land(sent, "/convert/start", map[string]string{"email": addr}); st.Status != http.StatusOK {
						t.Fatalf("start: %d %s (hook saw %v)", st.Status, st.Body, a.Hooks.All())
					}
					code, _ := a.Emu.Outbox(addr)
					sent = send()
					if before == "verify" {
						parallel()
					}
					me := land(sent, "/convert/verify", map[string]string{"email": addr, "code": code})
					if me.Status != http.StatusOK || me.UserID != v.UserID || me.Anonymous {
						t.Fatalf("verify: %d %s (hook saw %v)", me.Status, me.Body, a.Hooks.All())
					}
					liveRefresh(t, a, "after conversion", v.UserID, 1)
					keepsUser(t, a, c, v.UserID, users)
					refused(t, a, "after conversion", tr.tokens[:len(tr.tokens)-1])
					logsOut(t, a, c, tr, v.UserID)
				})
			}
		}
	}
}

// A logout whose request refreshed on the way in revokes the refresh token
// that refresh handed out, not the cookie it rotated out; and one whose
// cookie a parallel request rotated out revokes that request's token.
func TestRotationLogoutOnRefreshedRequest(t *testing.T) {
	for _, rs := range reuseSettings {
		for _, parallel := range []bool{false, true} {
			name := rs.name + "/refreshed on the way in"
			if parallel {
				name = rs.name + "/rotated by a parallel request"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				w := rotationWorld(t, rs.opts)
				tr := &trail{}
				b, v := w.Visitor(t)
				tr.tokens = append(tr.tokens, w.Cookie(b, "DSR"))
				if parallel {
					// Another tab refreshes; its answer reaches the browser
					// after the logout was sent.
					p := tr.note(w.Do(t, w.Browser(t), http.MethodGet, "/", nil, cookieHeader("DSR="+w.Cookie(b, "DSR"))))
					if !p.Refreshed || len(tr.tokens) != 2 {
						t.Fatalf("the parallel refresh: %+v", p)
					}
				} else {
					w.DropCookie(b, "DS")
				}
				me := tr.note(w.Post(t, b, "/x/logout", nil))
				if me.Status != http.StatusOK || len(tr.tokens) != 2 {
					t.Fatalf("logout: %+v, %d refresh tokens", me, len(tr.tokens))
				}
				liveRefresh(t, w, "after logout", v.UserID, 0)
				refused(t, w, "after logout", tr.tokens)
			})
		}
	}
}
