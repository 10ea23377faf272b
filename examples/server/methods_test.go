package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"
)

// testAppAt is testApp with the public URL set to the test server's own,
// as run sets it from the listen address: magic links and social logins
// come back to it.
func testAppAt(t *testing.T, cfg config) (*app, *httptest.Server) {
	return serveTestApp(t, cfg, func(c *config, addr net.Addr) { c.publicURL = "http://" + addr.String() })
}

// serveTestApp builds the app of cfg, set by public from the test
// server's listen address, and serves it on that server.
func serveTestApp(t *testing.T, cfg config, public func(*config, net.Addr)) (*app, *httptest.Server) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	public(&cfg, srv.Listener.Addr())
	cfg.addr, cfg.sessionTTL, cfg.lifetime = "127.0.0.1:0", 10*time.Minute, 24*time.Hour
	a, err := build(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	srv.Config.Handler = a.Handler
	srv.Start()
	t.Cleanup(srv.Close)
	return a, srv
}

// outboxAnswer is the answer of /dev/outbox.
type outboxAnswer struct {
	Code string `json:"code"`
	Link string `json:"link"`
}

// The dev outbox gives the page the latest code and the latest link sent
// to an address, only with the embedded emulator; the link opens the
// server's own landing page, which is the page.
func TestDevOutbox(t *testing.T) {
	a, srv := testAppAt(t, config{})
	b := newBrowser(t, srv)
	const email = "ada@example.com"
	b.want(b.do(http.MethodGet, "/dev/outbox?address="+email, nil, nil), http.StatusNotFound)
	b.want(b.do(http.MethodPost, "/api/convert/start", map[string]string{"email": email}, nil), http.StatusOK)
	var o outboxAnswer
	b.want(b.do(http.MethodGet, "/dev/outbox?address="+email, nil, &o), http.StatusOK)
	if code, _ := a.Emulator.Outbox(email); o.Code != code || o.Link != "" {
		t.Errorf("after a code: %+v, want code %s and no link", o, code)
	}
	b.want(b.do(http.MethodPost, "/api/convert/link/start", map[string]string{"email": email}, nil), http.StatusOK)
	b.want(b.do(http.MethodGet, "/dev/outbox?address="+strings.ToUpper(email), nil, &o), http.StatusOK)
	link, err := url.Parse(o.Link)
	if err != nil || o.Code == "" || !strings.HasPrefix(o.Link, srv.URL+linkPage+"?") || link.Query().Get("t") == "" {
		t.Fatalf("after a link: %+v, want the code and a link to %s%s?t=…", o, srv.URL, linkPage)
	}
	res := b.do(http.MethodGet, linkPage+"?t=x", nil, nil)
	b.want(res, http.StatusOK)
	if res.Header.Get("Content-Security-Policy") != pageCSP || res.Header.Get("Referrer-Policy") != "no-referrer" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("landing page headers %v", res.Header)
	}

	emu := newExternalEmulator(t)
	_, ext := testAppAt(t, config{projectID: emu.ProjectID, managementKey: emu.ManagementKey, baseURL: emu.URL})
	c := newBrowser(t, ext)
	c.want(c.do(http.MethodPost, "/api/convert/link/start", map[string]string{"email": email}, nil), http.StatusOK)
	if _, ok := emu.OutboxLink(email); !ok {
		t.Fatal("no link sent through the external emulator")
	}
	for _, path := range []string{"/dev/outbox", "/dev/otp"} {
		c.want(c.do(http.MethodGet, path+"?address="+email, nil, nil), http.StatusNotFound)
	}
}

// The new routes are POST only and refuse other origins, as the code's.
func TestConvertRoutesRefuseOtherSites(t *testing.T) {
	_, srv := testAppAt(t, config{})
	b := newBrowser(t, srv)
	b.want(b.do(http.MethodGet, "/api/me", nil, nil), http.StatusOK)
	for path, body := range map[string]any{
		"/api/convert/link/start":     map[string]string{"email": "ada@example.com"},
		"/api/convert/link/verify":    map[string]string{"token": "x"},
		"/api/convert/oauth/start":    map[string]string{"provider": "google"},
		"/api/convert/oauth/finish":   map[string]string{"code": "x", "state": "y"},
		"/api/convert/complete":       map[string]string{},
		"/api/convert/passkey/start":  map[string]string{"name": "ada.lovelace"},
		"/api/convert/passkey/finish": map[string]string{"transactionId": "x"},
	} {
		res := b.do(http.MethodPost, path, body, nil, func(r *http.Request) {
			r.Header.Set("Origin", "https://evil.example")
			r.Header.Set("Sec-Fetch-Site", "cross-site")
		})
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %d, want 403", path, res.StatusCode)
		}
		if res := b.do(http.MethodGet, path, nil, nil); res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d, want 405", path, res.StatusCode)
		}
	}
	var st struct {
		URL string `json:"url"`
	}
	b.want(b.do(http.MethodPost, "/api/convert/oauth/start", map[string]string{"provider": "google"}, &st), http.StatusOK)
	if !strings.Contains(st.URL, "state=") {
		t.Errorf("oauth start answer %+v", st)
	}
}

// POST /api/convert/complete finishes a conversion the application's own
// Descope flow made (an email added and verified with the visitor's refresh
// token): same user ID, regular, notes kept. Before, it answers 409.
func TestConvertComplete(t *testing.T) {
	a, srv := testAppAt(t, config{})
	b := newBrowser(t, srv)
	var first meResponse
	b.want(b.do(http.MethodGet, "/api/me", nil, &first), http.StatusOK)
	b.want(b.do(http.MethodPost, "/api/notes", map[string]string{"text": "kept"}, nil), http.StatusCreated)
	asJSON := func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }
	b.want(b.do(http.MethodPost, "/api/convert/complete", nil, nil, asJSON), http.StatusConflict)

	// The application's own flow: an OTP email update with addToLoginIDs,
	// authorised by the visitor's refresh token, and its verification.
	const email = "ada@example.com"
	u, _ := a.Emulator.User(first.UserID)
	base, _ := url.Parse(srv.URL)
	var dsr string
	for _, c := range b.c.Jar.Cookies(base) {
		if c.Name == "DSR" {
			dsr = c.Value
		}
	}
	c, err := a.Emulator.Client()
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: descope.RefreshCookieName, Value: dsr})
	ctx := context.Background()
	if _, err := c.Auth.OTP().UpdateUserEmail(ctx, u.LoginIDs[0], email, &descope.UpdateOptions{AddToLoginIDs: true}, r); err != nil {
		t.Fatal(err)
	}
	code, _ := a.Emulator.Outbox(email)
	if _, err := c.Auth.OTP().VerifyCode(ctx, descope.MethodEmail, u.LoginIDs[0], code, nil); err != nil {
		t.Fatal(err)
	}

	var me meResponse
	b.want(b.do(http.MethodPost, "/api/convert/complete", nil, &me, asJSON), http.StatusOK)
	if me.UserID != first.UserID || me.Anonymous || !slices.Equal(me.LoginIDs, []string{email}) {
		t.Fatalf("complete: %+v, want %s regular with %s", me, first.UserID, email)
	}
	var n notesResponse
	b.want(b.do(http.MethodGet, "/api/notes", nil, &n), http.StatusOK)
	if len(n.Notes) != 1 || n.Notes[0].Text != "kept" {
		t.Errorf("notes after complete: %+v", n.Notes)
	}
	b.want(b.do(http.MethodPost, "/api/convert/complete", nil, nil, asJSON), http.StatusConflict)
}

// The flags of the public URL and of returning customers.
func TestParseMethodFlags(t *testing.T) {
	none := func(string) string { return "" }
	cfg, err := parseConfig(nil, none)
	if err != nil || cfg.publicURL != "" || cfg.noReturning || cfg.merge {
		t.Errorf("defaults: %+v, %v", cfg, err)
	}
	cfg, err = parseConfig([]string{"-public-url", "https://notes.example.com/app/", "-returning=false"}, none)
	if err != nil || cfg.publicURL != "https://notes.example.com/app" || !cfg.noReturning || cfg.merge {
		t.Errorf("-public-url -returning=false: %+v, %v", cfg, err)
	}
	env := map[string]string{"PUBLIC_URL": "http://127.0.0.1:8080", "ANON_MERGE": "1"}
	cfg, err = parseConfig(nil, func(k string) string { return env[k] })
	if err != nil || cfg.publicURL != "http://127.0.0.1:8080" || !cfg.merge || cfg.noReturning {
		t.Errorf("from the environment: %+v, %v", cfg, err)
	}
	for _, args := range [][]string{
		{"-merge", "-returning=false"},
		{"-public-url", "notes.example.com"},
		{"-public-url", "ftp://notes.example.com"},
		{"-public-url", "https://notes.example.com/?x=1"},
		{"-public-url", "https://user@notes.example.com"},
	} {
		if _, err := parseConfig(args, none); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	if _, err := parseConfig(nil, func(k string) string { return map[string]string{"ANON_RETURNING": "maybe"}[k] }); err == nil {
		t.Error("a bad ANON_RETURNING was accepted")
	}
}
