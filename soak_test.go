package anonymous_test

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// soak runs TestLoad at full size: go test -race -run TestLoad -soak .
var soak = flag.Bool("soak", false, "run TestLoad with 200 clients for 30 s instead of 20 for 5 s")

// loadClient is what one simulated browser saw.
type loadClient struct {
	firstID   string
	changed   bool
	requests  int
	errors    int // transport errors
	status5xx int
	noUser    int
	degraded  int
	refreshed int
	fresh     int // responses with a newly provisioned user
	latencies []time.Duration
}

// TestLoad runs concurrent browsers, each with its own cookie jar, against a
// loopback server, through session refreshes (2 s sessions) and a Descope
// outage of about 3 s in the middle (refresh and user creation answer 502):
// no panic, no 5xx, no transport error, and no browser's user ID ever
// changes.
func TestLoad(t *testing.T) {
	t.Parallel() // runs for a fixed wall-clock time and bounds no latency
	clients, dur := 20, 5*time.Second
	if *soak {
		clients, dur = 200, 30*time.Second
	}
	outageStart := dur/2 - time.Second
	const outageLen = 3 * time.Second

	w := newWorld(t, []descopetest.Option{descopetest.WithSecondsUnit()},
		anonymous.WithSessionTTL(2*time.Second), anonymous.WithEmulatorLifetimes(), anonymous.WithTimeout(5*time.Second),
		anonymous.WithErrorHandler(func(http.ResponseWriter, *http.Request, error) {}))
	var panics atomic.Int64
	h := w.MW.Handler(anontest.App(w.MW, &anontest.ErrLog{}))
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				panics.Add(1)
				t.Errorf("panic: %v", v)
				rw.WriteHeader(http.StatusInternalServerError)
			}
		}()
		h.ServeHTTP(rw, r)
	}))
	defer srv.Close()
	tr := w.Transport(t)
	tr.MaxIdleConnsPerHost = clients
	w.Emu.ResetRequests()

	begin := time.Now()
	deadline := begin.Add(dur)
	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(outageStart)
		for _, p := range []string{"/v1/auth/refresh", "/v1/mgmt/user/create"} {
			w.Emu.InjectFault(p, descopetest.Fault{Status: http.StatusBadGateway})
		}
		time.Sleep(outageLen)
		w.Emu.ClearFaults()
	})
	stats := make([]loadClient, clients)
	for i := range clients {
		wg.Go(func() {
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second}
			s := &stats[i]
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
				req.Header.Set("User-Agent", anontest.BrowserUA)
				start := time.Now()
				res, err := c.Do(req)
				if err != nil {
					s.errors++
					continue
				}
				var p anontest.Me
				data, _ := io.ReadAll(res.Body)
				res.Body.Close()
				s.latencies = append(s.latencies, time.Since(start))
				s.requests++
				if res.StatusCode >= 500 {
					s.status5xx++
					continue
				}
				_ = json.Unmarshal(data, &p)
				switch {
				case p.UserID == "":
					s.noUser++
					continue
				case s.firstID == "":
					s.firstID = p.UserID
				case p.UserID != s.firstID:
					s.changed = true
				}
				if p.Degraded {
					s.degraded++
				}
				if p.Refreshed {
					s.refreshed++
				}
				if p.New {
					s.fresh++
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)

	var total loadClient
	changed, unprovisioned := 0, 0
	for _, s := range stats {
		total.requests += s.requests
		total.errors += s.errors
		total.status5xx += s.status5xx
		total.noUser += s.noUser
		total.degraded += s.degraded
		total.refreshed += s.refreshed
		total.fresh += s.fresh
		total.latencies = append(total.latencies, s.latencies...)
		if s.changed {
			changed++
		}
		if s.firstID == "" {
			unprovisioned++
		}
	}
	slices.Sort(total.latencies)
	pct := func(p float64) time.Duration {
		if len(total.latencies) == 0 {
			return 0
		}
		return total.latencies[int(p*float64(len(total.latencies)-1))]
	}
	t.Logf("%d clients for %v (outage of %v from %v): %d requests (%.0f/s), p50 %v, p99 %v, max %v; "+
		"%d refreshed, %d degraded, %d without a user, %d provisioned; %d refresh calls; %d 5xx, %d transport errors, %d panics",
		clients, dur, outageLen, outageStart, total.requests, float64(total.requests)/elapsed.Seconds(),
		pct(0.50), pct(0.99), pct(1), total.refreshed, total.degraded, total.noUser, total.fresh,
		w.Emu.Requests("/v1/auth/refresh"), total.status5xx, total.errors, panics.Load())

	if panics.Load() != 0 || total.status5xx != 0 || total.errors != 0 {
		t.Errorf("%d panics, %d 5xx, %d transport errors", panics.Load(), total.status5xx, total.errors)
	}
	if changed != 0 {
		t.Errorf("%d clients saw their user ID change", changed)
	}
	if unprovisioned != 0 || total.fresh != clients || w.Emu.UserCount() != clients {
		t.Errorf("%d clients never got a user; %d provisioned, %d users at Descope, want %d",
			unprovisioned, total.fresh, w.Emu.UserCount(), clients)
	}
	if total.refreshed == 0 || total.degraded == 0 {
		t.Errorf("the run saw %d refreshes and %d degraded answers: the outage or the refreshes were not exercised "+
			"(%d refresh calls reached Descope: few calls and many refreshes mean remembered refreshes were served "+
			"past their session's expiry, see TestRefreshGraceServesOnlyLiveSessions)",
			total.refreshed, total.degraded, w.Emu.Requests("/v1/auth/refresh"))
	}
}
