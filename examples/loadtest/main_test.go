package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRun loads the built-in servers with small numbers, in two rounds,
// under the CPU profiler. The session TTL of 2s is shorter than the time from
// the first request to the end of the last wrapped round (200ms of warm-up,
// then two wrapped and two bare rounds of 1s), so sessions are refreshed
// during the run. Not 1s: token expiry counts whole seconds, so a 1s session
// minted late in a second is expired at once, and on a busy machine the
// visitor is then served without a user.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	profile := filepath.Join(t.TempDir(), "cpu.pprof")
	cfg := config{clients: 4, duration: time.Second, warmup: 200 * time.Millisecond, rounds: 2, sessionTTL: 2 * time.Second,
		cpuProfile: profile}
	if err := run(t.Context(), cfg, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	if fi, err := os.Stat(profile); err != nil || fi.Size() == 0 {
		t.Errorf("no CPU profile: %v", err)
	}
	got := out.String()
	t.Log("\n" + got)
	for _, server := range []string{"wrapped", "bare"} {
		m := regexp.MustCompile(`(?m)^` + server + ` +(\d+) +(\d+) +(\d+(?:\.\d+)?(?:µs|ms|s)) +(\d+(?:\.\d+)?(?:µs|ms|s)) +0 +0$`).
			FindStringSubmatch(got)
		if m == nil {
			t.Fatalf("no %s line with requests, req/s, p50, p99, no 5xx and no error", server)
		}
		if n, _ := strconv.Atoi(m[1]); n == 0 {
			t.Errorf("%s: no requests", server)
		}
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^ratio wrapped/bare req/s: \d+\.\d{3}$`),
		regexp.MustCompile(`(?m)^wrapped >= 0\.85x bare: (PASS|MISS)$`),
		regexp.MustCompile(`(?m)^identity changes: 0 of 4 clients \(4 users provisioned, [1-9]\d* responses refreshed a session\)$`),
		regexp.MustCompile(`(?m)^5xx responses: 0$`),
	} {
		if !want.MatchString(got) {
			t.Errorf("output does not match %s", want)
		}
	}
}

// TestChecks runs the target mode against servers that break the rules: the
// command must notice and fail.
func TestChecks(t *testing.T) {
	var n atomic.Int64
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string // in the output; "" when the run must pass
	}{
		{"no user", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(bareBody)
		}, "identity changes: not checked"},
		{"stable user", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"userId":"U1"}`)
		}, ""},
		{"identity change", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, `{"userId":"U%d"}`, n.Add(1))
		}, "identity changes: 2 of 2 clients"},
		{"5xx", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "down", http.StatusBadGateway)
		}, "5xx responses: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			var out bytes.Buffer
			err := run(t.Context(), config{clients: 2, duration: 100 * time.Millisecond, rounds: 1, sessionTTL: time.Minute, target: srv.URL}, &out)
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, &out)
			}
			fails := tt.name == "identity change" || tt.name == "5xx"
			if fails != errors.Is(err, errChecks) {
				t.Errorf("run: %v, want a failed check: %v\n%s", err, fails, &out)
			}
		})
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	err := run(ctx, config{clients: 1, duration: time.Hour, rounds: 1, sessionTTL: time.Minute, target: srv.URL}, io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("run: %v, want context.Canceled", err)
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{clients: 50, duration: 10 * time.Second, warmup: 2 * time.Second, rounds: 1, sessionTTL: 10 * time.Minute}
	if cfg != want {
		t.Errorf("defaults: %+v, want %+v", cfg, want)
	}
	for _, args := range [][]string{
		{"-clients", "0"},
		{"-clients", "1001"},
		{"-duration", "0s"},
		{"-warmup", "-1s"},
		{"-rounds", "0"},
		{"-rounds", "101", "-duration", "1s"},
		{"-session-ttl", "500ms"},
		{"-session-ttl", "1500ms"},
		{"-target", "http://example.com/"},
		{"-target", "http://10.0.0.1:8080/"},
		{"-target", "ftp://127.0.0.1/"},
		{"-target", "http://127.0.0.1.example.com/"},
		{"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	for _, target := range []string{"http://127.0.0.1:8080/api/me", "http://[::1]:80/", "https://localhost/", "http://127.1.2.3/"} {
		if _, err := parseFlags([]string{"-target", target}, io.Discard); err != nil {
			t.Errorf("-target %s refused: %v", target, err)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:80": true, "[::1]:443": true, "127.9.9.9:1": true,
		"10.0.0.1:80": false, "[2001:db8::1]:80": false, "0.0.0.0:80": false, "example.com:80": false,
	} {
		if err := loopbackOnly("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("loopbackOnly(%s) = %v", addr, err)
		}
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 {
		t.Error("empty histogram: non-zero quantile")
	}
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 500 * time.Microsecond, 0.99: 990 * time.Microsecond, 1: time.Millisecond} {
		got := h.quantile(q)
		if diff := float64(got-want) / float64(want); diff < -1.0/histSub || diff > 1.0/histSub {
			t.Errorf("quantile(%v) = %v, want %v within %.1f%%", q, got, want, 100.0/histSub)
		}
	}
	// Every value falls in a bucket whose range holds it; buckets tile the line.
	next := uint64(0)
	for i := range histBuckets {
		low, width := bucketRange(i)
		if low != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, low, next)
		}
		for _, v := range []uint64{low, low + width - 1} {
			if b := bucketOf(v); b != i {
				t.Fatalf("bucketOf(%d) = %d, want %d", v, b, i)
			}
		}
		next = low + width
	}
	if b := bucketOf(1 << 62); b != histBuckets-1 {
		t.Errorf("overflow: bucket %d", b)
	}
	var m histogram
	m.merge(&h)
	m.record(-time.Second) // a clock step back counts as 0
	if m.n != 1001 || m.counts[0] != 1 {
		t.Errorf("merge: n=%d counts[0]=%d", m.n, m.counts[0])
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "U2xQ9h4kVtX0bYdLrPj1", `a"b\c`, "é", "tab\there", "\x00"} {
		var got string
		b := appendJSONString(nil, s)
		if err := json.Unmarshal(b, &got); err != nil || got != s {
			t.Errorf("appendJSONString(%q) = %s: %q, %v", s, b, got, err)
		}
	}
}
