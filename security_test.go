package anonymous_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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

// Regression tests for account takeover and abuse of conversion, one per
// finding of an outside attack on the library. An attacker controls the
// request body, the cookies, the timing and the number of parallel requests,
// and owns some addresses but not others.

// 1. A code for the attacker's own address must not sign the attacker in as
// the owner of the address named at verify: through the handlers, through
// the plain functions, for phones written either way, and after Promote.
func TestSecurityCodeIsBoundToItsAddress(t *testing.T) {
	for _, tc := range []struct {
		name, own, victim, named string
		native                   bool
	}{
		{"email", "attacker@example.com", "victim@example.com", "victim@example.com", false},
		{"email in another case", "attacker@example.com", "victim@example.com", "VICTIM@example.com", false},
		{"phone", "+14155550100", "+14155550199", "+14155550199", false},
		{"phone written otherwise", "+14155550100", "+14155550199", "+1 415 555 0199", false},
		{"native visitor after Promote", "attacker@example.com", "victim@example.com", "victim@example.com", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hooked [][2]string
			var mu sync.Mutex
			opts := []anonymous.Option{anonymous.WithOnConvert(func(_ context.Context, anonID string, u *anonymous.User) error {
				mu.Lock()
				defer mu.Unlock()
				hooked = append(hooked, [2]string{anonID, u.ID})
				return nil
			})}
			setup := worldSetup
			if tc.native {
				setup.Strategy = anonymous.NativeTokens
			}
			w := anontest.NewEnvWith(t, setup, nil, opts...)
			victim := w.Registered(t, strings.ReplaceAll(tc.victim, " ", ""))
			field := "email"
			if !strings.Contains(tc.own, "@") {
				field = "phone"
			}
			b, anon := w.Visitor(t)
			if tc.native {
				promoted := promote(t, w, b)
				anon.UserID = promoted
				mu.Lock()
				hooked = nil
				mu.Unlock()
			}
			before := anontest.StateOf(w.Emu, victim.UserID)
			for _, via := range []string{"handler", "function"} {
				if st := w.Do(t, b, http.MethodPost, "/convert/start", nil, anontest.JSONBody(t, map[string]string{field: tc.own})); st.Status != http.StatusOK {
					t.Fatalf("start with the attacker's own address: %+v", st)
				}
				code, ok := w.Emu.Outbox(strings.ToLower(tc.own))
				if !ok {
					t.Fatal("no code for the attacker's own address")
				}
				var p anontest.Me
				if via == "handler" {
					p = w.Do(t, b, http.MethodPost, "/convert/verify", nil, anontest.JSONBody(t, map[string]string{field: tc.named, "code": code}))
				} else {
					p = w.Verify(t, b, tc.named, code)
				}
				if p.Status == http.StatusOK || p.UserID == victim.UserID || anontest.HasCookie(p.SetCookie, "DS") || anontest.HasCookie(p.SetCookie, "DSR") {
					t.Fatalf("%s: verify naming the victim's address answered %+v", via, p)
				}
				if p.Status != http.StatusConflict {
					t.Errorf("%s: status %d, want 409 (no code was sent to that address)", via, p.Status)
				}
				if me := w.Get(t, b, "/"); me.UserID != anon.UserID || !me.Anonymous {
					t.Fatalf("%s: attacker is now %+v", via, me)
				}
			}
			if after := anontest.StateOf(w.Emu, victim.UserID); !after.Equal(before) {
				t.Errorf("victim changed: %+v -> %+v", before, after)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, h := range hooked {
				if h[1] == victim.UserID {
					t.Errorf("conversion hook called with the victim: %v", h)
				}
			}
		})
	}
}

// promote lifts a native visitor to a user-backed one through the probe
// app's /x/promote, and returns its new user ID.
func promote(t *testing.T, w *anontest.Env, b *http.Client) string {
	t.Helper()
	p := w.Do(t, b, http.MethodPost, "/x/promote", nil, nil)
	if p.Status != http.StatusOK || p.UserID == "" {
		t.Fatalf("promote: %+v", p)
	}
	return p.UserID
}

// 2. A session whose refresh token was revoked at Descope does not come back
// through the no-code resume path, with the session as a cookie or a bearer:
// neither while the conversion is half-done (a refresh call proves the token
// dead), nor once it is finished (nothing is left to resume).
func TestSecurityRevokedSessionIsNotRevived(t *testing.T) {
	for _, half := range []bool{true, false} {
		for _, revoke := range []string{"logout", "management logout"} {
			for _, bearer := range []bool{false, true} {
				t.Run(fmt.Sprintf("half=%v/%s/bearer=%v", half, revoke, bearer), func(t *testing.T) {
					w := newWorld(t, nil)
					b, anon := w.Visitor(t)
					code := w.SendCode(t, b, "own@example.com")
					want := http.StatusOK
					if half {
						// Descope fails after the code: the address is
						// verified, the user still in the anonymous tenant.
						w.Emu.InjectFault("/v1/mgmt/user/update/tenant/remove", descopetest.Fault{Status: http.StatusBadGateway, Times: 1})
						want = http.StatusServiceUnavailable
					}
					if p := w.Verify(t, b, "own@example.com", code); p.Status != want {
						t.Fatalf("verify: %+v", p)
					}
					stolen := w.Jar(b) // a copy of the session
					switch revoke {
					case "logout":
						if p := w.Do(t, b, http.MethodPost, "/x/logout", nil, nil); p.Status != http.StatusOK {
							t.Fatalf("logout: %+v", p)
						}
					default:
						if err := w.SDK.Management.User().LogoutUserByUserID(context.Background(), anon.UserID); err != nil {
							t.Fatal(err)
						}
					}
					signIns := w.Emu.Requests("/v1/mgmt/auth/signin")
					p := w.Do(t, w.Browser(t), http.MethodPost, "/convert/verify", nil, func(r *http.Request) {
						anontest.JSONBody(t, map[string]string{"email": "own@example.com"})(r)
						r.AddCookie(&http.Cookie{Name: "DSR", Value: stolen["DSR"]})
						if bearer {
							r.Header.Set("Authorization", "Bearer "+stolen["DS"])
						} else {
							r.AddCookie(&http.Cookie{Name: "DS", Value: stolen["DS"]})
						}
					})

					if p.Status == http.StatusOK || anontest.HasCookie(p.SetCookie, "DS") || anontest.HasCookie(p.SetCookie, "DSR") {
						t.Fatalf("a revoked session was revived: %+v", p)
					}
					if wantNow := map[bool]int{true: http.StatusUnauthorized, false: http.StatusConflict}[half]; p.Status != wantNow {
						t.Errorf("status %d, want %d", p.Status, wantNow)
					}
					if n := w.Emu.Requests("/v1/mgmt/auth/signin") - signIns; n != 0 {
						t.Errorf("%d tokens minted for a revoked session", n)
					}
				})
			}
		}
	}
}

// 2b. Even a live refresh token of a converted user cannot mint a second,
// independent session through verify: it would outlive the first's logout.
func TestSecurityConvertedSessionCannotSpawnAnother(t *testing.T) {
	w := newWorld(t, nil)
	b, _ := w.Visitor(t)
	code := w.SendCode(t, b, "own@example.com")
	if p := w.Verify(t, b, "own@example.com", code); p.Status != http.StatusOK {
		t.Fatalf("verify: %+v", p)
	}
	signIns := w.Emu.Requests("/v1/mgmt/auth/signin")
	p := w.Do(t, b, http.MethodPost, "/convert/verify", nil, anontest.JSONBody(t, map[string]string{"email": "own@example.com"}))
	if p.Status != http.StatusConflict || anontest.HasCookie(p.SetCookie, "DSR") || w.Emu.Requests("/v1/mgmt/auth/signin") != signIns {
		t.Errorf("verify again with a live regular session: %+v", p)
	}
}

// 3a. Logout and the revokes inside conversion are bounded by the timeout.
func TestSecurityLogoutAndRevokesHonourTimeout(t *testing.T) {
	w := newWorld(t, nil)
	b, anon := w.Visitor(t)
	w.Emu.InjectFault("/v1/auth/logout", descopetest.Fault{Latency: 20 * faultTimeout})
	p := w.Do(t, b, http.MethodPost, "/x/logout", nil, nil)
	if p.Took >= 3*faultTimeout {
		t.Errorf("logout took %v with a %v timeout", p.Took, faultTimeout)
	}
	if len(w.Jar(b)) != 0 {
		t.Error("cookies not cleared by a logout Descope did not answer")
	}

	// A conversion whose revokes are slow still finishes, whole.
	b, anon = w.Visitor(t)
	code := w.SendCode(t, b, "slow@example.com")
	v := w.Verify(t, b, "slow@example.com", code)
	if v.Status != http.StatusOK || v.UserID != anon.UserID || v.Anonymous {
		t.Fatalf("verify with slow revokes: %+v", v)
	}
	if s := anontest.StateOf(w.Emu, anon.UserID); len(s.Tenants) != 0 || !slices.Equal(s.LoginIDs, []string{"slow@example.com"}) {
		t.Errorf("half-converted: %+v", s)
	}
	w.Emu.ClearFaults()
}

// 3b. A valid session with a forged refresh token of an unknown key, sent to
// logout by many clients at once, costs at most one key fetch at a time, and
// the forged kid is remembered: the flood makes about one fetch.
func TestSecurityLogoutForgedRefreshPassesTheKeyGate(t *testing.T) {
	w := newWorld(t, nil)
	b, anon := w.Visitor(t)
	ds := w.Jar(b)["DS"]
	forged := rs256(t, map[string]any{"alg": "RS256", "kid": "forged-kid", "typ": "JWT"}, map[string]any{
		"sub": anon.UserID, "iss": w.Emu.ProjectID, "drn": "DSR", "exp": time.Now().Add(time.Hour).Unix(),
	}, attackerKey(t))
	keysPath := "/v2/keys/" + w.Emu.ProjectID
	before := w.Emu.Requests(keysPath)
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			w.Do(t, w.Browser(t), http.MethodPost, "/x/logout", nil, func(r *http.Request) {
				r.AddCookie(&http.Cookie{Name: "DS", Value: ds})
				r.AddCookie(&http.Cookie{Name: "DSR", Value: forged})
			})

		})
	}
	wg.Wait()
	if n := w.Emu.Requests(keysPath) - before; n > 2 {
		t.Errorf("100 logouts with one forged refresh token made %d key fetches", n)
	}
	if n := w.Emu.Requests("/v1/auth/logout"); n != 0 {
		t.Errorf("forged refresh tokens reached Descope's logout %d times", n)
	}
}

// 3b. Forged refresh tokens at logout leave nothing in the process-local
// store, which also holds the limits and pending conversions: filling it
// would evict them.
func TestSecurityForgedLogoutsFillNoStore(t *testing.T) {
	t.Parallel()
	// It counts keys and calls, not time: a timeout a busy machine cannot
	// trip while the visitor is provisioned.
	w := newWorld(t, nil, anonymous.WithTimeout(5*time.Second))
	b, anon := w.Visitor(t)
	before := anonymous.LocalStoreLen(w.MW)
	var tokens []string
	for i := range 10 {
		tokens = append(tokens, rs256(t, map[string]any{"alg": "RS256", "kid": w.Emu.KeyID(), "typ": "JWT"}, map[string]any{
			"sub": anon.UserID, "iss": w.Emu.ProjectID, "drn": "DSR", "exp": time.Now().Add(time.Hour).Unix(), "n": i,
		}, attackerKey(t)))
	}
	for i := range 190 {
		tokens = append(tokens, fmt.Sprintf("garbage-%d", i))
	}
	attacker := w.Browser(t)
	for _, tok := range tokens {
		w.Do(t, attacker, http.MethodPost, "/x/logout", nil, func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "DSR", Value: tok})
		})
	}
	if n := anonymous.LocalStoreLen(w.MW) - before; n > 0 {
		t.Errorf("%d forged logouts left %d keys in the local store", len(tokens), n)
	}
	if n := w.Emu.Requests("/v1/auth/logout"); n != 0 {
		t.Errorf("forged refresh tokens reached Descope's logout %d times", n)
	}
	if me := w.Get(t, b, "/whoami"); me.UserID != anon.UserID {
		t.Errorf("the visitor after forged logouts: %+v", me)
	}
}

// 3c. Forged refresh tokens on the request path write nothing to a shared
// store either: each is checked locally before a replica claims it there.
func TestSecurityForgedRefreshesClaimNothing(t *testing.T) {
	t.Parallel()
	st := anonymous.NewMemStore(time.Now)
	// It counts keys and calls, not time: a timeout a busy machine cannot
	// trip while the visitor is provisioned.
	w := newWorld(t, nil, anonymous.WithStore(st), anonymous.WithTimeout(5*time.Second))
	b, anon := w.Visitor(t)
	// A genuine refresh first: it goes through the store, and the key ID
	// is known from then on, so a forged token skips the first-key check.
	w.DropCookie(b, "DS")
	if me := w.Get(t, b, "/whoami"); me.UserID != anon.UserID || !me.Refreshed {
		t.Fatalf("genuine refresh: %+v", me)
	}
	keys := anonymous.StoreKeys(st, "rf:")
	if keys == 0 {
		t.Fatal("the genuine refresh left nothing in the shared store")
	}
	refreshes := w.Emu.Requests("/v1/auth/refresh")
	attacker := w.Browser(t)
	for i := range 20 {
		forged := rs256(t, map[string]any{"alg": "RS256", "kid": w.Emu.KeyID(), "typ": "JWT"}, map[string]any{
			"sub": anon.UserID, "iss": w.Emu.ProjectID, "drn": "DSR", "exp": time.Now().Add(time.Hour).Unix(), "n": i,
		}, attackerKey(t))
		me := w.Do(t, attacker, http.MethodGet, "/whoami", nil, func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "DSR", Value: forged})
		})
		if me.UserID == anon.UserID {
			t.Fatalf("a forged refresh token named the visitor: %+v", me)
		}
	}
	if n := anonymous.StoreKeys(st, "rf:") - keys; n != 0 {
		t.Errorf("20 forged refresh tokens left %d refresh keys in the shared store", n)
	}
	if n := w.Emu.Requests("/v1/auth/refresh") - refreshes; n != 0 {
		t.Errorf("forged refresh tokens reached Descope %d times", n)
	}
}

// 4. The code limits cannot be filled to lock conversion for everyone: a
// code that Descope did not send is given back, and new visitors are counted
// even after many others (the store evicts its oldest keys, tested inside).
func TestSecurityCodeLimitNotSpentOnFailures(t *testing.T) {
	w := newWorld(t, nil)
	b, _ := w.Visitor(t)
	w.Emu.InjectFault("/v1/auth/otp/update/email", descopetest.Fault{Status: http.StatusBadGateway})
	for i := range 8 {
		if st := w.Start(t, b, "me@example.com"); st.Status != http.StatusServiceUnavailable {
			t.Fatalf("start %d during an outage: %+v", i, st)
		}
	}
	w.Emu.ClearFaults()
	if st := w.Start(t, b, "me@example.com"); st.Status != http.StatusOK {
		t.Fatalf("start after the outage: %+v (codes not sent were counted)", st)
	}
}

// 5. One IPv6 /64 counts as one client for the provisioning limit.
func TestSecurityIPv6PrefixIsOneClient(t *testing.T) {
	for _, tc := range []struct {
		opts []anonymous.Option
		want int
	}{
		{nil, 10},
		{[]anonymous.Option{anonymous.WithIPv6Prefix(128)}, 40},
		{[]anonymous.Option{anonymous.WithIPv6Prefix(48)}, 10},
	} {
		w := newWorld(t, nil, append([]anonymous.Option{anonymous.WithClientRateLimit(10, time.Minute), anonymous.WithGlobalRateLimit(1000, time.Minute)}, tc.opts...)...)
		h := w.MW.Handler(anontest.App(w.MW, w.Convs))
		users := w.Emu.UserCount()
		for i := range 40 {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("User-Agent", "Mozilla/5.0")
			r.RemoteAddr = fmt.Sprintf("[2001:db8:0:1:%x::%x]:4242", i%3, i+1)
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
		if got := w.Emu.UserCount() - users; got != tc.want {
			t.Errorf("%d addresses of one /64 (options %d) created %d users, want %d", 40, len(tc.opts), got, tc.want)
		}
	}
}

// 6. One attacker session cannot lock a victim's address, plus-address
// variants count as one address, and the refusal names the right limit.
func TestSecurityOneAttackerCannotLockAnAddress(t *testing.T) {
	// Sessions outlive the code window, so the clock can pass it.
	w := newWorld(t, nil, anonymous.WithSessionTTL(time.Hour))
	attacker, _ := w.Visitor(t)
	for i := range 5 {
		if st := w.Start(t, attacker, fmt.Sprintf("victim+%d@example.com", i)); st.Status != http.StatusOK {
			t.Fatalf("attacker start %d: %+v", i, st)
		}
	}
	w.Convs.Reset()
	if st := w.Start(t, attacker, "victim@example.com"); st.Status != http.StatusTooManyRequests {
		t.Fatalf("sixth code for one visitor: %+v", st)
	}
	if errs := w.Convs.All(); len(errs) != 1 || !errors.Is(errs[0], anonymous.ErrTooManyCodes) || errors.Is(errs[0], anonymous.ErrRateLimited) ||
		!strings.Contains(errs[0].Error(), "per visitor") {
		t.Errorf("refusal: %v", errs)
	}
	victim, _ := w.Visitor(t)
	if st := w.Start(t, victim, "victim@example.com"); st.Status != http.StatusOK {
		t.Fatalf("the victim's own conversion after an attacker's five codes: %+v", st)
	}
	// Five other visitors each send one code to a plus-variant: the address
	// has had its ten codes, whatever the tag.
	for i := range 4 {
		v, _ := w.Visitor(t)
		if st := w.Start(t, v, fmt.Sprintf("Victim+x%d@example.com", i)); st.Status != http.StatusOK {
			t.Fatalf("visitor %d: %+v", i, st)
		}
	}
	late, _ := w.Visitor(t)
	w.Convs.Reset()
	if st := w.Start(t, late, "victim+late@example.com"); st.Status != http.StatusTooManyRequests {
		t.Fatalf("eleventh code to one mailbox: %+v", st)
	}
	if errs := w.Convs.All(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "per address") {
		t.Errorf("refusal: %v", errs)
	}
	w.Clock.Advance(11 * time.Minute)
	if st := w.Start(t, late, "victim+late@example.com"); st.Status != http.StatusOK {
		t.Fatalf("after the window: %+v", st)
	}
}

// 7. With rotation, a refresh remembered for the token it spent does not
// outlive a logout of the token it handed out.
func TestSecurityRememberedRefreshForgottenOnLogout(t *testing.T) {
	w := newWorld(t, []descopetest.Option{descopetest.WithRefreshRotation()})
	b, anon := w.Visitor(t)
	oldDSR := w.Jar(b)["DSR"]
	w.DropCookie(b, "DS")
	if p := w.Get(t, b, "/"); !p.Refreshed || p.UserID != anon.UserID {
		t.Fatalf("refresh: %+v", p)
	}
	if w.Jar(b)["DSR"] == oldDSR {
		t.Fatal("refresh token not rotated")
	}
	if p := w.Do(t, b, http.MethodPost, "/x/logout", nil, nil); p.Status != http.StatusOK {
		t.Fatalf("logout: %+v", p)
	}
	thief := w.Browser(t)
	p := w.Do(t, thief, http.MethodGet, "/", nil, func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: "DSR", Value: oldDSR})
	})

	if p.UserID == anon.UserID {
		t.Fatalf("the spent refresh token still returned the identity after logout: %+v", p)
	}
}

// 8. A double-submitted verify gets one success; the others a clear 409 (or
// 401 once the first has replaced the session), never a 5xx.
func TestSecurityConcurrentVerify(t *testing.T) {
	w := newWorld(t, nil)
	b, anon := w.Visitor(t)
	code := w.SendCode(t, b, "twice@example.com")
	cookies := w.Jar(b)
	w.Hooks.Reset()
	var ok, conflict, other atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			p := w.Do(t, w.Browser(t), http.MethodPost, "/convert/verify", nil, func(r *http.Request) {
				anontest.JSONBody(t, map[string]string{"email": "twice@example.com", "code": code})(r)
				r.AddCookie(&http.Cookie{Name: "DS", Value: cookies["DS"]})
				r.AddCookie(&http.Cookie{Name: "DSR", Value: cookies["DSR"]})
			})

			switch {
			case p.Status == http.StatusOK && p.UserID == anon.UserID:
				ok.Add(1)
			case p.Status == http.StatusConflict, p.Status == http.StatusUnauthorized:
				conflict.Add(1)
			default:
				other.Add(1)
				t.Errorf("duplicate verify answered %+v", p)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || other.Load() != 0 {
		t.Errorf("%d successes, %d conflicts, %d others; want exactly one success", ok.Load(), conflict.Load(), other.Load())
	}
	if errs := w.Hooks.All(); len(errs) != 0 {
		t.Errorf("error hook called for duplicates: %v", errs)
	}
	if s := anontest.StateOf(w.Emu, anon.UserID); len(s.Tenants) != 0 || !slices.Equal(s.LoginIDs, []string{"twice@example.com"}) {
		t.Errorf("user after duplicates: %+v", s)
	}
}

// 9. A fresh process under a flood of one forged unknown-kid token serves
// its first genuine returning visitor without waiting out the flood.
func TestSecurityForgedKidFloodDoesNotStallGenuineVisitors(t *testing.T) {
	w := newWorld(t, nil)
	b, anon := w.Visitor(t)
	fresh := w.Sibling(t) // a new process: its SDK client has fetched no keys
	// Each key fetch takes a third of the timeout, as over a slow link.
	w.Emu.InjectFault("/v2/keys/"+w.Emu.ProjectID, descopetest.Fault{Latency: faultTimeout / 3})
	defer w.Emu.ClearFaults()
	forged := rs256(t, map[string]any{"alg": "RS256", "kid": "flood-kid", "typ": "JWT"}, map[string]any{
		"sub": "x", "iss": w.Emu.ProjectID, "drn": "DS", "exp": time.Now().Add(time.Hour).Unix(),
	}, attackerKey(t))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			c := fresh.Browser(t)
			for i := 0; i < 200; i++ {
				select {
				case <-stop:
					return
				default:
				}
				fresh.Do(t, c, http.MethodGet, "/", nil, func(r *http.Request) {
					r.Header.Set("Authorization", "Bearer "+forged)
				})

			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	p := fresh.Do(t, w.Browser(t), http.MethodGet, "/", nil, func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: "DS", Value: w.Jar(b)["DS"]})
	})

	if p.UserID != anon.UserID {
		t.Fatalf("genuine visitor during the flood: %+v", p)
	}
	if p.Took >= faultTimeout {
		t.Errorf("genuine visitor waited %v behind the flood (timeout %v)", p.Took, faultTimeout)
	}
}
