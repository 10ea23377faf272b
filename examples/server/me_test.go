package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous/descopetest"
)

// userLoadPath is the management API's user load, which LoadUser calls.
const userLoadPath = "/v1/mgmt/user"

// meOf sends GET /api/me with b's cookies, from any goroutine, and returns
// the answer.
func meOf(b *browser) (meResponse, error) {
	req, err := http.NewRequest(http.MethodGet, b.base+"/api/me", nil)
	if err != nil {
		return meResponse{}, err
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0")
	res, err := b.c.Do(req)
	if err != nil {
		return meResponse{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return meResponse{}, fmt.Errorf("status %d", res.StatusCode)
	}
	var me meResponse
	return me, json.NewDecoder(res.Body).Decode(&me)
}

// hundredMe sends 100 /api/me of b at once and returns how many user loads
// reached Descope meanwhile; each answer must show the login ID want (none,
// when want is empty).
func hundredMe(t *testing.T, b *browser, emu *descopetest.Emulator, want string) int {
	t.Helper()
	before := emu.Requests(userLoadPath)
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			me, err := meOf(b)
			switch {
			case err != nil:
				t.Errorf("/api/me: %v", err)
			case me.Anonymous || (want == "") != (len(me.LoginIDs) == 0) || (want != "" && !slices.Contains(me.LoginIDs, want)):
				t.Errorf("me = %+v, want a regular user with login IDs %q", me, want)
			}
		})
	}
	wg.Wait()
	return emu.Requests(userLoadPath) - before
}

// A regular user's /api/me shows its login IDs, and a hundred of them cost
// Descope at most one management call: none right after the conversion
// (which told the server the login IDs), one once the cached profile is
// stale, and one while Descope fails.
func TestMeCostsAtMostOneLoad(t *testing.T) {
	a, srv, _ := testApp(t, config{})
	var clock atomic.Int64 // ns since the epoch
	clock.Store(time.Now().UnixNano())
	p := a.site.profiles
	p.mu.Lock()
	p.now = func() time.Time { return time.Unix(0, clock.Load()) }
	p.mu.Unlock()

	b := newBrowser(t, srv)
	b.want(b.do(http.MethodGet, "/api/me", nil, nil), http.StatusOK)
	const email = "many@example.com"
	convertBrowser(t, b, a.Emulator, email)
	if n := hundredMe(t, b, a.Emulator, email); n > 1 {
		t.Errorf("100 /api/me right after the conversion made %d user loads, want at most 1", n)
	}

	clock.Add(int64(profileTTL))
	if n := hundredMe(t, b, a.Emulator, email); n != 1 {
		t.Errorf("100 /api/me once the profile is stale made %d user loads, want 1", n)
	}

	// Descope fails: the failure is remembered too, and the login IDs are
	// missing until it answers again.
	clock.Add(int64(profileTTL))
	a.Emulator.InjectFault(userLoadPath, descopetest.Fault{Status: http.StatusInternalServerError})
	if n := hundredMe(t, b, a.Emulator, ""); n != 1 {
		t.Errorf("100 /api/me while Descope fails made %d user loads, want 1", n)
	}
	a.Emulator.ClearFaults()
	clock.Add(int64(profileFailTTL))
	if n := hundredMe(t, b, a.Emulator, email); n != 1 {
		t.Errorf("100 /api/me after the outage made %d user loads, want 1", n)
	}
}
