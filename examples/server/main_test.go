package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
)

// testServer builds the application on the embedded emulator and serves it.
func testServer(t *testing.T) *httptest.Server {
	t.Helper()
	return testServerWith(t, config{})
}

// testServerWith is testServer with cfg's strategy and local key.
func testServerWith(t *testing.T, cfg config) *httptest.Server {
	t.Helper()
	_, srv, _ := testApp(t, cfg)
	return srv
}

// testApp builds the application with cfg (on the embedded emulator unless
// cfg names a project), with the test's lifetimes, and serves its handler
// and its admin handler.
func testApp(t *testing.T, cfg config) (a *app, srv, admin *httptest.Server) {
	t.Helper()
	cfg.addr, cfg.sessionTTL, cfg.lifetime = "127.0.0.1:0", 10*time.Minute, 24*time.Hour
	a, err := build(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	srv = httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	admin = httptest.NewServer(a.Admin)
	t.Cleanup(admin.Close)
	return a, srv, admin
}

// browser is one visitor with its own cookie jar.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, srv *httptest.Server) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: srv.URL, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// do sends a request and decodes a JSON answer into out (when not nil). It
// returns the response, whose body is already read.
func (b *browser) do(method, path string, body, out any, edit ...func(*http.Request)) *http.Response {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			b.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, b.base+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, f := range edit {
		f(req)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			b.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return res
}

// want fails the test when res does not have the status.
func (b *browser) want(res *http.Response, status int) {
	b.t.Helper()
	if res.StatusCode != status {
		b.t.Fatalf("%s %s: status %d, want %d", res.Request.Method, res.Request.URL.Path, res.StatusCode, status)
	}
}

type meResponse struct {
	UserID    string   `json:"userId"`
	Anonymous bool     `json:"anonymous"`
	LoginIDs  []string `json:"loginIds"`
}

type notesResponse struct {
	Notes []note `json:"notes"`
}

func TestHappyPath(t *testing.T) {
	srv := testServer(t)
	b := newBrowser(t, srv)

	res := b.do(http.MethodGet, "/", nil, nil)
	b.want(res, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("page Content-Type %q", ct)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'sha256-") || !strings.Contains(csp, "style-src 'sha256-") {
		t.Errorf("page CSP %q has no script and style hashes", csp)
	}
	names := map[string]*http.Cookie{}
	for _, c := range res.Cookies() {
		names[c.Name] = c
	}
	for _, n := range []string{"DS", "DSR"} {
		c := names[n]
		if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure {
			t.Errorf("cookie %s = %+v, want HttpOnly, SameSite=Lax, not Secure on loopback", n, c)
		}
	}

	var me meResponse
	b.want(b.do(http.MethodGet, "/api/me", nil, &me), http.StatusOK)
	if me.UserID == "" || !me.Anonymous {
		t.Fatalf("me = %+v, want an anonymous user", me)
	}

	b.want(b.do(http.MethodPost, "/api/notes", map[string]string{"text": "  buy milk "}, nil), http.StatusCreated)
	b.want(b.do(http.MethodPost, "/api/notes", map[string]string{"text": "   "}, nil), http.StatusBadRequest)
	b.want(b.do(http.MethodPost, "/api/notes", map[string]string{"text": strings.Repeat("é", maxNoteRunes+1)}, nil), http.StatusBadRequest)
	b.want(b.do(http.MethodPost, "/api/notes", map[string]any{"text": "x", "extra": 1}, nil), http.StatusBadRequest)
	var notes notesResponse
	b.want(b.do(http.MethodGet, "/api/notes", nil, &notes), http.StatusOK)
	if len(notes.Notes) != 1 || notes.Notes[0].Text != "buy milk" {
		t.Fatalf("notes = %+v, want one note \"buy milk\"", notes.Notes)
	}

	// Convert with the code the emulator "emailed".
	const email = "ada@example.com"
	b.want(b.do(http.MethodGet, "/dev/otp?address="+email, nil, nil), http.StatusNotFound)
	var started struct {
		MaskedEmail string `json:"maskedEmail"`
	}
	b.want(b.do(http.MethodPost, "/api/convert/start", map[string]string{"email": email}, &started), http.StatusOK)
	if started.MaskedEmail == "" {
		t.Error("no masked email")
	}
	var otp struct {
		Code string `json:"code"`
	}
	b.want(b.do(http.MethodGet, "/dev/otp?address="+email, nil, &otp), http.StatusOK)
	if otp.Code == "" {
		t.Fatal("no code in the outbox")
	}
	b.want(b.do(http.MethodPost, "/api/convert/verify", map[string]string{"email": email, "code": "000000" + otp.Code}, nil), http.StatusBadRequest)
	var converted meResponse
	b.want(b.do(http.MethodPost, "/api/convert/verify", map[string]string{"email": email, "code": otp.Code}, &converted), http.StatusOK)
	if converted.UserID != me.UserID || converted.Anonymous || !slices.Contains(converted.LoginIDs, email) {
		t.Fatalf("converted = %+v, want user %s, regular, with login ID %s", converted, me.UserID, email)
	}

	var after meResponse
	b.want(b.do(http.MethodGet, "/api/me", nil, &after), http.StatusOK)
	if after.UserID != me.UserID || after.Anonymous || !slices.Contains(after.LoginIDs, email) {
		t.Fatalf("after conversion me = %+v, want user %s, regular, with login ID %s", after, me.UserID, email)
	}
	b.want(b.do(http.MethodGet, "/api/notes", nil, &notes), http.StatusOK)
	if len(notes.Notes) != 1 {
		t.Fatalf("after conversion notes = %+v, want the note kept", notes.Notes)
	}

	// Another visitor is another user, with no notes.
	other := newBrowser(t, srv)
	var otherMe meResponse
	other.want(other.do(http.MethodGet, "/api/me", nil, &otherMe), http.StatusOK)
	if otherMe.UserID == "" || otherMe.UserID == me.UserID || !otherMe.Anonymous {
		t.Errorf("second visitor = %+v, want another anonymous user", otherMe)
	}
	other.want(other.do(http.MethodGet, "/api/notes", nil, &notes), http.StatusOK)
	if len(notes.Notes) != 0 {
		t.Errorf("second visitor sees notes %+v", notes.Notes)
	}

	// Logout clears the cookies; the next request is a new anonymous user.
	res = b.do(http.MethodPost, "/api/logout", nil, nil)
	b.want(res, http.StatusNoContent)
	b.want(b.do(http.MethodGet, "/api/me", nil, &after), http.StatusOK)
	if after.UserID == me.UserID || !after.Anonymous {
		t.Errorf("after logout me = %+v, want a new anonymous user", after)
	}
}

func TestRefusals(t *testing.T) {
	srv := testServer(t)
	b := newBrowser(t, srv)

	// Crawlers get no user.
	crawler := func(r *http.Request) { r.Header.Set("User-Agent", "Googlebot/2.1") }
	b.want(b.do(http.MethodGet, "/api/me", nil, nil, crawler), http.StatusUnauthorized)
	b.want(b.do(http.MethodGet, "/api/notes", nil, nil, crawler), http.StatusUnauthorized)

	// Another site cannot post to the API with the visitor's cookies.
	b.want(b.do(http.MethodGet, "/api/me", nil, nil), http.StatusOK)
	crossSite := func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }
	b.want(b.do(http.MethodPost, "/api/notes", map[string]string{"text": "csrf"}, nil, crossSite), http.StatusForbidden)
	b.want(b.do(http.MethodPost, "/api/convert/start", map[string]string{"email": "eve@example.com"}, nil, crossSite), http.StatusForbidden)

	// A body that is not JSON (what a form or a simple cross-origin fetch
	// sends) is refused before it is read.
	textPlain := func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }
	b.want(b.do(http.MethodPost, "/api/convert/start", map[string]string{"email": "eve@example.com"}, nil, textPlain), http.StatusUnsupportedMediaType)
	b.want(b.do(http.MethodPost, "/api/convert/start", map[string]string{"email": "not-an-email"}, nil), http.StatusBadRequest)
	b.want(b.do(http.MethodGet, "/api/convert/start", nil, nil), http.StatusMethodNotAllowed)
	b.want(b.do(http.MethodGet, "/nowhere", nil, nil), http.StatusNotFound)
}

func TestNoteBounds(t *testing.T) {
	ctx := context.Background()
	s := newNoteStore(time.Hour, time.Now)
	for i := range maxNotesPerUser {
		if _, err := s.add(ctx, "U1", true, "note"); err != nil {
			t.Fatalf("note %d: %v", i, err)
		}
	}
	if _, err := s.add(ctx, "U1", true, "one too many"); err != errNoteTooMany {
		t.Errorf("note past the bound: %v, want %v", err, errNoteTooMany)
	}
	_ = s.forget(ctx, "U1")
	if l, _ := s.list(ctx, "U1", true); len(l) != 0 {
		t.Errorf("after forget: %d notes", len(l))
	}
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{"ADDR": "127.0.0.1:0", "ANON_SESSION_TTL": "3s", "DESCOPE_PROJECT_ID": "P1"}
	cfg, err := parseConfig(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != "127.0.0.1:0" || cfg.adminAddr != "127.0.0.1:9464" || cfg.sessionTTL != 3*time.Second || cfg.lifetime != 365*24*time.Hour || cfg.projectID != "P1" {
		t.Errorf("from the environment: %+v", cfg)
	}
	cfg, err = parseConfig([]string{"-addr", ":9000", "-session-ttl", "1m", "-lifetime", "48h"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != ":9000" || cfg.sessionTTL != time.Minute || cfg.lifetime != 48*time.Hour {
		t.Errorf("flags over the environment: %+v", cfg)
	}
	cfg, err = parseConfig([]string{"-admin-addr", "127.0.0.1:0"}, func(k string) string { return map[string]string{"ADMIN_ADDR": "[::1]:9"}[k] })
	if err != nil || cfg.adminAddr != "127.0.0.1:0" {
		t.Errorf("-admin-addr over ADMIN_ADDR: %+v, %v", cfg, err)
	}
	for _, args := range [][]string{{"-admin-addr", "off"}, nil} {
		cfg, err = parseConfig(args, func(k string) string { return map[string]string{"ADMIN_ADDR": "off"}[k] })
		if err != nil || cfg.adminAddr != "" {
			t.Errorf("admin routes off (%q): %+v, %v", args, cfg, err)
		}
	}
	cfg, err = parseConfig([]string{"-redis-url", "redis://127.0.0.1:1/2"}, func(k string) string { return map[string]string{"REDIS_URL": "redis://x"}[k] })
	if err != nil || cfg.redisURL != "redis://127.0.0.1:1/2" {
		t.Errorf("-redis-url over REDIS_URL: %+v, %v", cfg, err)
	}
	cfg, err = parseConfig(nil, func(string) string { return "" })
	if err != nil || cfg.addr != "127.0.0.1:8080" || cfg.sessionTTL != 10*time.Minute || cfg.redisURL != "" {
		t.Errorf("defaults: %+v, %v", cfg, err)
	}
	if _, err := parseConfig(nil, func(k string) string { return map[string]string{"ANON_LIFETIME": "forever"}[k] }); err == nil {
		t.Error("a bad ANON_LIFETIME was accepted")
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:8080": true, "[::1]:0": true,
		":8080": false, "0.0.0.0:8080": false, "192.0.2.1:80": false, "example.com:80": false, "nonsense": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// With -strategy local, a visitor gets a local ID and no Descope cookie;
// converting moves its notes to the Descope user it becomes.
func TestLocalStrategy(t *testing.T) {
	srv := testServerWith(t, config{strategy: anonymous.LocalIDs})
	b := newBrowser(t, srv)
	res := b.do(http.MethodGet, "/", nil, nil)
	b.want(res, http.StatusOK)
	names := map[string]bool{}
	for _, c := range res.Cookies() {
		names[c.Name] = true
	}
	if !names["DSL"] || names["DS"] || names["DSR"] {
		t.Fatalf("cookies of a local visitor: %v", res.Cookies())
	}
	var me meResponse
	b.want(b.do(http.MethodGet, "/api/me", nil, &me), http.StatusOK)
	if !anonymous.IsLocalID(me.UserID) || !me.Anonymous {
		t.Fatalf("me = %+v, want a local visitor", me)
	}
	b.want(b.do(http.MethodPost, "/api/notes", map[string]string{"text": "keep me"}, nil), http.StatusCreated)
	const email = "local@example.com"
	b.want(b.do(http.MethodPost, "/api/convert/start", map[string]string{"email": email}, nil), http.StatusOK)
	var otp struct {
		Code string `json:"code"`
	}
	b.want(b.do(http.MethodGet, "/dev/otp?address="+email, nil, &otp), http.StatusOK)
	var converted meResponse
	b.want(b.do(http.MethodPost, "/api/convert/verify", map[string]string{"email": email, "code": otp.Code}, &converted), http.StatusOK)
	if converted.UserID == me.UserID || anonymous.IsLocalID(converted.UserID) || converted.Anonymous {
		t.Fatalf("converted = %+v", converted)
	}
	var notes notesResponse
	b.want(b.do(http.MethodGet, "/api/notes", nil, &notes), http.StatusOK)
	if len(notes.Notes) != 1 || notes.Notes[0].Text != "keep me" {
		t.Errorf("notes after conversion: %+v", notes.Notes)
	}
}

func TestStrategyConfig(t *testing.T) {
	key := strings.Repeat("ab", 32)
	env := map[string]string{"ANON_STRATEGY": "local", "ANON_LOCAL_KEY": key}
	cfg, err := parseConfig(nil, func(k string) string { return env[k] })
	if err != nil || cfg.strategy != anonymous.LocalIDs || len(cfg.localKey) != 32 {
		t.Fatalf("from the environment: %+v, %v", cfg, err)
	}
	cfg, err = parseConfig([]string{"-strategy", "native"}, func(k string) string { return env[k] })
	if err != nil || cfg.strategy != anonymous.NativeTokens {
		t.Errorf("flag over the environment: %+v, %v", cfg, err)
	}
	cfg, err = parseConfig(nil, func(k string) string {
		return map[string]string{"ANON_LOCAL_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}[k]
	})
	if err != nil || cfg.strategy != anonymous.UserBacked || string(cfg.localKey) != "0123456789abcdef0123456789abcdef" {
		t.Errorf("base64 key, default strategy: %+v, %v", cfg, err)
	}
	for name, e := range map[string]map[string]string{
		"unknown strategy": {"ANON_STRATEGY": "magic"},
		"key not encoded":  {"ANON_LOCAL_KEY": "not a key!"},
	} {
		if _, err := parseConfig(nil, func(k string) string { return e[k] }); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	logger := slog.New(slog.DiscardHandler)
	if _, err := build(context.Background(), config{addr: "127.0.0.1:0", sessionTTL: time.Minute, lifetime: time.Hour,
		strategy: anonymous.LocalIDs, localKey: []byte("short")}, logger); err == nil {
		t.Error("a short local key was accepted")
	}
	if _, err := build(context.Background(), config{addr: "127.0.0.1:0", sessionTTL: 3 * time.Minute, lifetime: time.Hour,
		strategy: anonymous.LocalIDs, projectID: "P1", managementKey: "K1", baseURL: "http://127.0.0.1:1"}, logger); err == nil ||
		!strings.Contains(err.Error(), "ANON_LOCAL_KEY") {
		t.Errorf("real Descope without a local key: %v", err)
	}
}

func TestNoteMove(t *testing.T) {
	testNoteMove(t, newNoteStore(time.Hour, time.Now))
}

// testNoteMove checks move on a note store: the notes follow the new ID,
// within the per-user bound, and idle moves change nothing.
func testNoteMove(t *testing.T, s notes) {
	ctx := context.Background()
	for range maxNotesPerUser {
		_, _ = s.add(ctx, "local-1", true, "a")
	}
	_, _ = s.add(ctx, "U1", true, "b")
	if err := s.move(ctx, "local-1", "U1", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.list(ctx, "U1", false); len(got) != maxNotesPerUser || got[len(got)-1].Text != "a" {
		t.Errorf("after move: %d notes", len(got))
	}
	if got, _ := s.list(ctx, "local-1", true); len(got) != 0 {
		t.Errorf("notes left behind: %v", got)
	}
	_ = s.move(ctx, "nobody", "U1", false)
	_ = s.move(ctx, "U1", "U1", false)
	if got, _ := s.list(ctx, "U1", false); len(got) != maxNotesPerUser {
		t.Errorf("after idle moves: %d notes", len(got))
	}
	// The moved notes are kept: an anonymous session cannot forget them.
	_ = s.forget(ctx, "U1")
	if got, _ := s.list(ctx, "U1", false); len(got) != maxNotesPerUser {
		t.Errorf("after forget: %d notes, want the kept ones", len(got))
	}
}

// scrape reads /metrics as a scraper would (no cookies) and returns the sum
// of the samples of the metric name whose label has the value (any, when
// label is empty).
func scrape(t *testing.T, srv *httptest.Server) func(name, label, value string) float64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("User-Agent", "Prometheus/3.0.0")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if len(res.Cookies()) != 0 {
		t.Errorf("/metrics set cookies: %v", res.Cookies())
	}
	text := string(data)
	return func(name, label, value string) float64 {
		var sum float64
		for _, line := range strings.Split(text, "\n") {
			if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
				continue
			}
			if label != "" && !strings.Contains(line, label+`="`+value+`"`) {
				continue
			}
			sp := strings.LastIndexByte(line, ' ')
			v, err := strconv.ParseFloat(line[sp+1:], 64)
			if err != nil {
				t.Fatalf("/metrics line %q: %v", line, err)
			}
			sum += v
		}
		return sum
	}
}

// The funnel counters on /metrics move with a conversion, and the page's
// funnel and the readiness probe say the same. Scrapes and probes get no
// anonymous user. The metrics and the probe are on the admin handler only;
// the funnel is on the page's too, with the embedded emulator.
func TestMetricsFunnelAndHealth(t *testing.T) {
	_, srv, admin := testApp(t, config{})
	before := scrape(t, admin)
	for _, c := range []struct{ name, label, value string }{
		{"anonymous_provisioned_total", "", ""},
		{"anonymous_conversion_total", "step", "code_sent"},
		{"anonymous_conversion_total", "step", "converted"},
	} {
		if v := before(c.name, c.label, c.value); v != 0 {
			t.Errorf("before any visitor: %s{%s=%q} = %v", c.name, c.label, c.value, v)
		}
	}
	if n := before("anonymous_descope_call_duration_seconds_count", "operation", "tenant.search"); n != 1 {
		t.Errorf("tenant searches at start-up: %v", n)
	}

	b := newBrowser(t, srv)
	var me meResponse
	b.want(b.do(http.MethodGet, "/api/me", nil, &me), http.StatusOK)
	const email = "grace@example.com"
	b.want(b.do(http.MethodPost, "/api/convert/start", map[string]string{"email": email}, nil), http.StatusOK)
	var otp struct {
		Code string `json:"code"`
	}
	b.want(b.do(http.MethodGet, "/dev/otp?address="+email, nil, &otp), http.StatusOK)
	b.want(b.do(http.MethodPost, "/api/convert/verify", map[string]string{"email": email, "code": "999999" + otp.Code}, nil), http.StatusBadRequest)
	b.want(b.do(http.MethodPost, "/api/convert/verify", map[string]string{"email": email, "code": otp.Code}, nil), http.StatusOK)

	after := scrape(t, admin)
	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"anonymous_provisioned_total", "strategy", "user-backed", 1},
		{"anonymous_conversion_total", "step", "started", 1},
		{"anonymous_conversion_total", "step", "code_sent", 1},
		{"anonymous_conversion_total", "reason", "invalid_code", 1},
		{"anonymous_conversion_total", "step", "code_verified", 1},
		{"anonymous_conversion_total", "step", "converted", 1},
		{"anonymous_descope_call_duration_seconds_count", "operation", "user.create", 1},
		{"anonymous_descope_call_duration_seconds_count", "operation", "otp.verify", 2},
	} {
		if v := after(c.name, c.label, c.value); v != c.want {
			t.Errorf("after a conversion: %s{%s=%q} = %v, want %v", c.name, c.label, c.value, v, c.want)
		}
	}
	if v := after("anonymous_cache_lookups_total", "result", "hit"); v < 1 {
		t.Errorf("cache hits: %v", v)
	}

	for _, base := range []string{srv.URL, admin.URL} {
		var f funnel
		b.base = base
		b.want(b.do(http.MethodGet, "/api/funnel", nil, &f), http.StatusOK)
		if f != (funnel{Provisioned: 1, CodesSent: 1, Converted: 1}) {
			t.Errorf("funnel of %s %+v, want 1 provisioned, 1 code sent, 1 converted", base, f)
		}
	}

	var health struct {
		Ready          bool `json:"ready"`
		TenantResolved bool `json:"tenantResolved"`
		KeysLoaded     bool `json:"keysLoaded"`
	}
	probe := newBrowser(t, admin)
	res := probe.do(http.MethodGet, "/healthz", nil, &health, func(r *http.Request) { r.Header.Set("User-Agent", "kube-probe/1.31") })
	probe.want(res, http.StatusOK)
	if !health.Ready || !health.TenantResolved || !health.KeysLoaded || len(res.Cookies()) != 0 {
		t.Errorf("/healthz: %+v, cookies %v", health, res.Cookies())
	}
	b.base = srv.URL
	for _, path := range []string{"/metrics", "/healthz"} {
		b.want(b.do(http.MethodGet, path, nil, nil), http.StatusNotFound)
	}
	if v := scrape(t, admin)("anonymous_provisioned_total", "", ""); v != 1 {
		t.Errorf("the scrapes or the probe were provisioned: %v visitors", v)
	}
}
