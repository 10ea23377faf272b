package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

// testAppListening is testApp with the public URL run derives from the
// listen address (config.listening: http://localhost:<port>), or cfg's own.
func testAppListening(t *testing.T, cfg config) (*app, *httptest.Server) {
	return serveTestApp(t, cfg, (*config).listening)
}

// passkeyStart is the answer of /api/convert/passkey/start.
type passkeyStart struct {
	TransactionID string `json:"transactionId"`
	Options       string `json:"options"`
	Create        bool   `json:"create"`
}

// apiError is an error answer.
type apiError struct {
	Error string `json:"error"`
}

// fromPage sends a request as the page at origin does: its Origin, and the
// host the browser reached.
func fromPage(origin string) func(*http.Request) {
	return func(r *http.Request) {
		r.Header.Set("Origin", origin)
		r.Host = strings.TrimPrefix(strings.TrimPrefix(origin, "https://"), "http://")
	}
}

// The passkey origins: the public URL's origin as a browser sends it, and
// on a loopback listen address http://localhost:<port>; never an IP
// address, where browsers refuse passkeys.
func TestPasskeyOrigins(t *testing.T) {
	for _, tc := range []struct {
		urls []string
		want []string
	}{
		{[]string{"http://127.0.0.1:8080", "http://localhost:8080"}, []string{"http://localhost:8080"}},
		{[]string{"https://Notes.Example.com/app", ""}, []string{"https://notes.example.com"}},
		{[]string{"https://notes.example.com:443", "http://localhost:80"}, []string{"https://notes.example.com", "http://localhost"}},
		{[]string{"https://notes.example.com:8443/"}, []string{"https://notes.example.com:8443"}},
		{[]string{"http://localhost:8080", "http://localhost:8080"}, []string{"http://localhost:8080"}},
		{[]string{"http://[::1]:8080", "https://10.0.0.7"}, nil},
	} {
		if got := passkeyOrigins(tc.urls...); !slices.Equal(got, tc.want) {
			t.Errorf("passkeyOrigins(%q) = %q, want %q", tc.urls, got, tc.want)
		}
	}
	for _, tc := range []struct {
		addr   net.Addr
		public string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "http://localhost:8080"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, "http://localhost:8080"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, "http://localhost:8080"},
		{&net.TCPAddr{IP: net.IPv4(192, 168, 1, 5), Port: 8080}, "http://192.168.1.5:8080"},
	} {
		var cfg config
		cfg.listening(tc.addr)
		if cfg.publicURL != tc.public {
			t.Errorf("listening on %v: public %q, want %q", tc.addr, cfg.publicURL, tc.public)
		}
	}
	cfg := config{publicURL: "https://notes.example.com"}
	cfg.listening(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080})
	if cfg.publicURL != "https://notes.example.com" {
		t.Errorf("with -public-url: %+v", cfg)
	}
}

// The passkey routes: a page at localhost converts (same user ID, the name
// as login ID, the notes kept); the default public URL's page, at an IP
// address, is refused before any ceremony; a bad name gets the library's
// 400 message. With -public-url, only its origin may. Another site's POST
// is refused as on every conversion route (TestConvertRoutesRefuseOtherSites).
func TestPasskeyRoutes(t *testing.T) {
	a, srv := testAppListening(t, config{})
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	local := "http://localhost:" + port
	b := newBrowser(t, srv)
	b.base = local
	var first meResponse
	b.want(b.do(http.MethodGet, "/api/me", nil, &first), http.StatusOK)
	b.want(b.do(http.MethodPost, "/api/notes", map[string]string{"text": "kept"}, nil), http.StatusCreated)
	starts := func() int { return a.Emulator.Requests("/v1/auth/webauthn/update/start") }

	wantName := strings.TrimPrefix(anonymous.ErrInvalidName.Error(), "anonymous: ")
	for _, name := range []string{"ada@example.com", "+15551234567", "123-456", "ab", strings.Repeat("a", 65), "ada lovelace", "adä"} {
		var e apiError
		b.want(b.do(http.MethodPost, "/api/convert/passkey/start", map[string]string{"name": name}, &e, fromPage(local)), http.StatusBadRequest)
		if e.Error != wantName {
			t.Errorf("name %q: %q, want the library's message %q", name, e.Error, wantName)
		}
	}
	// The server at its IP address, http://127.0.0.1:<port>: no passkeys there.
	var e apiError
	b.want(b.do(http.MethodPost, "/api/convert/passkey/start", map[string]string{"name": "ada.lovelace"}, &e, fromPage(srv.URL)), http.StatusBadRequest)
	if !strings.Contains(e.Error, "passkey origin not allowed") {
		t.Errorf("a page at %s: %q", srv.URL, e.Error)
	}
	if n := starts(); n != 0 {
		t.Fatalf("%d ceremonies started at Descope for refused starts", n)
	}

	var st passkeyStart
	b.want(b.do(http.MethodPost, "/api/convert/passkey/start", map[string]string{"name": "Ada.Lovelace"}, &st, fromPage(local)), http.StatusOK)
	if !st.Create || st.TransactionID == "" {
		t.Fatalf("start: %+v, want a passkey to create", st)
	}
	response, err := descopetest.NewAuthenticator().Create(st.Options, local)
	if err != nil {
		t.Fatal(err)
	}
	var done struct {
		meResponse
		Outcome string `json:"outcome"`
	}
	b.want(b.do(http.MethodPost, "/api/convert/passkey/finish", map[string]string{"transactionId": st.TransactionID, "response": response}, &done, fromPage(local)), http.StatusOK)
	if done.UserID != first.UserID || done.Anonymous || !slices.Equal(done.LoginIDs, []string{"ada.lovelace"}) || done.Outcome != "converted" {
		t.Fatalf("finish: %+v, want %s converted with the name", done, first.UserID)
	}
	var n notesResponse
	b.want(b.do(http.MethodGet, "/api/notes", nil, &n), http.StatusOK)
	if len(n.Notes) != 1 || n.Notes[0].Text != "kept" {
		t.Errorf("notes after the passkey: %+v", n.Notes)
	}
	if u, ok := a.Emulator.User("ada.lovelace"); !ok || !u.WebAuthn || u.UserID != first.UserID {
		t.Errorf("the account at Descope: %+v, %v", u, ok)
	}

	// With -public-url, its origin alone.
	_, ext := testAppListening(t, config{publicURL: "https://notes.example.com"})
	c := newBrowser(t, ext)
	c.want(c.do(http.MethodGet, "/api/me", nil, nil), http.StatusOK)
	c.want(c.do(http.MethodPost, "/api/convert/passkey/start", map[string]string{"name": "ada.lovelace"}, nil, fromPage("http://localhost:"+port)), http.StatusBadRequest)
	c.want(c.do(http.MethodPost, "/api/convert/passkey/start", map[string]string{"name": "ada.lovelace"}, &st, fromPage("https://notes.example.com")), http.StatusOK)
	if !st.Create {
		t.Errorf("start on the public URL: %+v", st)
	}
}
