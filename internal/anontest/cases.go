package anontest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

// Case is one behaviour of the middleware.
type Case struct {
	Name    string
	Emu     []descopetest.Option
	Options []anonymous.Option
	Run     func(t *testing.T, env *Env)
}

// Strategies are the provisioning strategies Run runs the table in.
var Strategies = []anonymous.Strategy{anonymous.UserBacked, anonymous.NativeTokens, anonymous.LocalIDs}

// Run runs every case of the table through mount, in every provisioning
// strategy (a subtest of t each, named user-backed, native and local), each
// case in a fresh Env. The strategies and the cases run in
// parallel: several cases wait on the wall clock for a token to expire.
func Run(t *testing.T, mount Mount) {
	for _, s := range Strategies {
		t.Run(s.String(), func(t *testing.T) {
			t.Parallel()
			for _, c := range Cases() {
				t.Run(c.Name, func(t *testing.T) {
					t.Parallel()
					env := NewEnvWith(t, Setup{Mount: mount, Strategy: s}, c.Emu, c.Options...)
					c.Run(t, env)
				})
			}
		})
	}
}

// shortTTL is the session lifetime of the cases that wait for expiry.
const shortTTL = 2 * time.Second

// Cases returns the behaviour table.
func Cases() []Case {
	return []Case{
		{Name: "first visit provisions with the calls of its strategy", Run: firstVisit},
		{Name: "second visit keeps the identity without calls", Run: secondVisit},
		{Name: "visit after the session TTL keeps the user ID", Options: []anonymous.Option{anonymous.WithSessionTTL(shortTTL)}, Run: expiredSession},
		{Name: "revoked or cleared credential provisions anew", Options: []anonymous.Option{anonymous.WithSessionTTL(shortTTL)}, Run: revokedRefresh},
		{Name: "outage keeps cookies and identity", Options: []anonymous.Option{anonymous.WithSessionTTL(shortTTL)}, Run: outage},
		{Name: "foreign project token rejected", Run: foreignToken},
		{Name: "long-lived credential used as session rejected", Run: refreshAsSession},
		{Name: "crawler and HEAD provision nothing", Run: noProvision},
		{Name: "lazy mode provisions only on Ensure", Options: []anonymous.Option{anonymous.WithLazy()}, Run: lazy},
		{Name: "regular user passes untouched", Options: []anonymous.Option{anonymous.WithSessionTTL(shortTTL)}, Run: regularUser},
		{Name: "bearer session accepted without cookies", Run: bearer},
		{Name: "duplicate identity cookies trusted for nothing", Run: duplicateCookies},
		{Name: "conversion makes a regular user, reported to OnConvert", Run: conversion},
		{Name: "local ID cookie trusted only as sealed", Run: localCookies},
		{Name: "conversion on refreshed requests with rotation retires every refresh token", Emu: []descopetest.Option{descopetest.WithRefreshRotation()}, Run: rotatedConversion},
		{Name: "a response that sets identity cookies stays out of shared caches", Run: sharedCaches},
	}
}

// sharedCaches checks that a handler's Cache-Control that lets shared caches
// keep its answer (App's /cached) does not stand on an answer that sets
// identity cookies, however the handler writes it, and stands untouched on a
// returning visitor's answer.
func sharedCaches(t *testing.T, env *Env) {
	for _, write := range []string{"", "flush", "copy"} {
		path := "/cached?write=" + write
		b := env.Browser(t)
		me := env.Get(t, b, path)
		if me.Status != http.StatusOK || !me.New || len(me.SetCookie) == 0 {
			t.Fatalf("first visit to %s: %+v", path, me)
		}
		CheckNotSharedCacheable(t, "provisioning answer of "+path, me.Header)
		again := env.Get(t, b, path)
		if again.Status != http.StatusOK || again.New || again.UserID != me.UserID || len(again.SetCookie) != 0 {
			t.Fatalf("second visit to %s: %+v", path, again)
		}
		if cc := again.Header.Values("Cache-Control"); len(cc) != 1 || cc[0] != CachedControl || again.Header.Get("CDN-Cache-Control") == "" || again.Header.Get("Surrogate-Control") == "" {
			t.Errorf("%s on the hot path: the handler's cache headers changed: %v", path, again.Header)
		}
		if env.Local() {
			continue // no session to refresh
		}
		env.DropCookie(b, "DS")
		refreshed := env.Get(t, b, path)
		if refreshed.Status != http.StatusOK || !refreshed.Refreshed || refreshed.UserID != me.UserID || FindCookie(refreshed.SetCookie, "DS") == nil {
			t.Fatalf("refresh on %s: %+v", path, refreshed)
		}
		CheckNotSharedCacheable(t, "refresh answer of "+path, refreshed.Header)
	}
}

func firstVisit(t *testing.T, env *Env) {
	b := env.Browser(t)
	me := env.Get(t, b, "/whoami")
	if me.Status != http.StatusOK || me.UserID == "" || !me.New || !me.Anonymous {
		t.Fatalf("first visit: %+v", me)
	}
	if n := env.Calls(); n != env.ProvisionCalls() {
		t.Errorf("provisioning made %d Descope calls, want %d: %v", n, env.ProvisionCalls(), env.Emu.RequestLog())
	}
	switch env.Strategy {
	case anonymous.LocalIDs:
		if len(me.LoginIDs) != 0 || env.Emu.UserCount() != 0 || env.Emu.TotalRequests() != 0 || !anonymous.IsLocalID(me.UserID) {
			t.Errorf("local provisioning: ID %s, login IDs %v, %d users, log %v", me.UserID, me.LoginIDs, env.Emu.UserCount(), env.Emu.RequestLog())
		}
		if c := FindCookie(me.SetCookie, "DS"); c != nil || FindCookie(me.SetCookie, "DSR") != nil {
			t.Errorf("local provisioning wrote Descope cookies: %v", me.SetCookie)
		}
		// The local cookie lives the anonymous lifetime (one year by default).
		if c := FindCookie(me.SetCookie, "DSL"); c != nil && c.MaxAge < 364*24*3600 {
			t.Errorf("local cookie Max-Age %d, want the lifetime", c.MaxAge)
		}
	case anonymous.NativeTokens:
		if len(me.LoginIDs) != 0 || env.Emu.UserCount() != 0 || env.Emu.Requests("/v1/mgmt/auth/anonymous") != 1 {
			t.Errorf("native provisioning: login IDs %v, %d users, log %v", me.LoginIDs, env.Emu.UserCount(), env.Emu.RequestLog())
		}
	default:
		if len(me.LoginIDs) != 1 || !anonymous.IsGeneratedLoginID(me.LoginIDs[0]) {
			t.Errorf("login IDs %v, want one generated", me.LoginIDs)
		}
		if env.Emu.Requests("/v1/mgmt/user/create") != 1 || env.Emu.Requests("/v1/mgmt/auth/signin") != 1 {
			t.Errorf("want one user create and one sign-in: %v", env.Emu.RequestLog())
		}
		u, ok := env.Emu.User(me.UserID)
		if !ok || len(u.UserTenants) != 1 || u.Password {
			t.Errorf("provisioned user %+v: want one tenant and no password", u)
		}
	}
	for _, name := range env.IdentityCookies() {
		c := FindCookie(me.SetCookie, name)
		if c == nil {
			t.Fatalf("no %s cookie set", name)
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge <= 0 {
			t.Errorf("%s cookie attributes: %+v", name, c)
		}
	}
	if got := me.Header.Get("Cache-Control"); got != "private" {
		t.Errorf("Cache-Control %q", got)
	}
	if !strings.Contains(strings.Join(me.Header.Values("Vary"), ","), "Cookie") {
		t.Errorf("Vary %q lacks Cookie", me.Header.Values("Vary"))
	}
}

func secondVisit(t *testing.T, env *Env) {
	b := env.Browser(t)
	first := env.Get(t, b, "/whoami")
	env.Emu.ResetRequests()
	again := env.Get(t, b, "/whoami")
	if again.UserID != first.UserID || again.New || again.Refreshed || !again.Anonymous {
		t.Fatalf("second visit %+v after %+v", again, first)
	}
	if n := env.Emu.TotalRequests(); n != 0 {
		t.Errorf("second visit made %d Descope calls: %v", n, env.Emu.RequestLog())
	}
	if len(again.SetCookie) != 0 {
		t.Errorf("second visit set cookies %v", again.SetCookie)
	}
}

func expiredSession(t *testing.T, env *Env) {
	b := env.Browser(t)
	first := env.Get(t, b, "/whoami")
	if env.Local() {
		// A local ID has no session token to expire: it lives the whole
		// anonymous lifetime, with no refresh and no call.
		time.Sleep(shortTTL + 100*time.Millisecond)
		env.Emu.ResetRequests()
		me := env.Get(t, b, "/whoami")
		if me.UserID != first.UserID || me.Refreshed || me.New || len(me.SetCookie) != 0 || env.Emu.TotalRequests() != 0 {
			t.Fatalf("local visitor after the session TTL: %+v, first %+v, %d calls", me, first, env.Emu.TotalRequests())
		}
		return
	}
	ds := FindCookie(first.SetCookie, "DS")
	waitPast(ds.Expires)
	env.Emu.ResetRequests()
	me := env.Get(t, b, "/whoami")
	if me.UserID != first.UserID || !me.Refreshed || me.New {
		t.Fatalf("after expiry %+v, first %+v", me, first)
	}
	if n := env.Calls(); n != 1 || env.Emu.Requests("/v1/auth/refresh") != 1 {
		t.Errorf("refresh made %d calls: %v", n, env.Emu.RequestLog())
	}
	if c := FindCookie(me.SetCookie, "DS"); c == nil || c.Value == ds.Value {
		t.Errorf("no new session cookie written: %v", me.SetCookie)
	}
}

func revokedRefresh(t *testing.T, env *Env) {
	b := env.Browser(t)
	first := env.Get(t, b, "/whoami")
	if env.Local() {
		// A local ID has nothing to revoke at Descope: logging out clears
		// its cookie, and the next request is a new visitor.
		out := env.Do(t, b, http.MethodPost, "/logout", nil, nil)
		if c := FindCookie(out.SetCookie, "DSL"); out.Status != http.StatusOK || c == nil || c.MaxAge >= 0 {
			t.Fatalf("logout of a local visitor: %+v", out)
		}
		me := env.Get(t, b, "/whoami")
		if !me.New || me.UserID == "" || me.UserID == first.UserID || env.Emu.TotalRequests() != 0 {
			t.Fatalf("after logout: %+v, first %s, %d calls", me, first.UserID, env.Emu.TotalRequests())
		}
		return
	}
	c := env.Emu.MustClient(t)
	if err := c.Auth.LogoutWithToken(env.Cookie(b, "DSR"), nil); err != nil {
		t.Fatalf("logout: %v", err)
	}
	waitPast(FindCookie(first.SetCookie, "DS").Expires)
	me := env.Get(t, b, "/whoami")
	if !me.New || me.UserID == "" || me.UserID == first.UserID {
		t.Fatalf("revoked refresh: %+v, first %s", me, first.UserID)
	}
}

func outage(t *testing.T, env *Env) {
	b := env.Browser(t)
	first := env.Get(t, b, "/whoami")
	if env.Local() {
		localOutage(t, env, b, first)
		return
	}
	dsr := env.Cookie(b, "DSR")
	waitPast(FindCookie(first.SetCookie, "DS").Expires)
	env.Emu.ResetRequests()
	for _, f := range []descopetest.Fault{{Status: 500}, {Status: 502}, {Status: 429, RetryAfter: 7}, {Drop: true}} {
		env.Emu.InjectFault("/v1/auth/refresh", f)
		me := env.Get(t, b, "/whoami")
		env.Emu.ClearFaults()
		if n := env.Emu.Requests(env.ProvisionPath()); n != 0 {
			t.Fatalf("outage %+v provisioned %d visitors: %+v", f, n, me)
		}
		if me.UserID != first.UserID || !me.Degraded || me.New {
			t.Fatalf("during outage %+v: %+v", f, me)
		}
		if len(me.SetCookie) != 0 {
			t.Fatalf("outage %+v wrote cookies %v", f, me.SetCookie)
		}
		if env.Cookie(b, "DSR") != dsr {
			t.Fatalf("outage %+v changed the refresh cookie", f)
		}
	}
	errs := env.Errors()
	if len(errs) == 0 || !errors.Is(errs[len(errs)-1], anonymous.ErrUnavailable) {
		t.Errorf("error hook saw %v, want ErrUnavailable", errs)
	}
	if n := env.Emu.Requests(env.ProvisionPath()); n != 0 {
		t.Errorf("outage provisioned %d visitors", n)
	}
	// A failed refresh is remembered for two seconds: the next request is
	// served at once, without asking Descope again.
	calls := env.Emu.Requests("/v1/auth/refresh")
	if me := env.Get(t, b, "/whoami"); me.UserID != first.UserID || !me.Degraded || env.Emu.Requests("/v1/auth/refresh") != calls {
		t.Errorf("right after the outage: %+v, %d refresh calls before, %d now", me, calls, env.Emu.Requests("/v1/auth/refresh"))
	}
	time.Sleep(failureMemory)
	me := env.Get(t, b, "/whoami")
	if me.UserID != first.UserID || !me.Refreshed {
		t.Fatalf("after outage %+v", me)
	}
}

// localOutage: with every Descope path failing, returning and new local
// visitors are identified as usual, with no call; only conversion, which
// needs Descope, fails (503), and the visitor keeps its local ID.
func localOutage(t *testing.T, env *Env, b *http.Client, first Me) {
	FaultAll(env.Emu, descopetest.Fault{Status: 500})
	defer env.Emu.ClearFaults()
	me := env.Get(t, b, "/whoami")
	if me.UserID != first.UserID || me.Degraded || me.New || len(me.SetCookie) != 0 {
		t.Fatalf("returning local visitor during the outage: %+v", me)
	}
	for range 5 {
		if n := env.Get(t, env.Browser(t), "/whoami"); !n.New || !anonymous.IsLocalID(n.UserID) {
			t.Fatalf("new visitor during the outage: %+v", n)
		}
	}
	if n := env.Emu.TotalRequests(); n != 0 || len(env.Errors()) != 0 {
		t.Fatalf("local visitors during the outage: %d Descope calls, errors %v", n, env.Errors())
	}
	st := env.Do(t, b, http.MethodPost, "/convert/start", map[string]string{"email": "outage@example.com"}, nil)
	if st.Status != http.StatusServiceUnavailable || len(st.SetCookie) != 0 {
		t.Errorf("conversion during the outage: %+v", st)
	}
	for _, r := range env.Emu.RequestLog() {
		if r.Status != 500 && r.Status != 0 {
			t.Errorf("a call escaped the outage: %+v", r)
		}
	}
	if me := env.Get(t, b, "/whoami"); me.UserID != first.UserID {
		t.Errorf("after a failed conversion: %+v", me)
	}
}

// failureMemory is a little longer than the middleware remembers a failed
// refresh.
const failureMemory = 2100 * time.Millisecond

func foreignToken(t *testing.T, env *Env) {
	other := descopetest.New(descopetest.WithFreshKey())
	defer other.Close()
	now := time.Now()
	claims := func(iss string) map[string]any {
		return map[string]any{"sub": "Uforeign", "iss": iss, "drn": "DS", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	foreignKey, err := other.SignToken(claims(env.Emu.ProjectID))
	if err != nil {
		t.Fatal(err)
	}
	sameKeyOtherIssuer, err := env.Emu.SignToken(claims("https://api.descope.com/Pother"))
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"other key": foreignKey, "other issuer": sameKeyOtherIssuer} {
		b := env.Browser(t)
		env.SetCookie(b, "DS", tok)
		me := env.Get(t, b, "/whoami")
		if me.UserID == "Uforeign" || !me.New {
			t.Errorf("%s: token accepted: %+v (errors %v)", name, me, env.Errors())
		}
		me = env.Do(t, env.Browser(t), http.MethodGet, "/whoami", nil, func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+tok)
		})
		if me.Status != http.StatusUnauthorized {
			t.Errorf("%s as bearer: %+v", name, me)
		}
	}
}

func refreshAsSession(t *testing.T, env *Env) {
	b := env.Browser(t)
	first := env.Get(t, b, "/whoami")
	dsr := env.Cookie(b, "DSR")
	// A local visitor's credential is its sealed cookie: it stands in for
	// no session or refresh token either.
	names := []string{"DS"}
	if env.Local() {
		dsr = env.Cookie(b, "DSL")
		names = []string{"DS", "DSR"}
	}
	for _, name := range names {
		attacker := env.Browser(t)
		env.SetCookie(attacker, name, dsr)
		if me := env.Get(t, attacker, "/whoami"); me.UserID == first.UserID {
			t.Errorf("%s accepted as %s cookie: %+v", env.IdentityCookies(), name, me)
		}
	}
	me := env.Do(t, env.Browser(t), http.MethodGet, "/whoami", nil, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+dsr)
	})
	if me.Status != http.StatusUnauthorized {
		t.Errorf("refresh token accepted as bearer: %+v", me)
	}
}

func noProvision(t *testing.T, env *Env) {
	for name, edit := range map[string]func(*http.Request){
		"googlebot": func(r *http.Request) { r.Header.Set("User-Agent", "Mozilla/5.0 (compatible; Googlebot/2.1)") },
		"no agent":  func(r *http.Request) { r.Header.Set("User-Agent", "") },
	} {
		me := env.Do(t, env.Browser(t), http.MethodGet, "/whoami", nil, edit)
		if me.Status != http.StatusUnauthorized || len(me.SetCookie) != 0 {
			t.Errorf("%s: %+v", name, me)
		}
	}
	me := env.Do(t, env.Browser(t), http.MethodHead, "/whoami", nil, nil)
	if len(me.SetCookie) != 0 {
		t.Errorf("HEAD set cookies %v", me.SetCookie)
	}
	me = env.Do(t, env.Browser(t), http.MethodOptions, "/whoami", nil, nil)
	if len(me.SetCookie) != 0 {
		t.Errorf("OPTIONS set cookies %v", me.SetCookie)
	}
	if n := env.Calls(); n != 0 {
		t.Errorf("made %d Descope calls: %v", n, env.Emu.RequestLog())
	}
}

func lazy(t *testing.T, env *Env) {
	b := env.Browser(t)
	if me := env.Get(t, b, "/whoami"); me.Status != http.StatusUnauthorized || len(me.SetCookie) != 0 {
		t.Fatalf("lazy mode identified a new visitor: %+v", me)
	}
	if n := env.Calls(); n != 0 {
		t.Fatalf("lazy mode called Descope %d times", n)
	}
	me := env.Get(t, b, "/ensure")
	if me.Status != http.StatusOK || !me.New || !me.Anonymous {
		t.Fatalf("Ensure: %+v", me)
	}
	if n := env.Calls(); n != env.ProvisionCalls() {
		t.Errorf("Ensure made %d calls, want %d", n, env.ProvisionCalls())
	}
	again := env.Get(t, b, "/whoami")
	if again.UserID != me.UserID || again.New {
		t.Errorf("after Ensure: %+v", again)
	}
	if ens := env.Get(t, b, "/ensure"); ens.UserID != me.UserID || ens.New {
		t.Errorf("second Ensure: %+v", ens)
	}
}

func regularUser(t *testing.T, env *Env) {
	c := env.Emu.MustClient(t)
	ctx := context.Background()
	if _, err := c.Management.User().Create(ctx, "reg@example.com", &descope.UserRequest{User: descope.User{Email: "reg@example.com"}}); err != nil {
		t.Fatal(err)
	}
	info, err := c.Management.JWT().SignIn(ctx, "reg@example.com", &descope.MgmLoginOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := env.Browser(t)
	env.SetCookie(b, "DS", info.SessionToken.JWT)
	env.SetCookie(b, "DSR", info.RefreshToken.JWT)
	env.Emu.ResetRequests()
	me := env.Get(t, b, "/whoami")
	if me.UserID != info.SessionToken.ID || me.Anonymous || me.New || env.Calls() != 0 {
		t.Fatalf("regular user: %+v, %d calls", me, env.Calls())
	}
	// Without a session cookie the refresh keeps the user regular.
	b2 := env.Browser(t)
	env.SetCookie(b2, "DSR", info.RefreshToken.JWT)
	me = env.Get(t, b2, "/whoami")
	if me.UserID != info.SessionToken.ID || me.Anonymous || me.New || !me.Refreshed {
		t.Fatalf("regular user refreshed: %+v", me)
	}
	// The refresh is the one call: nothing is provisioned, in no strategy.
	if n := env.Calls(); n != 1 || env.Emu.Requests("/v1/auth/refresh") != 1 {
		t.Errorf("regular user's refresh made %d calls, want the refresh alone: %v", n, env.Emu.RequestLog())
	}
}

func bearer(t *testing.T, env *Env) {
	b := env.Browser(t)
	first := env.Get(t, b, "/whoami")
	ds := env.Cookie(b, "DS")
	if env.Local() {
		// The local cookie is no bearer token; a Descope session is.
		me := env.Do(t, env.Browser(t), http.MethodGet, "/whoami", nil, func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+env.Cookie(b, "DSL"))
		})
		if me.Status != http.StatusUnauthorized || len(me.SetCookie) != 0 {
			t.Errorf("local cookie as bearer: %+v", me)
		}
		first.UserID, ds = regularSession(t, env)
	}
	env.Emu.ResetRequests()
	me := env.Do(t, env.Browser(t), http.MethodGet, "/whoami", nil, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+ds)
	})
	if me.UserID != first.UserID || len(me.SetCookie) != 0 || env.Calls() != 0 {
		t.Errorf("bearer: %+v", me)
	}
}

func duplicateCookies(t *testing.T, env *Env) {
	victim := env.Browser(t)
	v := env.Get(t, victim, "/whoami")
	attacker := env.Browser(t)
	a := env.Get(t, attacker, "/whoami")
	env.Emu.ResetRequests()
	name := env.IdentityCookies()[0]
	me := env.Do(t, env.Browser(t), http.MethodGet, "/whoami", nil, func(r *http.Request) {
		r.Header.Add("Cookie", name+"="+env.Cookie(attacker, name))
		r.Header.Add("Cookie", name+"="+env.Cookie(victim, name))
	})
	if me.Status != http.StatusUnauthorized || len(me.SetCookie) != 0 || env.Calls() != 0 {
		t.Errorf("duplicate cookies (%s, %s): %+v", a.UserID, v.UserID, me)
	}
	errs := env.Errors()
	if len(errs) == 0 || !errors.Is(errs[len(errs)-1], anonymous.ErrDuplicateCookie) {
		t.Errorf("error hook saw %v", errs)
	}
}

func conversion(t *testing.T, env *Env) {
	b := env.Browser(t)
	first := env.Get(t, b, "/whoami")
	oldDS := env.Cookie(b, "DS")
	me := env.Convert(t, b, "Visitor@Example.com")
	if me.Status != http.StatusOK || me.UserID == "" || me.Anonymous {
		t.Fatalf("verify: %+v", me)
	}
	// User-backed conversion keeps the ID; native conversion signs up a new
	// user, and the hook hears which ID the data was kept under.
	if sameID := me.UserID == first.UserID; sameID != (env.Strategy == anonymous.UserBacked) {
		t.Errorf("%s conversion: user %s, anonymous %s", env.Strategy, me.UserID, first.UserID)
	}
	if got := env.Converted(); len(got) != 1 || got[0] != [2]string{first.UserID, me.UserID} {
		t.Errorf("OnConvert saw %v", got)
	}
	if env.Cookie(b, "DS") == oldDS || FindCookie(me.SetCookie, "DSR") == nil {
		t.Errorf("cookies not renewed: %v", me.SetCookie)
	}
	if env.Local() {
		if c := FindCookie(me.SetCookie, "DSL"); c == nil || c.MaxAge >= 0 || env.Cookie(b, "DSL") != "" {
			t.Errorf("local cookie not cleared: %v", me.SetCookie)
		}
	}
	after := env.Get(t, b, "/whoami")
	if after.UserID != me.UserID || after.Anonymous || after.New {
		t.Errorf("after conversion: %+v", after)
	}
}

// regularSession signs in a regular user through the management API and
// returns its ID and session token.
func regularSession(t *testing.T, env *Env) (string, string) {
	t.Helper()
	c := env.Emu.MustClient(t)
	ctx := context.Background()
	if _, err := c.Management.User().Create(ctx, "bearer@example.com", &descope.UserRequest{User: descope.User{Email: "bearer@example.com"}}); err != nil {
		t.Fatal(err)
	}
	info, err := c.Management.JWT().SignIn(ctx, "bearer@example.com", &descope.MgmLoginOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return info.SessionToken.ID, info.SessionToken.JWT
}

// localCookies: a local ID cookie is trusted only exactly as sealed by a key
// the middleware holds. In the Descope strategies (no local keys) even a
// genuine one is ignored.
func localCookies(t *testing.T, env *Env) {
	other, err := anonymous.New(env.Emu.MustClient(t), anonymous.WithStrategy(anonymous.LocalIDs),
		anonymous.WithLocalKeys([]byte("another deployment's local key, 40 bytes")), anonymous.WithCookieSecure(false))
	if err != nil {
		t.Fatal(err)
	}
	foreign := mintLocal(t, other)
	env.Emu.ResetRequests() // the second SDK client's start-up call
	if !env.Local() {
		b := env.Browser(t)
		env.SetCookie(b, "DSL", foreign)
		if me := env.Get(t, b, "/whoami"); !me.New || anonymous.IsLocalID(me.UserID) {
			t.Errorf("%s strategy took a local cookie: %+v", env.Strategy, me)
		}
		return
	}
	b := env.Browser(t)
	first := env.Get(t, b, "/whoami")
	genuine := env.Cookie(b, "DSL")
	jwt, err := env.Emu.SignToken(map[string]any{"sub": first.UserID, "iss": env.Emu.ProjectID, "drn": "DS",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		c := []byte(genuine)
		if c[i] == 'A' {
			c[i] = 'B'
		} else {
			c[i] = 'A'
		}
		return string(c)
	}
	bad := map[string]string{
		"another key":    foreign,
		"truncated":      genuine[:len(genuine)-1],
		"extended":       genuine + "A",
		"first byte":     flip(0),
		"middle byte":    flip(len(genuine) / 2),
		"last byte":      flip(len(genuine) - 1),
		"empty":          "",
		"not base64":     strings.Repeat("*", len(genuine)),
		"a session JWT":  jwt,
		"local ID alone": first.UserID,
	}
	for name, v := range bad {
		nb := env.Browser(t)
		env.SetCookie(nb, "DSL", v)
		me := env.Get(t, nb, "/whoami")
		if me.Status != http.StatusOK || !me.New || me.UserID == first.UserID || !anonymous.IsLocalID(me.UserID) {
			t.Errorf("%s: %+v, want a fresh local ID (first %s)", name, me, first.UserID)
		}
	}
	if me := env.Get(t, b, "/whoami"); me.UserID != first.UserID || me.New {
		t.Errorf("genuine cookie after the forgeries: %+v", me)
	}
	if n := env.Emu.TotalRequests(); n != 0 {
		t.Errorf("local cookies cost %d Descope calls: %v", n, env.Emu.RequestLog())
	}
}

// rotatedConversion: with refresh-token rotation and reuse detection (the
// emulator's defaults with rotation), a conversion whose start and verify
// requests each come with an expired session (the browser dropped DS) is
// refreshed on the way in, which rotates the refresh cookie out: it answers
// 200 twice, the visitor's next request is the converted user (no new
// identity), and no refresh token the visitor was handed before, the one
// rotated in on the verify request included (its answer's first DSR), nor
// any other of the anonymous identity, refreshes at Descope. A local
// visitor holds no refresh token: its conversion is the conversion case.
func rotatedConversion(t *testing.T, env *Env) {
	if env.Local() {
		t.Skip("a local visitor holds no refresh token")
	}
	b := env.Browser(t)
	first := env.Get(t, b, "/whoami")
	seen := []string{env.Cookie(b, "DSR")}
	note := func(me Me) Me {
		for _, c := range me.SetCookie {
			if c.Name == "DSR" && c.Value != "" {
				seen = append(seen, c.Value)
			}
		}
		return me
	}
	const addr = "rotated@example.com"
	env.DropCookie(b, "DS")
	if st := note(env.Post(t, b, "/convert/start", map[string]string{"email": addr})); st.Status != http.StatusOK || len(seen) != 2 {
		t.Fatalf("start on a refreshed request: %d %s, %d refresh tokens", st.Status, st.Body, len(seen))
	}
	code, ok := env.Emu.Outbox(addr)
	if !ok {
		t.Fatal("no code sent")
	}
	env.DropCookie(b, "DS")
	me := note(env.Post(t, b, "/convert/verify", map[string]string{"email": addr, "code": code}))
	if me.Status != http.StatusOK || me.UserID == "" || me.Anonymous || len(seen) != 4 {
		t.Fatalf("verify on a refreshed request: %d %s, %d refresh tokens", me.Status, me.Body, len(seen))
	}
	if sameID := me.UserID == first.UserID; sameID != (env.Strategy == anonymous.UserBacked) {
		t.Errorf("%s conversion: user %s, anonymous %s", env.Strategy, me.UserID, first.UserID)
	}
	users := env.Emu.UserCount()
	if after := env.Get(t, b, "/whoami"); after.UserID != me.UserID || after.Anonymous || after.New || env.Emu.UserCount() != users {
		t.Errorf("after conversion: %+v", after)
	}
	want := 0 // the anonymous identity's: none left
	if env.Strategy == anonymous.UserBacked {
		want = 1 // the same user ID's: the converted session's only
	}
	if n := env.Emu.LiveRefreshTokens(first.UserID); n != want {
		t.Errorf("%d live refresh tokens of %s at Descope, want %d", n, first.UserID, want)
	}
	// Newest first: presenting a rotated-out token revokes its whole
	// session, which would hide a newer one left live.
	for i := len(seen) - 2; i >= 0; i-- {
		if _, _, err := env.SDK.Auth.RefreshSessionWithToken(context.Background(), seen[i]); err == nil {
			t.Errorf("refresh token %d of %d handed out before the conversion still refreshes", i+1, len(seen)-1)
		}
	}
}

// mintLocal provisions a local visitor through m and returns its cookie.
func mintLocal(t *testing.T, m *anonymous.Middleware) string {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("User-Agent", BrowserUA)
	w := httptest.NewRecorder()
	m.Handler(http.NotFoundHandler()).ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == "DSL" {
			return c.Value
		}
	}
	t.Fatalf("no local cookie minted: %v", w.Result().Header)
	return ""
}

// waitPast sleeps until the unix second exp has passed.
func waitPast(exp time.Time) {
	if d := time.Until(exp); d > 0 {
		time.Sleep(d + 50*time.Millisecond)
	}
}
