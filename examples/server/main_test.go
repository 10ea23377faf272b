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
)

// testServer builds the application on the embedded emulator and serves it.
func testServer(t *testing.T) *httptest.Server {
	t.Helper()
	a, err := build(context.Background(), config{addr: "127.0.0.1:0", sessionTTL: 10 * time.Minute, lifetime: 24 * time.Hour},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	return srv
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

	b.want(b.do(http.MethodPost, "/api/convert/start", map[string]string{"email": "not-an-email"}, nil), http.StatusBadRequest)
	b.want(b.do(http.MethodGet, "/api/convert/start", nil, nil), http.StatusMethodNotAllowed)
	b.want(b.do(http.MethodGet, "/nowhere", nil, nil), http.StatusNotFound)
}

func TestNoteBounds(t *testing.T) {
	ctx := context.Background()
	s := newNoteStore()
	for i := range maxNotesPerUser {
		if _, err := s.add(ctx, "U1", "note"); err != nil {
			t.Fatalf("note %d: %v", i, err)
		}
	}
	if _, err := s.add(ctx, "U1", "one too many"); err != errNoteTooMany {
		t.Errorf("note past the bound: %v, want %v", err, errNoteTooMany)
	}
	for i := range maxNoteUsers - 1 {
		s.byUser["filler"+strconv.Itoa(i)] = nil
	}
	if _, err := s.add(ctx, "U-new", "hello"); err != errNoteFull {
		t.Errorf("note of a user past the bound: %v, want %v", err, errNoteFull)
	}
	_ = s.drop(ctx, "U1")
	if _, err := s.add(ctx, "U-new", "hello"); err != nil {
		t.Errorf("after drop: %v", err)
	}
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{"ADDR": "127.0.0.1:0", "ANON_SESSION_TTL": "3s", "DESCOPE_PROJECT_ID": "P1"}
	cfg, err := parseConfig(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != "127.0.0.1:0" || cfg.sessionTTL != 3*time.Second || cfg.lifetime != 365*24*time.Hour || cfg.projectID != "P1" {
		t.Errorf("from the environment: %+v", cfg)
	}
	cfg, err = parseConfig([]string{"-addr", ":9000", "-session-ttl", "1m", "-lifetime", "48h"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != ":9000" || cfg.sessionTTL != time.Minute || cfg.lifetime != 48*time.Hour {
		t.Errorf("flags over the environment: %+v", cfg)
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
