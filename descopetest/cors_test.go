package descopetest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/descope-contrib/anonymous/descopetest"
)

// preflight sends the OPTIONS request a browser sends before a
// credentialed cross-origin call with the headers web-js-sdk sets.
func preflight(t *testing.T, emu *descopetest.Emulator, path, origin, method string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, emu.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-descope-sdk-name,x-descope-refresh-cookie-name")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func TestCORS(t *testing.T) {
	emu, sdk, ctx := setup(t, descopetest.WithAllowedOrigins("https://App.Example.com/"))
	_, refresh := signIn(t, sdk, ctx, "ada@example.com")

	for _, origin := range []string{"http://localhost:5173", "http://127.0.0.1:8080", "http://[::1]:3000", "https://app.example.com"} {
		res := preflight(t, emu, "/v1/auth/refresh", origin, http.MethodPost)
		h := res.Header
		if res.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin ||
			h.Get("Access-Control-Allow-Credentials") != "true" || h.Get("Access-Control-Allow-Methods") != "POST" {
			t.Fatalf("preflight from %s: %d %v", origin, res.StatusCode, h)
		}
		allowed := h.Get("Access-Control-Allow-Headers")
		for _, name := range []string{"authorization", "content-type", "x-descope-sdk-name", "x-descope-refresh-cookie-name"} {
			if !strings.Contains(allowed, name) {
				t.Errorf("preflight from %s allows headers %q, not %s", origin, allowed, name)
			}
		}
	}
	if n := emu.Requests("/v1/auth/refresh"); n != 0 {
		t.Errorf("preflights counted as %d refresh requests", n)
	}

	// Origins that are not allowed: no CORS headers, and a refused preflight.
	for _, origin := range []string{"https://evil.example", "http://localhost.evil.example", "null", "http://127.0.0.1.evil.example", "file://"} {
		res := preflight(t, emu, "/v1/auth/refresh", origin, http.MethodPost)
		if res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from %s: %d %v", origin, res.StatusCode, res.Header)
		}
	}
	// Management calls are not for browsers.
	if res := preflight(t, emu, "/v1/mgmt/user/create", "http://localhost:5173", http.MethodPost); res.Header.Get("Access-Control-Allow-Origin") != "" || res.StatusCode == http.StatusNoContent {
		t.Errorf("preflight of a management call: %d %v", res.StatusCode, res.Header)
	}
	// A header outside what the API reads is not allowed.
	req, _ := http.NewRequest(http.MethodOptions, emu.URL+"/v1/auth/me", nil)
	req.Header.Set("Origin", "http://localhost:5173")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "x-evil")
	res, err := http.DefaultClient.Do(req)
	check(t, err)
	res.Body.Close()
	if res.Header.Get("Access-Control-Allow-Headers") != "" {
		t.Errorf("preflight allows headers %q", res.Header.Get("Access-Control-Allow-Headers"))
	}

	// The call itself, an error answer included, names the origin.
	for _, tc := range []struct {
		auth   string
		status int
	}{{emu.ProjectID + ":" + refresh, http.StatusOK}, {emu.ProjectID, http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodPost, emu.URL+"/v1/auth/refresh", strings.NewReader("{}"))
		req.Header.Set("Origin", "http://localhost:5173")
		req.Header.Set("Authorization", "Bearer "+tc.auth)
		res, err := http.DefaultClient.Do(req)
		check(t, err)
		res.Body.Close()
		if res.StatusCode != tc.status || res.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" ||
			res.Header.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(res.Header.Get("Vary"), "Origin") {
			t.Errorf("refresh from a page: %d %v", res.StatusCode, res.Header)
		}
	}
}
