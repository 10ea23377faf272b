package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/redistest"
)

// clientAt is a browser whose connections come from the loopback address
// 127.0.a.b, so the server sees a client of its own.
func clientAt(t *testing.T, i int) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	local := &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i/250), byte(1+i%250))}
	tr := &http.Transport{
		DialContext:       (&net.Dialer{LocalAddr: local, Timeout: 10 * time.Second}).DialContext,
		DisableKeepAlives: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second}
}

// me asks base's /api/me as c.
func me(c *http.Client, base string) (int, meResponse, error) {
	req, _ := http.NewRequest(http.MethodGet, base+"/api/me", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0")
	res, err := c.Do(req)
	if err != nil {
		return 0, meResponse{}, err
	}
	defer res.Body.Close()
	var m meResponse
	if res.StatusCode == http.StatusOK {
		err = json.NewDecoder(res.Body).Decode(&m)
	}
	return res.StatusCode, m, err
}

// burstOfNewVisitors sends n new visitors, each from an address of its own,
// 32 at a time, to the servers in turn: each visitor's first request must
// give it an identity and its second (on the next server) keep it. It
// returns how many got a local ID.
func burstOfNewVisitors(t *testing.T, n int, servers ...string) (local int) {
	t.Helper()
	var wg sync.WaitGroup
	var next, locals atomic.Int32
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				c := clientAt(t, i)
				status, first, err := me(c, servers[i%len(servers)])
				if err != nil || status != http.StatusOK || first.UserID == "" {
					fail("visitor %d: first request %d %+v %v", i, status, first, err)
					continue
				}
				if anonymous.IsLocalID(first.UserID) {
					locals.Add(1)
				}
				status, again, err := me(c, servers[(i+1)%len(servers)])
				if err != nil || status != http.StatusOK || again.UserID != first.UserID {
					fail("visitor %d: second request %d %+v (first %s) %v", i, status, again, first.UserID, err)
				}
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d visitors failed; the first: %s", len(failures), n, failures[0])
	}
	return int(locals.Load())
}

// 1,000 new visitors arrive in one burst at the example server on its
// defaults, on the embedded emulator with Descope's rate limits: each gets
// an identity on its first request and keeps it on the next; the create
// budget is spent a slice at a time and no create is refused.
func TestThousandNewVisitors(t *testing.T) {
	a, srv, _ := testApp(t, config{})
	began := time.Now()
	local := burstOfNewVisitors(t, 1000, srv.URL)
	creates, users := a.Emulator.Requests("/v1/mgmt/user/create"), a.Emulator.UserCount()
	t.Logf("1,000 new visitors in %v: %d user-backed, %d local", time.Since(began).Round(time.Millisecond), users, local)
	checkCreates(t, a.Emulator, creates, users, local, began)
}

// The same burst over three replicas sharing Redis and one emulator.
func TestThousandNewVisitorsReplicas(t *testing.T) {
	redis := redistest.Start(t)
	emu := descopetest.New(descopetest.WithRateLimits())
	t.Cleanup(emu.Close)
	key := []byte("the example's replicas' local ID key, 32 bytes+")
	var servers []string
	for range 3 {
		a, err := build(context.Background(), config{
			addr: "127.0.0.1:0", sessionTTL: 10 * time.Minute, lifetime: 24 * time.Hour, localKey: key,
			projectID: emu.ProjectID, managementKey: emu.ManagementKey, baseURL: emu.URL, redisURL: redis.URL(),
			// A burst on a busy machine can hold a Redis call past the
			// default 100 ms, and a replica that fell back counts alone.
			storeTimeout: 5 * time.Second,
		}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		s := httptest.NewServer(a.Handler)
		t.Cleanup(s.Close)
		servers = append(servers, s.URL)
	}
	began := time.Now()
	local := burstOfNewVisitors(t, 1000, servers...)
	creates, users := emu.Requests("/v1/mgmt/user/create"), emu.UserCount()
	t.Logf("1,000 new visitors over 3 replicas in %v: %d user-backed, %d local", time.Since(began).Round(time.Millisecond), users, local)
	checkCreates(t, emu, creates, users, local, began)
}

// checkCreates checks that every create reached a user (none was refused
// with 429), that the visitors who did not get a user got local IDs, and
// that the budget was spent a paced slice at a time: 9 per 6 s, at most 100.
func checkCreates(t *testing.T, emu *descopetest.Emulator, creates, users, local int, began time.Time) {
	t.Helper()
	span := int(time.Since(began)/(6*time.Second)) + 2
	if creates != users || users < 9 || users > min(9*span, 100) {
		t.Errorf("%d user creates, %d users, over %d slices of 6 s: want 9 to %d, none refused", creates, users, span, min(9*span, 100))
	}
	if users+local != 1000 {
		t.Errorf("%d users and %d local IDs for 1,000 visitors", users, local)
	}
	for _, r := range emu.RequestLog() {
		if r.Status == http.StatusTooManyRequests || r.Status >= 500 {
			t.Fatalf("Descope answered %d to %s", r.Status, r.Path)
		}
	}
}
