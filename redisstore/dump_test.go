package redisstore_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
	"github.com/descope-contrib/anonymous/internal/redistest"
	"github.com/descope-contrib/anonymous/redisstore"
)

// A dump of Redis names no visitor's email address, phone number or client
// address: after provisioning floods from an IPv4 and an IPv6 client (both
// rate-limited), conversions started to an email and a phone (pending), and
// a flood of codes to one address (limited), no key, no value read with
// GET and no serialized value read with DUMP contains any of them, in any
// letter case.
func TestDumpShowsNoAddress(t *testing.T) {
	srv := redistest.Start(t)
	emu := descopetest.New(descopetest.WithSecondsUnit())
	t.Cleanup(emu.Close)
	store, err := redisstore.New(newClient(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	m, err := anonymous.New(emu.MustClient(t),
		anonymous.WithCookieSecure(false),
		anonymous.WithEmulatorLifetimes(),
		anonymous.WithStore(store),
		anonymous.WithStoreTimeout(time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := m.Handler(anontest.App(m, nil))
	visit := func(remote string) []*http.Cookie {
		me := anontest.Serve(h, http.MethodGet, "/", "", remote, nil)
		if me.Status != http.StatusOK {
			t.Fatalf("visit from %s: %+v", remote, me)
		}
		return me.SetCookie
	}
	start := func(cookies []*http.Cookie, remote, body string) int {
		return anontest.Serve(h, http.MethodPost, "/convert/start", body, remote, func(r *http.Request) {
			for _, c := range cookies {
				r.AddCookie(c)
			}
		}).Status
	}

	// Provisioning floods: 15 new visitors from each client, over the
	// per-client limit of 10 a minute.
	limited := 0
	for i := range 15 {
		for _, remote := range []string{"203.0.113.77:4000", fmt.Sprintf("[2001:db8:abcd:12::%x]:4000", i+1)} {
			if me := anontest.Serve(h, http.MethodGet, "/", "", remote, nil); me.Status == http.StatusOK && me.UserID == "" {
				limited++
			}
		}
	}
	if limited != 10 {
		t.Fatalf("%d visitors refused by the per-client limit, want 10", limited)
	}
	// Pending conversions to an email address and to a phone number.
	if st := start(visit("198.51.100.9:1"), "198.51.100.9:1", `{"email":"Ada.Lovelace@Example.com"}`); st != http.StatusOK {
		t.Fatalf("start to an email: %d", st)
	}
	if st := start(visit("198.51.100.10:1"), "198.51.100.10:1", `{"phone":"+1 415 555 0123"}`); st != http.StatusOK {
		t.Fatalf("start to a phone: %d", st)
	}
	// A flood of codes to one address, over its limit of 10.
	refused := 0
	for i := range 12 {
		remote := fmt.Sprintf("198.51.100.%d:1", 20+i)
		if start(visit(remote), remote, `{"email":"Grace.Hopper+x@Example.com"}`) == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused != 2 {
		t.Fatalf("%d codes refused by the per-address limit, want 2", refused)
	}

	needles := []string{
		"Ada.Lovelace@Example.com", "Ada.Lovelace", "Grace.Hopper@Example.com", "Grace.Hopper+x", "Grace.Hopper",
		"+14155550123", "14155550123", "4155550123", "415 555 0123",
		"203.0.113.77", "2001:db8:abcd:12", "198.51.100.",
	}
	ctx := context.Background()
	rdb := newClient(t, srv)
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, k := range keys {
		var hay []string
		hay = append(hay, k)
		if v, err := rdb.Get(ctx, k).Result(); err == nil {
			hay = append(hay, v)
		}
		if d, err := rdb.Dump(ctx, k).Result(); err == nil {
			hay = append(hay, d)
		}
		for _, s := range hay {
			for _, n := range needles {
				if strings.Contains(strings.ToLower(s), strings.ToLower(n)) {
					t.Errorf("Redis shows %q under the key %q", n, k)
				}
			}
		}
		for _, p := range []string{"prov:c:", "code:a:", "code:u:", "conv:pending:"} {
			if strings.HasPrefix(k, "anonymous:"+p) {
				seen[p]++
			}
		}
	}
	t.Logf("Redis dump: %d keys (%v), none shows an address, a phone number or a client address", len(keys), seen)
	if seen["prov:c:"] < 2 || seen["code:a:"] < 3 || seen["conv:pending:"] < 12 {
		t.Errorf("the dump lacks what the test put there: %v", seen)
	}
}
