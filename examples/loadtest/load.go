package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"
)

// userAgent is a browser's: the middleware provisions no crawler.
const userAgent = "Mozilla/5.0 (X11; Linux x86_64) loadtest"

// maxBody is how much of a response body a client reads into memory; the
// rest is discarded.
const maxBody = 64 << 10

// worker is one client: its own cookie jar (so its own anonymous user) on
// the shared transport.
type worker struct {
	hc      *http.Client
	buf     bytes.Buffer
	userID  string // the first user ID the client was given
	changed bool   // a later response named another user
}

func newWorker(tr http.RoundTripper) *worker {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &worker{hc: &http.Client{
		Transport: tr,
		Jar:       jar,
		Timeout:   10 * time.Second, // bounds a request even if a server hangs
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// newTransport returns the keep-alive transport the clients share, with an
// idle connection kept for every client, so that connection setup is not
// measured. It dials loopback addresses only.
func newTransport(clients int) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: loopbackOnly}
	return &http.Transport{
		Proxy:               nil, // never through a proxy
		DialContext:         d.DialContext,
		MaxIdleConns:        0, // no overall limit
		MaxIdleConnsPerHost: clients + 1,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// loopbackOnly refuses to connect to anything but a loopback address, after
// name resolution.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing to connect to %s: not a loopback address", address)
	}
	return nil
}

// reply is what a client reads from a response body: the fields of the
// built-in handler (userId as in anonymous.UserJSON).
type reply struct {
	UserID    string `json:"userId"`
	New       bool   `json:"new"`
	Refreshed bool   `json:"refreshed"`
}

// stats is what one client saw of one server.
type stats struct {
	hist       histogram // latencies of the measured requests
	measured   uint64    // requests started in the measured window
	total      uint64    // all requests, the first and the warm-up's included
	status5xx  uint64
	errors     uint64
	noUser     uint64 // responses without a user ID, where one was expected
	provisions uint64 // responses that provisioned a user
	refreshes  uint64 // responses on which the session was refreshed
	firstErr   error
}

// get makes one request and returns its latency, body read included.
func (w *worker) get(ctx context.Context, target string, st *stats, expectUser bool) time.Duration {
	st.total++
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		st.fail(err)
		return time.Since(start)
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "application/json")
	res, err := w.hc.Do(req)
	if err != nil {
		st.fail(err)
		return time.Since(start)
	}
	w.buf.Reset()
	_, err = w.buf.ReadFrom(io.LimitReader(res.Body, maxBody))
	if err == nil {
		_, err = io.Copy(io.Discard, res.Body)
	}
	res.Body.Close()
	lat := time.Since(start)
	if err != nil {
		st.fail(err)
		return lat
	}
	if res.StatusCode >= 500 {
		st.status5xx++
		return lat
	}
	var r reply
	if json.Unmarshal(w.buf.Bytes(), &r) != nil {
		r = reply{}
	}
	switch {
	case r.UserID == "":
		if expectUser {
			st.noUser++
		}
	case w.userID == "":
		w.userID = r.UserID
	case r.UserID != w.userID:
		w.changed = true
	}
	if r.New {
		st.provisions++
	}
	if r.Refreshed {
		st.refreshes++
	}
	return lat
}

func (st *stats) fail(err error) {
	st.errors++
	if st.firstErr == nil {
		st.firstErr = err
	}
}

// phase is the load on one server, summed over its clients.
type phase struct {
	name       string
	url        string
	expectUser bool          // every response must name a user
	perClient  []stats       // one per worker, so the clients share no counter
	stats                    // the sum, once done
	elapsed    time.Duration // the measured time
}

func newPhase(name, url string, expectUser bool, clients int) *phase {
	return &phase{name: name, url: url, expectUser: expectUser, perClient: make([]stats, clients)}
}

func (p *phase) rate() float64 { return float64(p.measured) / p.elapsed.Seconds() }

// prime makes one request per client, all at once, so that every client has
// its session and its connection before anything is measured.
func (p *phase) prime(ctx context.Context, ws []*worker) error {
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			labeled(ctx, "client-"+p.name, func(ctx context.Context) { w.get(ctx, p.url, &p.perClient[i], p.expectUser) })
		})
	}
	wg.Wait()
	return ctx.Err()
}

// drive makes every client request in a loop for d; the latencies count
// when measure is set (else it is a warm-up).
func (p *phase) drive(ctx context.Context, ws []*worker, d time.Duration, measure bool) error {
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			labeled(ctx, "client-"+p.name, func(ctx context.Context) {
				s := &p.perClient[i]
				for ctx.Err() == nil && time.Now().Before(end) {
					lat := w.get(ctx, p.url, s, p.expectUser)
					if measure {
						s.measured++
						s.hist.record(lat)
					}
				}
			})
		})
	}
	wg.Wait()
	if measure {
		p.elapsed += d
	}
	return ctx.Err()
}

// sum adds up the clients' figures.
func (p *phase) sum() {
	for i := range p.perClient {
		s := &p.perClient[i]
		p.hist.merge(&s.hist)
		p.measured += s.measured
		p.total += s.total
		p.status5xx += s.status5xx
		p.errors += s.errors
		p.noUser += s.noUser
		p.provisions += s.provisions
		p.refreshes += s.refreshes
		if p.firstErr == nil {
			p.firstErr = s.firstErr
		}
	}
	p.perClient = nil
}

// labeled runs f with the profiler label side=side; goroutines f starts
// (connections, server handlers) inherit it.
func labeled(ctx context.Context, side string, f func(context.Context)) {
	pprof.Do(ctx, pprof.Labels("side", side), f)
}

// errChecks is returned when a correctness check failed.
var errChecks = errors.New("checks failed")
