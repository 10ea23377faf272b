package anonymous

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous/descopetest"
)

// tk returns a string shaped like a token, ending in s.
func tk(s string) string {
	return "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJVMSJ9." + strings.Repeat("_", max(0, 32-len(s))) + s
}

// checkShards fails the test unless every shard's index and slots agree and
// the global counters add up.
func checkShards(t *testing.T, c *sessionCache) {
	t.Helper()
	var entries, bytes int64
	for si := range c.shards {
		s := &c.shards[si]
		if len(s.index) != len(s.slots) {
			t.Fatalf("shard %d: %d index entries, %d slots", si, len(s.index), len(s.slots))
		}
		for i := range s.slots {
			if j, ok := s.index[s.slots[i].key]; !ok || int(j) != i {
				t.Fatalf("shard %d: slot %d indexed at %d (%v)", si, i, j, ok)
			}
			entries++
			bytes += s.slots[i].size()
		}
	}
	if n, b := c.len(); int64(n) != entries || int64(b) != bytes {
		t.Fatalf("counters say %d entries, %d bytes; the shards hold %d, %d", n, b, entries, bytes)
	}
}

func TestSessionCacheBounds(t *testing.T) {
	now := time.Now().Unix()
	c := newSessionCache(3, 1<<20)
	for i := range 10 {
		c.put(tk(fmt.Sprintf("tok%03d", i)), "U"+strconv.Itoa(i), true, now+60, now)
		if n, _ := c.len(); n > 3 {
			t.Fatalf("%d entries, bound 3", n)
		}
	}
	if n, _ := c.len(); n != 3 {
		t.Errorf("entries %d, want 3", n)
	}
	if _, _, ok := c.get(tk("tok009"), now); !ok {
		t.Error("the newest token was not cached")
	}
	checkShards(t, c)

	id := strings.Repeat("U", 100)
	c = newSessionCache(1000, 3*(entryOverhead+100))
	for i := range 10 {
		c.put(tk(fmt.Sprintf("tok%03d", i)), id, true, now+60, now)
	}
	if n, b := c.len(); n != 3 || b != 3*(entryOverhead+100) {
		t.Errorf("entries %d bytes %d, want 3 and %d", n, b, 3*(entryOverhead+100))
	}
	checkShards(t, c)

	if newSessionCache(0, 100) != nil || newSessionCache(100, 0) != nil {
		t.Error("a zero bound should disable the cache")
	}
	var off *sessionCache
	off.put(tk("abcd"), "U1", true, now+60, now)
	off.drop(tk("abcd"))
	if _, _, ok := off.get(tk("abcd"), now); ok {
		t.Error("disabled cache returned a token")
	}
}

func TestSessionCacheExpiryToTheSecond(t *testing.T) {
	c := newSessionCache(10, 1<<20)
	now := time.Now().Unix()
	c.put(tk("tokA"), "UA", true, now+2, now)
	if id, _, ok := c.get(tk("tokA"), now+1); !ok || id != "UA" {
		t.Error("token missing one second before expiry")
	}
	if _, _, ok := c.get(tk("tokA"), now+2); ok {
		t.Error("token served at its expiry second")
	}
	c.put(tk("tokB"), "UB", true, now, now) // expired already: never cached
	if _, _, ok := c.get(tk("tokB"), now-1); ok {
		t.Error("an expired token was cached")
	}
}

// A dropped token is gone, and dropping it disturbs no other entry (the last
// slot of the shard moves into its place).
func TestSessionCacheDrop(t *testing.T) {
	c := newSessionCache(100, 1<<20) // one shard
	now := time.Now().Unix()
	for i := range 50 {
		c.put(tk("tok"+strconv.Itoa(i)), "U"+strconv.Itoa(i), i%2 == 0, now+60, now)
	}
	for _, i := range []int{0, 17, 49, 25} {
		c.drop(tk("tok" + strconv.Itoa(i)))
		if _, _, ok := c.get(tk("tok"+strconv.Itoa(i)), now); ok {
			t.Errorf("tok%d served after drop", i)
		}
	}
	checkShards(t, c)
	for i := range 50 {
		id, anon, ok := c.get(tk("tok"+strconv.Itoa(i)), now)
		dropped := i == 0 || i == 17 || i == 49 || i == 25
		if ok == dropped || ok && (id != "U"+strconv.Itoa(i) || anon != (i%2 == 0)) {
			t.Errorf("tok%d: got %q %v %v", i, id, anon, ok)
		}
	}
	if n, _ := c.len(); n != 46 {
		t.Errorf("%d entries after 4 drops of 50", n)
	}
}

// Both halves of the key cover every byte of the token: a change anywhere
// changes both.
func TestSessionCacheKeyCoversTheToken(t *testing.T) {
	c := newSessionCache(10, 1<<20)
	tok := tk("0123456789abcdef")
	k := c.key(tok)
	for i := range len(tok) {
		other := tok[:i] + string(tok[i]^1) + tok[i+1:]
		if ko := c.key(other); ko.lo == k.lo || ko.hi == k.hi {
			t.Errorf("byte %d: keys %x and %x share a half", i, k, ko)
		}
	}
	if c2 := newSessionCache(10, 1<<20); c2.key(tok) == k {
		t.Error("two caches share their seeds")
	}
}

// Expired entries leave first: an insert removes expired entries at the hand
// before it evicts a live one.
func TestSessionCacheExpiredEntriesMakeRoom(t *testing.T) {
	c := newSessionCache(2, 1<<20)
	now := time.Now().Unix()
	c.put(tk("old"), "U0", true, now+1, now)
	c.put(tk("liveA"), "UA", true, now+60, now)
	later := now + 5
	c.put(tk("liveB"), "UB", true, now+60, later)
	for _, tok := range []string{"liveA", "liveB"} {
		if _, _, ok := c.get(tk(tok), later); !ok {
			t.Errorf("%s evicted while an expired token was there", tok)
		}
	}
	checkShards(t, c)
}

// A full shard spares the entries looked up since the hand last passed.
func TestSessionCacheSparesRecentlySeen(t *testing.T) {
	c := newSessionCache(4, 1<<20)
	now := time.Now().Unix()
	for _, tok := range []string{"a", "b", "c", "d"} {
		c.put(tk(tok), "U"+tok, true, now+60, now)
	}
	c.get(tk("a"), now)
	c.get(tk("b"), now)
	c.put(tk("e"), "Ue", true, now+60, now)
	for _, tok := range []string{"a", "b", "e"} {
		if _, _, ok := c.get(tk(tok), now); !ok {
			t.Errorf("%s evicted", tok)
		}
	}
	if n, _ := c.len(); n != 4 {
		t.Errorf("%d entries, bound 4", n)
	}
}

// The default bound holds 100,000 sessions: the shards share one count, so an
// unlucky shard does not evict while others have room.
func TestSessionCacheHoldsTheDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 entries")
	}
	t.Parallel()
	cfg := defaultConfig()
	c := newSessionCache(cfg.cacheEntries, cfg.cacheBytes)
	if len(c.shards) != maxShards {
		t.Errorf("%d shards", len(c.shards))
	}
	now := time.Now().Unix()
	id := "U" + strings.Repeat("x", 27)
	for i := range cfg.cacheEntries {
		c.put(tk("token-"+strconv.Itoa(i)), id, true, now+600, now)
	}
	if n, _ := c.len(); n != cfg.cacheEntries {
		t.Fatalf("%d entries held of %d", n, cfg.cacheEntries)
	}
	for i := range cfg.cacheEntries {
		if _, _, ok := c.get(tk("token-"+strconv.Itoa(i)), now); !ok {
			t.Fatalf("token-%d missing", i)
		}
	}
	checkShards(t, c)
}

// A random sequence of inserts, lookups and drops against a plain map: a hit
// always returns the entry stored for that very token, a dropped token never
// hits, and the bounds and counters hold throughout.
func TestSessionCacheModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Now().Unix()
	c := newSessionCache(600, 1<<20) // two shards
	type want struct {
		id   string
		anon bool
		exp  int64
	}
	model := map[string]want{}
	for step := range 20000 {
		n := r.IntN(1500)
		tok := "tok" + strconv.Itoa(n)
		switch op := r.IntN(10); {
		case op < 4:
			// A token determines its claims: the same token, the same entry.
			w := want{"U" + strconv.Itoa(n*7919%100003), n%3 == 0, now + int64(1+n%30)}
			model[tok] = w
			c.put(tk(tok), w.id, w.anon, w.exp, now)
		case op < 5:
			c.drop(tk(tok))
			delete(model, tok)
			if _, _, ok := c.get(tk(tok), now); ok {
				t.Fatalf("step %d: %s served after drop", step, tok)
			}
		default:
			id, anon, ok := c.get(tk(tok), now)
			w, known := model[tok]
			switch {
			case ok && !known:
				t.Fatalf("step %d: %s served, never cached or dropped", step, tok)
			case ok && (id != w.id || anon != w.anon):
				t.Fatalf("step %d: %s served as %s/%v, cached as %s/%v", step, tok, id, anon, w.id, w.anon)
			case ok && now >= w.exp:
				t.Fatalf("step %d: %s served after expiry", step, tok)
			}
		}
		if n, _ := c.len(); n > 600 {
			t.Fatalf("step %d: %d entries", step, n)
		}
		if step%100 == 0 {
			now++
			checkShards(t, c)
		}
	}
}

func TestSessionCacheConcurrent(t *testing.T) {
	c := newSessionCache(2000, 1<<20)
	now := time.Now().Unix()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 3000 {
				tok := "tok" + strconv.Itoa((i*7+g)%2500)
				switch i % 4 {
				case 0:
					c.put(tk(tok), "U"+tok, true, now+60, now)
				case 1:
					c.drop(tk(tok))
				default:
					if id, _, ok := c.get(tk(tok), now); ok && id != "U"+tok {
						t.Errorf("%s served as %s", tok, id)
					}
				}
			}
		})
	}
	wg.Wait()
	checkShards(t, c)
}

// iworld is an emulator and a middleware, driven request by request.
type iworld struct {
	emu *descopetest.Emulator
	m   *Middleware
}

func newIWorld(t *testing.T, emuOpts []descopetest.Option, opts ...Option) *iworld {
	t.Helper()
	emu := descopetest.New(emuOpts...)
	t.Cleanup(emu.Close)
	return &iworld{emu: emu, m: mustNew(t, emu, opts...)}
}

// serve sends a GET with cookie through the middleware to app, and returns
// the request's user and the cookies set. Only a request without cookies has
// a browser's User-Agent: no other is provisioned.
func (w *iworld) serve(cookie string, app func(http.ResponseWriter, *http.Request)) (*User, map[string]string) {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
	if cookie == "" {
		r.Header.Set("User-Agent", "Mozilla/5.0")
	} else {
		r.Header.Set("Cookie", cookie)
	}
	rec := httptest.NewRecorder()
	var u *User
	w.m.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		u, _ = FromContext(r.Context())
		if app != nil {
			app(rw, r)
		}
	})).ServeHTTP(rec, r)
	set := map[string]string{}
	for _, c := range rec.Result().Cookies() {
		set[c.Name] = c.Value
	}
	return u, set
}

// visitor provisions a visitor and returns its session and refresh tokens.
func (w *iworld) visitor(t *testing.T) (ds, dsr string) {
	t.Helper()
	u, set := w.serve("", nil)
	if u == nil || !u.New || set["DS"] == "" || set["DSR"] == "" {
		t.Fatalf("no visitor provisioned: %+v %v", u, set)
	}
	return set["DS"], set["DSR"]
}

// Only fully verified session tokens enter the cache: a one-character change
// to a cached token, a refresh token presented as a session, and tokens with
// the wrong type or project are each verified (and refused), never served
// from the cache.
func TestCacheHoldsOnlyVerifiedSessionTokens(t *testing.T) {
	w := newIWorld(t, nil)
	ds, dsr := w.visitor(t)
	now := time.Now().Unix()
	if _, _, ok := w.m.cache.get(ds, now); !ok {
		t.Fatal("the provisioned session token was not cached")
	}
	if u, _ := w.serve("DS="+ds, nil); u == nil || u.New {
		t.Fatalf("returning visitor: %+v", u)
	}
	claims := func(drn, iss string) map[string]any {
		return map[string]any{
			"sub": "Uforged", "iss": iss, "drn": drn, "iat": now, "exp": now + 600,
			"tenants": map[string]any{w.m.tenantID: map[string]any{"roles": []string{}, "permissions": []string{}}},
		}
	}
	wrongType, _ := w.emu.SignToken(claims("DSR", w.emu.ProjectID))
	otherProject, _ := w.emu.SignToken(claims("DS", "Pother"))
	// Not the last character: base64 ignores its low bits.
	i := len(ds) - 10
	flip := "A"
	if ds[i] == 'A' {
		flip = "B"
	}
	for name, tok := range map[string]string{
		"signature changed":        ds[:i] + flip + ds[i+1:],
		"payload changed":          strings.Replace(ds, ".", ".e", 1),
		"refresh token as DS":      dsr,
		"refresh-typed token":      wrongType,
		"token of another project": otherProject,
	} {
		if u, _ := w.serve("DS="+tok, nil); u != nil {
			t.Errorf("%s: identified as %s", name, u.ID)
		}
		if _, _, ok := w.m.cache.get(tok, now); ok {
			t.Errorf("%s: cached", name)
		}
		if n, _ := w.m.cache.len(); n != 1 {
			t.Errorf("%s: %d cache entries, want 1", name, n)
		}
	}
}

// A refresh caches the new session token and never a refresh token.
func TestCacheNeverHoldsRefreshTokens(t *testing.T) {
	w := newIWorld(t, []descopetest.Option{descopetest.WithRefreshRotation()})
	ds, dsr := w.visitor(t)
	u, set := w.serve("DSR="+dsr, nil)
	if u == nil || !u.Refreshed || set["DS"] == "" {
		t.Fatalf("refresh: %+v %v", u, set)
	}
	now := time.Now().Unix()
	if _, _, ok := w.m.cache.get(set["DS"], now); !ok {
		t.Error("the refreshed session token was not cached")
	}
	for _, tok := range []string{dsr, set["DSR"]} {
		if tok == "" {
			t.Fatal("no rotated refresh token")
		}
		if _, _, ok := w.m.cache.get(tok, now); ok {
			t.Error("a refresh token is cached")
		}
	}
	want := 2
	if set["DS"] == ds { // issued in the same second as the first
		want = 1
	}
	if n, _ := w.m.cache.len(); n != want {
		t.Errorf("%d entries, want the %d session tokens", n, want)
	}
}

// Conversion drops the anonymous session token from the cache, also when the
// request's user was served from the cache (its User holds no decoded token).
func TestCacheDropsConvertedSession(t *testing.T) {
	w := newIWorld(t, nil)
	ds, dsr := w.visitor(t)
	cookie := "DS=" + ds + "; DSR=" + dsr
	var startErr error
	w.serve(cookie, func(_ http.ResponseWriter, r *http.Request) {
		_, startErr = w.m.StartConversion(r, "ada@example.com")
	})
	if startErr != nil {
		t.Fatal(startErr)
	}
	code, ok := w.emu.Outbox("ada@example.com")
	if !ok {
		t.Fatal("no code sent")
	}
	var converted *User
	var finishErr error
	u, _ := w.serve(cookie, func(rw http.ResponseWriter, r *http.Request) {
		converted, finishErr = w.m.FinishConversion(rw, r, "ada@example.com", code)
	})
	if u == nil || u.token != nil || u.sessionJWT() != ds {
		t.Fatalf("the converting request was not served from the cache: %+v", u)
	}
	if finishErr != nil || converted == nil || converted.Anonymous {
		t.Fatalf("conversion: %+v, %v", converted, finishErr)
	}
	if _, _, ok := w.m.cache.get(ds, time.Now().Unix()); ok {
		t.Error("the anonymous session token is still cached after conversion")
	}
}

// A user served from the cache decodes the same token, with the same claims,
// as the user the first, verified, request saw.
func TestCachedUserTokenDecodesOnDemand(t *testing.T) {
	w := newIWorld(t, nil, WithTokenCache(0, 0))
	ds, _ := w.visitor(t)
	first, _ := w.serve("DS="+ds, nil)

	w = &iworld{emu: w.emu, m: mustNew(t, w.emu)}
	w.serve("DS="+ds, nil)
	hit, _ := w.serve("DS="+ds, nil)
	if first == nil || hit == nil || first.token == nil || hit.token != nil || hit.sessionJWT() != ds {
		t.Fatalf("first %+v, hit %+v", first, hit)
	}
	want, got := first.Token(), hit.Token()
	if got == nil || !reflect.DeepEqual(got, want) {
		t.Errorf("decoded token\n%+v\nwant\n%+v", got, want)
	}
	if hit.ID != want.ID || !hit.Anonymous {
		t.Errorf("hit user %+v", hit)
	}
	if (&User{ID: "U1"}).Token() != nil || (*User)(nil).Token() != nil {
		t.Error("a user without a token returned one")
	}
}

func mustNew(t *testing.T, emu *descopetest.Emulator, opts ...Option) *Middleware {
	t.Helper()
	m, err := New(emu.MustClient(t), append([]Option{WithCookieSecure(false)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}
