package anonymous_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// otherLocalKey seals the local cookies of some other deployment; the tests'
// own is anontest.LocalKey.
var otherLocalKey = []byte("local_test.go: the key of some other deployment!!")

// localMW builds a LocalIDs middleware with anontest.LocalKey (then opts) on emu,
// without Init, and returns it behind anontest.App. The emulator's
// request count starts at zero after it.
func localMW(t testing.TB, emu *descopetest.Emulator, opts ...anonymous.Option) (*anonymous.Middleware, http.Handler) {
	t.Helper()
	base := []anonymous.Option{anonymous.WithCookieSecure(false), anonymous.WithStrategy(anonymous.LocalIDs),
		anonymous.WithLocalKeys(anontest.LocalKey), anonymous.WithEmulatorLifetimes(), anonymous.WithTimeout(time.Second)}
	m, err := anonymous.New(emu.MustClient(t), append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	emu.ResetRequests() // the SDK client's start-up call
	return m, m.Handler(anontest.App(m, &anontest.ErrLog{}))
}

// newEmu starts an emulator with opts, closed when the test ends.
func newEmu(t testing.TB, opts ...descopetest.Option) *descopetest.Emulator {
	emu := descopetest.New(opts...)
	t.Cleanup(emu.Close)
	return emu
}

// mintVisitor sends a cookie-less request from remote and returns the new
// local visitor's ID and cookie.
func mintVisitor(t testing.TB, h http.Handler, remote string) (string, string) {
	t.Helper()
	res := anontest.Serve(h, http.MethodGet, "/", "", remote, nil)
	dsl := anontest.FindCookie(res.SetCookie, "DSL")
	if res.Status != http.StatusOK || !res.New || !anonymous.IsLocalID(res.UserID) || dsl == nil || dsl.Value == "" {
		t.Fatalf("no local visitor minted: %+v", res)
	}
	return res.UserID, dsl.Value
}

// withDSL sends the local cookie v.
func withDSL(v string) func(*http.Request) { return cookieHeader("DSL=" + v) }

func TestLocalOptions(t *testing.T) {
	emu := newEmu(t)
	c := emu.MustClient(t)
	local := anonymous.WithStrategy(anonymous.LocalIDs)
	key := anonymous.WithLocalKeys(anontest.LocalKey)
	bad := map[string][]anonymous.Option{
		"LocalIDs without keys":   {local},
		"no key at all":           {local, anonymous.WithLocalKeys()},
		"31-byte key":             {local, anonymous.WithLocalKeys([]byte(strings.Repeat("k", 20) + "0123456789a"))},
		"short second key":        {local, anonymous.WithLocalKeys(anontest.LocalKey, []byte("short"))},
		"a key of one byte value": {local, anonymous.WithLocalKeys(make([]byte, 32))},
		"bad local cookie name":   {local, key, anonymous.WithLocalCookieName("D;SL")},
		"local cookie named DS":   {local, key, anonymous.WithLocalCookieName("DS")},
		"local cookie named DSR":  {local, key, anonymous.WithCookieNames("S", "DSL")},
		"unknown strategy":        {anonymous.WithStrategy(anonymous.Strategy(7)), key},
	}
	for name, opts := range bad {
		if m, err := anonymous.New(c, opts...); err == nil || m != nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	good := map[string][]anonymous.Option{
		"32-byte key":              {local, anonymous.WithLocalKeys([]byte("0123456789abcdef0123456789abcdef"))},
		"two keys":                 {local, anonymous.WithLocalKeys(anontest.LocalKey, otherLocalKey)},
		"own cookie name":          {local, key, anonymous.WithLocalCookieName("visitor")},
		"keys with another":        {anonymous.WithStrategy(anonymous.NativeTokens), key},
		"explicit global limit":    {local, key, anonymous.WithGlobalRateLimit(0, 0)},
		"keys given before strat.": {key, local},
	}
	for name, opts := range good {
		if _, err := anonymous.New(c, opts...); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if anonymous.LocalIDs.String() != "local" {
		t.Errorf("LocalIDs.String() = %q", anonymous.LocalIDs.String())
	}
	for id, want := range map[string]bool{
		"local-0b4c1f3e-9d2a-4c8e-8f3b-2a1d5e6f7a8b": true,
		"local-0b4c1f3e-9d2a-1c8e-8f3b-2a1d5e6f7a8b": false, // version 1
		"anon-0b4c1f3e-9d2a-4c8e-8f3b-2a1d5e6f7a8b":  false,
		"local-0b4c1f3e9d2a4c8e8f3b2a1d5e6f7a8b":     false,
		"U2beIJHbmK04QQ0saNqnNmOTOJiv":               false,
		"local-":                                     false,
	} {
		if got := anonymous.IsLocalID(id); got != want {
			t.Errorf("IsLocalID(%q) = %v", id, got)
		}
	}
}

// Ten thousand new visitors, each from its own address under the default
// limits, get ten thousand distinct local IDs without one call to Descope
// (not even the tenant lookup: New makes none and Init is not called).
func TestLocalTenThousandVisitorsNoDescopeCall(t *testing.T) {
	t.Parallel()
	emu := newEmu(t)
	m, err := anonymous.New(emu.MustClient(t), anonymous.WithStrategy(anonymous.LocalIDs), anonymous.WithLocalKeys(anontest.LocalKey))
	if err != nil {
		t.Fatal(err)
	}
	emu.ResetRequests() // the SDK client's start-up call
	h := m.Handler(anontest.App(m, &anontest.ErrLog{}))
	const n = 10_000
	seen := make(map[string]string, n)
	for i := range n {
		id, dsl := mintVisitor(t, h, fmt.Sprintf("10.%d.%d.%d:4000", i>>16&0xff, i>>8&0xff, i&0xff))
		if _, dup := seen[id]; dup {
			t.Fatalf("local ID %s given twice", id)
		}
		seen[id] = dsl
	}
	checked := 0
	for id, dsl := range seen {
		if res := anontest.Serve(h, http.MethodGet, "/", "", "192.0.2.9:1", withDSL(dsl)); res.UserID != id || res.New || len(res.SetCookie) != 0 {
			t.Fatalf("returning visitor %s: %+v", id, res)
		}
		if checked++; checked == 1000 {
			break
		}
	}
	if got := emu.TotalRequests(); got != 0 {
		t.Fatalf("%d new and 1,000 returning local visitors made %d Descope calls: %v", n, got, emu.RequestLog()[:min(got, 10)])
	}
}

// rawCookie decodes a sealed cookie value, and spells raw bytes as one.
func rawCookie(t testing.TB, v string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func spell(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Every forgery of the local cookie gets a fresh local ID: never the
// genuine visitor's, never another visitor's.
func TestLocalForgedCookies(t *testing.T) {
	emu := newEmu(t)
	_, h := localMW(t, emu, anonymous.WithClientRateLimit(0, 0))
	victim, v := mintVisitor(t, h, "192.0.2.1:1")
	other, o := mintVisitor(t, h, "192.0.2.2:1")
	_, foreignH := localMW(t, emu, anonymous.WithLocalKeys(otherLocalKey))
	_, foreign := mintVisitor(t, foreignH, "192.0.2.3:1")
	_, renamedH := localMW(t, emu, anonymous.WithLocalCookieName("OTHER"))
	renamed := anontest.FindCookie(anontest.Serve(renamedH, http.MethodGet, "/", "", "192.0.2.4:1", nil).SetCookie, "OTHER")
	if renamed == nil || renamed.Value == "" {
		t.Fatal("no local cookie minted under the name OTHER")
	}

	forgeries := map[string]string{
		"another deployment's key":     foreign,
		"sealed for another cookie":    renamed.Value,
		"empty":                        "",
		"quotes only":                  `""`,
		"padded base64":                v + "==",
		"standard base64 alphabet":     base64.RawStdEncoding.EncodeToString(rawCookie(t, v)),
		"the ID in the clear":          victim,
		"line break inside":            v[:20] + "\n" + v[21:],
		"version 2":                    spell(append([]byte{2}, rawCookie(t, v)[1:]...)),
		"all zero":                     spell(make([]byte, len(rawCookie(t, v)))),
		"victim's header, other's box": spell(append(rawCookie(t, v)[:5:5], rawCookie(t, o)[5:]...)),
	}
	raw := rawCookie(t, v)
	for i := range raw {
		for _, bit := range []byte{0x01, 0x80} {
			b := slices.Clone(raw)
			b[i] ^= bit
			forgeries[fmt.Sprintf("byte %d ^ %#x", i, bit)] = spell(b)
		}
	}
	for n := range len(v) {
		forgeries[fmt.Sprintf("first %d characters", n)] = v[:n]
		forgeries[fmt.Sprintf("spliced at %d", n+1)] = v[:n+1] + o[n+1:]
		forgeries[fmt.Sprintf("other spliced at %d", n+1)] = o[:n+1] + v[n+1:]
	}
	forgeries["extended"] = v + "A"
	for name, f := range forgeries {
		if f == v || f == o {
			delete(forgeries, name) // a splice where both cookies agree (their header, for one)
		}
	}
	for name, f := range forgeries {
		res := anontest.Serve(h, http.MethodGet, "/", "", "198.51.100.1:1", withDSL(f))
		if res.Status != http.StatusOK || !res.New || res.UserID == victim || res.UserID == other || !anonymous.IsLocalID(res.UserID) {
			t.Errorf("%s: %+v, want a fresh local ID", name, res)
		}
		if c := anontest.FindCookie(res.SetCookie, "DSL"); c == nil || c.Value == "" {
			t.Errorf("%s: the forged cookie was not replaced", name)
		}
	}
	// Quoted, the genuine value is the same cookie (RFC 6265 allows quotes).
	if res := anontest.Serve(h, http.MethodGet, "/", "", "", withDSL(`"`+v+`"`)); res.UserID != victim || res.New {
		t.Errorf("quoted genuine cookie: %+v", res)
	}
	if n := emu.TotalRequests(); n != 0 {
		t.Errorf("forged local cookies made %d Descope calls", n)
	}
}

// A local cookie lives exactly the anonymous lifetime: a replay after its
// expiry gets a fresh ID, and a later WithLifetime applies to new cookies.
func TestLocalCookieExpiry(t *testing.T) {
	emu := newEmu(t)
	clock := &anontest.Clock{}
	_, h := localMW(t, emu, anonymous.WithLifetime(time.Hour), anonymous.WithSessionTTL(time.Minute), anonymous.WithClock(clock.Now))
	res := anontest.Serve(h, http.MethodGet, "/", "", "192.0.2.1:1", nil)
	set := anontest.FindCookie(res.SetCookie, "DSL")
	if set == nil || !set.HttpOnly || set.SameSite != http.SameSiteLaxMode || set.Path != "/" || set.MaxAge < 3590 || set.MaxAge > 3600 {
		t.Fatalf("local cookie attributes: %+v", set)
	}
	id, v, exp := res.UserID, set.Value, set.Expires
	clock.Advance(time.Until(exp) - time.Second)
	if res := anontest.Serve(h, http.MethodGet, "/", "", "", withDSL(v)); res.UserID != id || res.New {
		t.Fatalf("a second before expiry: %+v", res)
	}
	clock.Advance(time.Second)
	res = anontest.Serve(h, http.MethodGet, "/", "", "", withDSL(v))
	if c := anontest.FindCookie(res.SetCookie, "DSL"); !res.New || res.UserID == id || c == nil || c.Value == v {
		t.Fatalf("replay at expiry: %+v", res)
	}
	clock.Advance(24 * time.Hour)
	if res := anontest.Serve(h, http.MethodGet, "/", "", "", withDSL(v)); !res.New || res.UserID == id {
		t.Fatalf("replay a day later: %+v", res)
	}
}

// Replicas share no store: the same keys are all they need. A replica with
// other keys does not trust the cookie.
func TestLocalReplicas(t *testing.T) {
	emuA, emuB := newEmu(t), newEmu(t, descopetest.WithFreshKey())
	_, a := localMW(t, emuA)
	_, b := localMW(t, emuB)
	_, c := localMW(t, emuB, anonymous.WithLocalKeys(otherLocalKey))
	id, v := mintVisitor(t, a, "192.0.2.1:1")
	for range 3 {
		if res := anontest.Serve(b, http.MethodGet, "/", "", "", withDSL(v)); res.UserID != id || res.New || len(res.SetCookie) != 0 {
			t.Fatalf("replica B: %+v", res)
		}
	}
	if res := anontest.Serve(c, http.MethodGet, "/", "", "", withDSL(v)); res.UserID == id || !res.New {
		t.Fatalf("replica with other keys trusted the cookie: %+v", res)
	}
	if emuA.TotalRequests()+emuB.TotalRequests() != 0 {
		t.Errorf("replicas called Descope: %d, %d", emuA.TotalRequests(), emuB.TotalRequests())
	}
}

// Rotation: a cookie sealed by an older key still opens, keeps its ID and
// expiry, and is sealed again under the first key; once the old key is
// dropped, only the resealed cookie opens.
func TestLocalKeyRotation(t *testing.T) {
	emu := newEmu(t)
	_, before := localMW(t, emu, anonymous.WithLocalKeys(otherLocalKey))
	_, during := localMW(t, emu, anonymous.WithLocalKeys(anontest.LocalKey, otherLocalKey))
	_, after := localMW(t, emu, anonymous.WithLocalKeys(anontest.LocalKey))
	minted := anontest.Serve(before, http.MethodGet, "/", "", "192.0.2.1:1", nil)
	oldC := anontest.FindCookie(minted.SetCookie, "DSL")
	if oldC == nil {
		t.Fatalf("no local cookie minted: %+v", minted)
	}
	id, old := minted.UserID, oldC.Value
	res := anontest.Serve(during, http.MethodGet, "/", "", "", withDSL(old))
	resealedC := anontest.FindCookie(res.SetCookie, "DSL")
	if res.UserID != id || res.New || resealedC == nil || resealedC.Value == "" || resealedC.Value == old {
		t.Fatalf("old-key cookie during rotation: %+v", res)
	}
	resealed := resealedC.Value
	if again := anontest.Serve(during, http.MethodGet, "/", "", "", withDSL(old)); again.UserID != id || anontest.FindCookie(again.SetCookie, "DSL") == nil {
		t.Errorf("old-key cookie again during rotation (it is not remembered, so it is resealed again): %+v", again)
	}
	if res.SetCookie[0].Expires.Unix() != minted.SetCookie[0].Expires.Unix() {
		t.Errorf("resealing moved the expiry: %v, was %v", res.SetCookie[0].Expires, minted.SetCookie[0].Expires)
	}
	if again := anontest.Serve(during, http.MethodGet, "/", "", "", withDSL(resealed)); again.UserID != id || len(again.SetCookie) != 0 {
		t.Errorf("resealed cookie: %+v", again)
	}
	if res := anontest.Serve(after, http.MethodGet, "/", "", "", withDSL(resealed)); res.UserID != id || res.New {
		t.Errorf("resealed cookie after the old key was dropped: %+v", res)
	}
	if res := anontest.Serve(after, http.MethodGet, "/", "", "", withDSL(old)); res.UserID == id || !res.New {
		t.Errorf("old-key cookie after the old key was dropped: %+v", res)
	}
}

// A returning local visitor's cookie is opened once and then found in the
// cache, as a session token is; with the cache off it is opened every time.
func TestLocalCookieCache(t *testing.T) {
	for _, cached := range []bool{true, false} {
		var hits, misses atomic.Int32
		opts := []anonymous.Option{anonymous.WithObserver(func(_ context.Context, e anonymous.Event) {
			switch e.Kind {
			case anonymous.EventCacheHit:
				hits.Add(1)
			case anonymous.EventCacheMiss:
				misses.Add(1)
			}
		})}
		if !cached {
			opts = append(opts, anonymous.WithTokenCache(0, 0))
		}
		_, h := localMW(t, newEmu(t), opts...)
		minted := anontest.Serve(h, http.MethodGet, "/", "", "192.0.2.1:1", nil)
		v := anontest.FindCookie(minted.SetCookie, "DSL").Value
		for range 3 {
			if res := anontest.Serve(h, http.MethodGet, "/", "", "", withDSL(v)); res.UserID != minted.UserID || res.New || len(res.SetCookie) != 0 {
				t.Fatalf("cached=%v: returning visitor %+v", cached, res)
			}
		}
		if tampered := anontest.Serve(h, http.MethodGet, "/", "", "", withDSL(v[:len(v)-2]+"AA")); tampered.UserID == minted.UserID {
			t.Errorf("cached=%v: a tampered cookie named the visitor", cached)
		}
		wantHits := int32(2)
		if !cached {
			wantHits = 0
		}
		if hits.Load() != wantHits || misses.Load() != 4-wantHits {
			t.Errorf("cached=%v: %d hits, %d misses", cached, hits.Load(), misses.Load())
		}
	}
}

// A Descope session in the request wins over a local cookie; a local cookie
// of two values is trusted for nothing.
func TestLocalCookieBesideDescopeSession(t *testing.T) {
	env := localEnv(t, netHTTP)
	b, first := env.Visitor(t)
	other, _ := env.Visitor(t)
	c := env.Emu.MustClient(t)
	if _, err := c.Management.User().Create(context.Background(), "reg@example.com", &descope.UserRequest{User: descope.User{Email: "reg@example.com"}}); err != nil {
		t.Fatal(err)
	}
	info, err := c.Management.JWT().SignIn(context.Background(), "reg@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	env.SetCookie(b, "DS", info.SessionToken.JWT)
	if me := env.Get(t, b, "/whoami"); me.UserID != info.SessionToken.ID || me.Anonymous {
		t.Errorf("a Descope session beside a local cookie: %+v", me)
	}
	me := env.Do(t, env.Browser(t), http.MethodGet, "/whoami", nil, func(r *http.Request) {
		r.Header.Add("Cookie", "DSL="+env.Cookie(b, "DSL"))
		r.Header.Add("Cookie", "DSL="+env.Cookie(other, "DSL"))
	})
	if me.Status != http.StatusUnauthorized || len(me.SetCookie) != 0 {
		t.Errorf("two local cookies (%s): %+v", first.UserID, me)
	}
	if errs := env.Errors(); len(errs) == 0 || !errors.Is(errs[len(errs)-1], anonymous.ErrDuplicateCookie) {
		t.Errorf("error hook saw %v", errs)
	}
}

// A deployment leaving LocalIDs keeps its keys: visitors holding a local
// cookie keep their ID (and can be promoted), new ones get the new strategy.
func TestLocalVisitorsAfterStrategyChange(t *testing.T) {
	emu := newEmu(t, descopetest.WithSecondsUnit())
	_, localH := localMW(t, emu)
	id, v := mintVisitor(t, localH, "192.0.2.1:1")
	s := &appData{data: map[string][]string{id: {"cart"}}}
	env := anontest.NewEnv(t, netHTTP, nil, anonymous.WithLocalKeys(anontest.LocalKey), anonymous.WithOnConvert(s.move))
	b := env.Browser(t)
	env.SetCookie(b, "DSL", v)
	if me := env.Get(t, b, "/whoami"); me.UserID != id || me.New || env.Calls() != 0 {
		t.Fatalf("local visitor under UserBacked: %+v", me)
	}
	if me := env.Get(t, env.Browser(t), "/whoami"); !me.New || anonymous.IsLocalID(me.UserID) || len(me.LoginIDs) != 1 {
		t.Fatalf("new visitor under UserBacked: %+v", me)
	}
	me := env.Post(t, b, "/x/promote", nil)
	if me.Status != http.StatusOK || anonymous.IsLocalID(me.UserID) || !me.Anonymous || !slices.Equal(s.get(me.UserID), []string{"cart"}) {
		t.Fatalf("promotion of the local visitor: %+v, data %v", me, s.data)
	}
}

// promoteTo is the path of App that promotes the visitor with PromoteTo s.
func promoteTo(s anonymous.Strategy) string { return "/x/promote?to=" + s.String() }

// localEnv is an Env of the LocalIDs strategy served through mount.
func localEnv(t *testing.T, mount anontest.Mount, opts ...anonymous.Option) *anontest.Env {
	t.Helper()
	return anontest.NewEnvWith(t, anontest.Setup{Mount: mount, Strategy: anonymous.LocalIDs}, nil, opts...)
}

func TestLocalConversionMovesData(t *testing.T) {
	for _, tc := range []struct{ field, start, verify, login string }{
		{"email", "Ada@Example.com", "ada@example.COM", "ada@example.com"},
		{"phone", "+14155550100", "+1 (415) 555-0100", "+14155550100"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			s := &appData{data: map[string][]string{}}
			env := localEnv(t, netHTTP, anonymous.WithOnConvert(s.move))
			b, first := env.Visitor(t)
			s.data[first.UserID] = []string{"cart"}
			oldDSL := env.Cookie(b, "DSL")
			if st := env.Post(t, b, "/convert/start", map[string]string{tc.field: tc.start}); st.Status != http.StatusOK {
				t.Fatalf("start: %+v", st)
			}
			code, ok := env.Emu.Outbox(tc.login)
			if !ok {
				t.Fatal("no code sent")
			}
			if st := env.Post(t, b, "/convert/verify", map[string]string{tc.field: tc.verify, "code": wrongCode(code)}); st.Status != http.StatusBadRequest {
				t.Errorf("wrong code: %+v", st)
			}
			me := env.Post(t, b, "/convert/verify", map[string]string{tc.field: tc.verify, "code": code})
			if me.Status != http.StatusOK || me.Anonymous || anonymous.IsLocalID(me.UserID) || !slices.Contains(me.LoginIDs, tc.login) {
				t.Fatalf("verify: %+v", me)
			}
			if got := s.get(me.UserID); !slices.Equal(got, []string{"cart"}) || s.get(first.UserID) != nil {
				t.Errorf("data not moved: %v", s.data)
			}
			if env.Cookie(b, "DSL") != "" || env.Cookie(b, "DS") == "" || env.Cookie(b, "DSR") == "" {
				t.Errorf("cookies after conversion: %v", me.SetCookie)
			}
			if after := env.Get(t, b, "/whoami"); after.UserID != me.UserID || after.Anonymous {
				t.Errorf("after conversion: %+v", after)
			}
			// A copy of the old local cookie cannot be revoked (nothing is
			// stored), but it only ever names the old local ID, whose data
			// has moved: never the account.
			replay := env.Browser(t)
			env.SetCookie(replay, "DSL", oldDSL)
			if r := env.Get(t, replay, "/whoami"); r.UserID != first.UserID || !r.Anonymous {
				t.Errorf("old local cookie: %+v", r)
			}
		})
	}
}

// The code verifies only the address it was sent to (issue 13's first
// finding, for a local visitor): naming another address at verify gets
// nothing, and the other account is untouched.
func TestLocalConversionBoundToAddress(t *testing.T) {
	env := localEnv(t, netHTTP)
	c := env.Emu.MustClient(t)
	if _, err := c.Management.User().Create(context.Background(), "victim@example.com", &descope.UserRequest{User: descope.User{Email: "victim@example.com"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := env.Visitor(t)
	env.Post(t, b, "/convert/start", map[string]string{"email": "attacker@example.com"})
	code, _ := env.Emu.Outbox("attacker@example.com")
	for _, victim := range []string{"victim@example.com", "Victim@Example.com"} {
		me := env.Post(t, b, "/convert/verify", map[string]string{"email": victim, "code": code})
		if me.Status != http.StatusConflict || len(me.SetCookie) != 0 {
			t.Errorf("verify naming %s: %+v", victim, me)
		}
	}
	if _, ok := env.Emu.Outbox("victim@example.com"); ok {
		t.Error("a code went to the victim")
	}
	if n := len(env.Converted()); n != 0 {
		t.Errorf("OnConvert called %d times", n)
	}
	// Verify with no code sent at all.
	b2, _ := env.Visitor(t)
	if me := env.Post(t, b2, "/convert/verify", map[string]string{"email": "attacker@example.com", "code": code}); me.Status != http.StatusConflict {
		t.Errorf("verify without start: %+v", me)
	}
}

// Conversion trusts a local visitor only with its own cookie: a request
// whose context names a local ID but whose cookie is missing, foreign or
// another visitor's sends no code.
func TestLocalConversionNeedsTheCookie(t *testing.T) {
	emu := newEmu(t, descopetest.WithSecondsUnit())
	m, h := localMW(t, emu)
	idA, _ := mintVisitor(t, h, "192.0.2.1:1")
	_, dslB := mintVisitor(t, h, "192.0.2.2:1")
	_, foreignH := localMW(t, emu, anonymous.WithLocalKeys(otherLocalKey))
	_, foreign := mintVisitor(t, foreignH, "192.0.2.3:1")
	// The context is set by hand, as a handler test would: the middleware
	// is not in front.
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(anonymous.NewContext(r.Context(), &anonymous.User{ID: idA, Anonymous: true}))
		m.ConvertStartHandler().ServeHTTP(w, r)
	})
	for name, cookie := range map[string]string{
		"no cookie": "", "another visitor's": "DSL=" + dslB, "another key's": "DSL=" + foreign, "garbage": "DSL=xyz",
	} {
		res := anontest.Serve(app, http.MethodPost, "/", `{"email":"a@example.com"}`, "", cookieHeader(cookie))
		if res.Status != http.StatusUnauthorized {
			t.Errorf("%s: %d %s", name, res.Status, res.Body)
		}
	}
	if _, ok := emu.Outbox("a@example.com"); ok || emu.TotalRequests() != 0 {
		t.Errorf("a code was sent: %v", emu.RequestLog())
	}
}

func TestLocalConversionHookFailureKeepsVisitor(t *testing.T) {
	s := &appData{data: map[string][]string{}, fail: errors.New("database down")}
	env := localEnv(t, netHTTP, anonymous.WithOnConvert(s.move))
	b, first := env.Visitor(t)
	dsl := env.Cookie(b, "DSL")
	env.Post(t, b, "/convert/start", map[string]string{"email": "x@example.com"})
	code, _ := env.Emu.Outbox("x@example.com")
	env.Emu.ResetRequests()
	me := env.Post(t, b, "/convert/verify", map[string]string{"email": "x@example.com", "code": code})
	if me.Status != http.StatusInternalServerError || len(me.SetCookie) != 0 {
		t.Fatalf("verify with failing hook: %+v", me)
	}
	if env.Emu.Requests("/v1/auth/logout") != 1 {
		t.Errorf("the issued refresh token was not revoked: %v", env.Emu.RequestLog())
	}
	if me := env.Get(t, b, "/whoami"); me.UserID != first.UserID || !me.Anonymous || env.Cookie(b, "DSL") != dsl {
		t.Errorf("visitor after failed hook: %+v", me)
	}
	s.mu.Lock()
	s.fail = nil
	s.mu.Unlock()
	env.Post(t, b, "/convert/start", map[string]string{"email": "x@example.com"})
	code, _ = env.Emu.Outbox("x@example.com")
	if me := env.Post(t, b, "/convert/verify", map[string]string{"email": "x@example.com", "code": code}); me.Status != http.StatusOK || me.Anonymous {
		t.Errorf("retry: %+v", me)
	}
}

// A double-submitted verify: one success, the rest a clear 409, never 500.
func TestLocalConversionDoubleSubmit(t *testing.T) {
	env := localEnv(t, netHTTP)
	b, _ := env.Visitor(t)
	env.Post(t, b, "/convert/start", map[string]string{"email": "twice@example.com"})
	code, _ := env.Emu.Outbox("twice@example.com")
	dsl := env.Cookie(b, "DSL")
	const n = 10
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			me := env.Do(t, env.Browser(t), http.MethodPost, "/convert/verify", map[string]string{"email": "twice@example.com", "code": code},
				func(r *http.Request) { r.Header.Set("Cookie", "DSL="+dsl) })
			statuses[i] = me.Status
		})
	}
	wg.Wait()
	ok := successes(t, statuses, true)
	if ok != 1 || len(env.Converted()) != 1 {
		t.Errorf("statuses %v, %d conversions", statuses, len(env.Converted()))
	}
}

func TestLocalPromote(t *testing.T) {
	for _, tc := range []struct {
		to     anonymous.Strategy
		calls  map[string]int
		native bool
	}{
		{anonymous.UserBacked, map[string]int{"/v1/mgmt/user/create": 1, "/v1/mgmt/auth/signin": 1}, false},
		{anonymous.NativeTokens, map[string]int{"/v1/mgmt/auth/anonymous": 1}, true},
	} {
		t.Run(tc.to.String(), func(t *testing.T) {
			s := &appData{data: map[string][]string{}}
			env := localEnv(t, netHTTP, anonymous.WithOnConvert(s.move))
			b, first := env.Visitor(t)
			s.data[first.UserID] = []string{"draft"}
			env.Emu.ResetRequests()
			me := env.Post(t, b, promoteTo(tc.to), nil)
			if me.Status != http.StatusOK || anonymous.IsLocalID(me.UserID) || !me.Anonymous || !me.New {
				t.Fatalf("promote: %+v", me)
			}
			for path, n := range tc.calls {
				if env.Emu.Requests(path) != n {
					t.Errorf("%s called %d times: %v", path, env.Emu.Requests(path), env.Emu.RequestLog())
				}
			}
			if env.Calls() != len(tc.calls) {
				t.Errorf("promotion made %d calls: %v", env.Calls(), env.Emu.RequestLog())
			}
			if !slices.Equal(s.get(me.UserID), []string{"draft"}) || s.get(first.UserID) != nil {
				t.Errorf("data not moved: %v", s.data)
			}
			if env.Cookie(b, "DSL") != "" || env.Cookie(b, "DS") == "" || env.Cookie(b, "DSR") == "" {
				t.Errorf("cookies after promotion: %v", me.SetCookie)
			}
			if tc.native != (env.Emu.UserCount() == 0) {
				t.Errorf("%d users after promotion", env.Emu.UserCount())
			}
			if after := env.Get(t, b, "/whoami"); after.UserID != me.UserID || !after.Anonymous || after.New {
				t.Errorf("after promotion: %+v", after)
			}
			// Nothing is ever demoted, and promoting again changes nothing.
			env.Emu.ResetRequests()
			if again := env.Post(t, b, promoteTo(anonymous.NativeTokens), nil); again.UserID != me.UserID || env.Calls() != 0 {
				t.Errorf("promotion to NativeTokens again: %+v, %d calls", again, env.Calls())
			}
			if bad := env.Post(t, b, promoteTo(anonymous.LocalIDs), nil); bad.Status != http.StatusInternalServerError {
				t.Errorf("promotion to LocalIDs: %+v", bad)
			}
			// The promoted visitor converts as its new strategy does.
			conv := env.Convert(t, b, "p@example.com")
			if conv.Status != http.StatusOK || conv.Anonymous || (conv.UserID == me.UserID) == tc.native {
				t.Errorf("conversion after promotion: %+v (promoted %s)", conv, me.UserID)
			}
		})
	}
}

func TestLocalPromoteHookFailure(t *testing.T) {
	for _, to := range []anonymous.Strategy{anonymous.UserBacked, anonymous.NativeTokens} {
		t.Run(to.String(), func(t *testing.T) {
			s := &appData{data: map[string][]string{}, fail: errors.New("no")}
			env := localEnv(t, netHTTP, anonymous.WithOnConvert(s.move))
			b, first := env.Visitor(t)
			env.Emu.ResetRequests()
			if me := env.Post(t, b, promoteTo(to), nil); me.Status != http.StatusInternalServerError || len(me.SetCookie) != 0 {
				t.Fatalf("promote with failing hook: %+v", me)
			}
			if env.Emu.UserCount() != 0 {
				t.Errorf("unpromoted user left behind: %d users", env.Emu.UserCount())
			}
			if to == anonymous.NativeTokens && env.Emu.Requests("/v1/auth/logout") != 1 {
				t.Errorf("native refresh token not revoked: %v", env.Emu.RequestLog())
			}
			if me := env.Get(t, b, "/whoami"); me.UserID != first.UserID || me.New {
				t.Errorf("visitor changed: %+v", me)
			}
		})
	}
}

// Promotions of one local visitor while another is under way get a clear
// 409, never a 500 or a second identity made for one answer; one that comes
// after the first has finished (its cookie still names the local ID) is a
// promotion of its own.
func TestLocalPromoteDoubleSubmit(t *testing.T) {
	env := localEnv(t, netHTTP)
	b, _ := env.Visitor(t)
	dsl := env.Cookie(b, "DSL")
	env.Emu.ResetRequests()
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			statuses[i] = env.Do(t, env.Browser(t), http.MethodPost, promoteTo(anonymous.UserBacked), nil, func(r *http.Request) {
				r.Header.Set("Cookie", "DSL="+dsl)
			}).Status
		})
	}
	wg.Wait()
	ok := successes(t, statuses, true)
	if ok != 1 || env.Emu.Requests("/v1/mgmt/user/create") != ok || len(env.Converted()) != ok {
		t.Errorf("statuses %v: %d users created, %d hook calls", statuses, env.Emu.Requests("/v1/mgmt/user/create"), len(env.Converted()))
	}
}

// A Descope outage from start-up: New resolves nothing and Init is never
// called, every Descope path fails, and still new visitors get an identity
// and returning ones keep theirs, at once.
func TestLocalFullOutage(t *testing.T) {
	emu := newEmu(t)
	hooks := &anontest.ErrLog{}
	m, h := localMW(t, emu, anonymous.WithErrorHandler(hooks.Hook))
	anontest.FaultAll(emu, descopetest.Fault{Status: 500})
	id, v := mintVisitor(t, h, "192.0.2.1:1")
	start := time.Now()
	for i := range 50 {
		mintVisitor(t, h, fmt.Sprintf("192.0.2.%d:1", 10+i))
		if res := anontest.Serve(h, http.MethodGet, "/", "", "", withDSL(v)); res.UserID != id || res.Degraded || res.New {
			t.Fatalf("returning visitor during the outage: %+v", res)
		}
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("100 requests during the outage took %v", took)
	}
	if emu.TotalRequests() != 0 || len(hooks.All()) != 0 {
		t.Errorf("%d Descope calls, hook saw %v", emu.TotalRequests(), hooks.All())
	}
	// Init, which needs Descope, says so; the visitors do not notice.
	if err := m.Init(context.Background()); !errors.Is(err, anonymous.ErrUnavailable) {
		t.Errorf("Init during the outage: %v", err)
	}
	for _, r := range emu.RequestLog() {
		if r.Status != 500 {
			t.Errorf("a call escaped the faults: %+v", r)
		}
	}
	// With the emulator gone altogether, too.
	emu.Close()
	if res := anontest.Serve(h, http.MethodGet, "/", "", "", withDSL(v)); res.UserID != id {
		t.Errorf("with Descope gone: %+v", res)
	}
	mintVisitor(t, h, "192.0.2.200:1")
}

// The default limits apply to local IDs: 10 per client a minute, and a
// global limit far above the Descope strategies'.
func TestLocalProvisioningLimits(t *testing.T) {
	emu := newEmu(t)
	hooks := &anontest.ErrLog{}
	_, h := localMW(t, emu, anonymous.WithErrorHandler(hooks.Hook))
	for i := range 10 {
		mintVisitor(t, h, "192.0.2.1:"+fmt.Sprint(i))
	}
	if res := anontest.Serve(h, http.MethodGet, "/", "", "192.0.2.1:99", nil); res.UserID != "" || len(res.SetCookie) != 0 {
		t.Errorf("11th visitor from one client: %+v", res)
	}
	if errs := hooks.All(); len(errs) != 1 || !errors.Is(errs[0], anonymous.ErrRateLimited) {
		t.Errorf("hook saw %v", errs)
	}
	_, g := localMW(t, emu, anonymous.WithClientRateLimit(0, 0), anonymous.WithGlobalRateLimit(3, time.Minute))
	for i := range 3 {
		mintVisitor(t, g, fmt.Sprintf("192.0.2.%d:1", i))
	}
	if res := anontest.Serve(g, http.MethodGet, "/", "", "192.0.2.99:1", nil); res.UserID != "" {
		t.Errorf("past the global limit: %+v", res)
	}
}

// FuzzLocalCookie sends local cookies: a genuine one (of two visitors) with
// its sealed bytes XORed by mask and suffix appended, or, when pick is odd,
// suffix alone. Invariants: no panic, no 5xx, and a returning (not new)
// visitor only when the cookie is exactly a genuine one, and then its own ID.
// The key is random per fuzzing process, so a cookie minted by another
// process (the seeds, in a worker) is foreign and must be refused too.
func FuzzLocalCookie(f *testing.F) {
	emu := newEmu(f)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		f.Fatal(err)
	}
	_, h := localMW(f, emu, anonymous.WithLocalKeys(key), anonymous.WithErrorHandler(func(http.ResponseWriter, *http.Request, error) {}),
		anonymous.WithClientRateLimit(0, 0), anonymous.WithGlobalRateLimit(0, 0))
	genuine := map[string]string{}
	var vals []string
	for i := range 2 {
		id, v := mintVisitor(f, h, fmt.Sprintf("192.0.2.%d:1", i))
		genuine[v] = id
		vals = append(vals, v)
	}
	v, o := vals[0], vals[1]
	f.Add(uint8(0), []byte{}, "")
	f.Add(uint8(0), []byte{0}, "")
	f.Add(uint8(1), []byte{0, 0, 0, 0, 0, 1}, "")
	f.Add(uint8(0), []byte{0x80}, "")
	f.Add(uint8(2), []byte{}, "A")
	f.Add(uint8(0), []byte{}, "; DSL="+o)
	for _, s := range []string{v, o, "", `"` + v + `"`, v[:40], v[:40] + o[40:], strings.ToUpper(v), strings.Repeat("A", len(v)),
		v + "; DS=x.y.z", "local-0b4c1f3e-9d2a-4c8e-8f3b-2a1d5e6f7a8b"} {
		f.Add(uint8(1), []byte{}, s)
	}
	f.Fuzz(func(t *testing.T, pick uint8, mask []byte, suffix string) {
		cookie := suffix
		if pick%2 == 0 {
			raw := rawCookie(t, vals[pick/2%2])
			if len(mask) > 0 {
				for i := range raw {
					raw[i] ^= mask[i%len(mask)]
				}
			}
			cookie = spell(raw) + suffix
		}
		res := anontest.Serve(h, http.MethodGet, "/", "", "198.51.100.7:1", func(r *http.Request) {
			r.Header["Cookie"] = []string{"DSL=" + cookie}
		})
		if res.Status >= 500 {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		if res.UserID == "" || res.New {
			return
		}
		value := strings.TrimSpace(strings.SplitN(cookie, ";", 2)[0])
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		if id, ok := genuine[value]; !ok || id != res.UserID {
			t.Fatalf("cookie %q identified as %q", cookie, res.UserID)
		}
	})
}

// BenchmarkLocalHotPath is a request with a valid local ID cookie: the cookie
// is opened (base64, AES-256-GCM) and a User built on every request, since
// nothing is cached per visitor. Compare with BenchmarkHotPath in the same
// run.
func BenchmarkLocalHotPath(b *testing.B) {
	emu := newEmu(b)
	m, h := localMW(b, emu)
	_, dsl := mintVisitor(b, h, "192.0.2.1:1")
	r, _ := http.NewRequest(http.MethodGet, "http://example.com/cart", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0")
	r.Header.Set("Cookie", "theme=dark; DSL="+dsl+"; _ga=GA1.2.3")
	app := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { sink, _ = anonymous.FromContext(r.Context()) })
	anontest.ServeLoop(b, m.Handler(app), r)
	if sink == nil || !anonymous.IsLocalID(sink.ID) || emu.TotalRequests() != 0 {
		b.Fatalf("local visitor not identified: %+v, %d calls", sink, emu.TotalRequests())
	}
}

// BenchmarkLocalVsSession interleaves bursts of 100 requests of the two hot
// paths, a returning local visitor's and a verified session's (as in
// BenchmarkHotPath), so that load from other processes hits both alike, and
// reports the fastest and the median burst of each, per request.
func BenchmarkLocalVsSession(b *testing.B) {
	_, sm, sr := benchWorld(b)
	emu := newEmu(b)
	lm, lh := localMW(b, emu)
	_, dsl := mintVisitor(b, lh, "192.0.2.1:1")
	lr := sr.Clone(context.Background())
	lr.Header.Set("Cookie", "theme=dark; DSL="+dsl+"; _ga=GA1.2.3")
	app := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { sink, _ = anonymous.FromContext(r.Context()) })
	hs, hl := sm.Handler(app), lm.Handler(app)
	w := anontest.NewNopWriter()
	const burst = 100
	run := func(h http.Handler, r *http.Request) float64 {
		start := time.Now()
		for range burst {
			clear(w.H)
			h.ServeHTTP(w, r)
		}
		return float64(time.Since(start).Nanoseconds()) / burst
	}
	var session, local []float64
	b.ReportAllocs()
	for b.Loop() {
		session = append(session, run(hs, sr))
		local = append(local, run(hl, lr))
	}
	slices.Sort(session)
	slices.Sort(local)
	b.ReportMetric(session[0], "session-min-ns/req")
	b.ReportMetric(local[0], "local-min-ns/req")
	b.ReportMetric(session[len(session)/2], "session-p50-ns/req")
	b.ReportMetric(local[len(local)/2], "local-p50-ns/req")
}

// Local visitors reach observers like the others: provisioned with the
// LocalIDs strategy, and promoted.
func TestLocalEvents(t *testing.T) {
	var mu sync.Mutex
	seen := map[anonymous.EventKind][]anonymous.Strategy{}
	s := &appData{data: map[string][]string{}}
	env := localEnv(t, netHTTP, anonymous.WithOnConvert(s.move), anonymous.WithObserver(func(_ context.Context, e anonymous.Event) {
		mu.Lock()
		defer mu.Unlock()
		seen[e.Kind] = append(seen[e.Kind], e.Strategy)
	}))
	b, _ := env.Visitor(t)
	if me := env.Post(t, b, promoteTo(anonymous.UserBacked), nil); me.Status != http.StatusOK {
		t.Fatalf("promote: %+v", me)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := seen[anonymous.EventProvisioned]; !slices.Equal(got, []anonymous.Strategy{anonymous.LocalIDs, anonymous.UserBacked}) {
		t.Errorf("provisioned events: %v", got)
	}
	if got := seen[anonymous.EventPromoted]; !slices.Equal(got, []anonymous.Strategy{anonymous.UserBacked}) {
		t.Errorf("promoted events: %v", got)
	}
}

// A local identity that was promoted or converted proves nothing any more:
// its old cookie, replayed, neither promotes nor converts again.
func TestLocalRetiredCookieReplay(t *testing.T) {
	for _, step := range []string{"promote", "convert"} {
		t.Run(step, func(t *testing.T) {
			var hooks atomic.Int32
			env := localEnv(t, netHTTP, anonymous.WithOnConvert(func(context.Context, string, *anonymous.User) error {
				hooks.Add(1)
				return nil
			}))
			b, first := env.Visitor(t)
			old := env.Cookie(b, "DSL")
			switch step {
			case "promote":
				if me := env.Post(t, b, "/x/promote", nil); me.Status != http.StatusOK {
					t.Fatalf("promote: %+v", me)
				}
			case "convert":
				if me := env.Convert(t, b, "ada@example.com"); me.Status != http.StatusOK {
					t.Fatalf("convert: %+v", me)
				}
			}
			replay := env.Browser(t)
			env.SetCookie(replay, "DSL", old)
			if me := env.Get(t, replay, "/whoami"); me.UserID != first.UserID {
				t.Fatalf("the old cookie on an ordinary request: %+v", me)
			}
			refusesReplay(t, env, replay, &hooks)
		})
	}
}

// BenchmarkNewLocalVisitor is a cookie-less request from a client not seen
// before, given a local ID: the per-client limit (the default, 10 a minute)
// and the global one counted in the process-local store, as in a flood of
// new clients, and the cookie sealed. No Descope call. The clients cycle
// through 2^18 IPv4 addresses, so none reaches its limit.
func BenchmarkNewLocalVisitor(b *testing.B) {
	emu := newEmu(b)
	m, _ := localMW(b, emu, anonymous.WithGlobalRateLimit(1<<30, time.Minute))
	var got *anonymous.User
	h := m.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got, _ = anonymous.FromContext(r.Context()) }))
	addrs := make([]string, 1<<18)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("10.%d.%d.%d:1234", i>>16, i>>8&0xff, i&0xff)
	}
	r, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
	r.Header.Set("User-Agent", anontest.BrowserUA)
	w := anontest.NewNopWriter()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		r.RemoteAddr = addrs[i%len(addrs)]
		i++
		clear(w.H)
		h.ServeHTTP(w, r)
		if got == nil || !got.New {
			b.Fatalf("request %d: no new visitor (%+v)", i, got)
		}
	}
	if emu.TotalRequests() != 0 {
		b.Errorf("%d Descope calls", emu.TotalRequests())
	}
}
