package descopetest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/descope-contrib/anonymous/descopetest"
)

// cookieCall sends a request whose Authorization header carries only the
// project ID (or auth, when not empty), with the cookies and headers given,
// and decodes the JSON answer.
func cookieCall(t *testing.T, emu *descopetest.Emulator, method, path, auth string, cookies map[string]string, header map[string]string) (int, map[string]any) {
	t.Helper()
	if auth == "" {
		auth = emu.ProjectID
	}
	req, err := http.NewRequest(method, emu.URL+path, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+auth)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	for name, v := range cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: v})
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: %d, body %q is not a JSON object", method, path, res.StatusCode, b)
	}
	return res.StatusCode, out
}

func TestRefreshTokenFromCookie(t *testing.T) {
	emu, sdk, ctx := setup(t)
	_, refresh := signIn(t, sdk, ctx, "ada@example.com")
	dsr := map[string]string{"DSR": refresh}

	status, body := cookieCall(t, emu, http.MethodPost, "/v1/auth/refresh", "", dsr, nil)
	if status != http.StatusOK {
		t.Fatalf("refresh with the DSR cookie: %d %v", status, body)
	}
	wantJWTResponse(t, "refresh with the DSR cookie", body, refresh)
	status, body = cookieCall(t, emu, http.MethodGet, "/v1/auth/me", "", dsr, nil)
	if status != http.StatusOK || !strings.Contains(strings.Join(toStrings(body["loginIds"]), ","), "ada@example.com") {
		t.Fatalf("me with the DSR cookie: %d %v", status, body)
	}

	// The cookie the header names, and only that one.
	named := map[string]string{"X-Descope-Refresh-Cookie-Name": "APP_DSR"}
	if status, body = cookieCall(t, emu, http.MethodPost, "/v1/auth/refresh", "", map[string]string{"APP_DSR": refresh}, named); status != http.StatusOK {
		t.Fatalf("refresh with the named cookie: %d %v", status, body)
	}
	if status, _ = cookieCall(t, emu, http.MethodPost, "/v1/auth/refresh", "", dsr, named); status != http.StatusUnauthorized {
		t.Fatalf("refresh with DSR when the header names another cookie: %d, want 401", status)
	}

	// A token in the header wins over the cookie, even a bad one.
	if status, _ = cookieCall(t, emu, http.MethodPost, "/v1/auth/refresh", emu.ProjectID+":a.b.c", dsr, nil); status != http.StatusUnauthorized {
		t.Fatalf("refresh with a bad header token and a good cookie: %d, want 401", status)
	}
	// Other routes that take a refresh token read only the header.
	if status, _ = cookieCall(t, emu, http.MethodPost, "/v1/auth/tenant/select", "", dsr, nil); status != http.StatusUnauthorized {
		t.Fatalf("tenant select with only the cookie: %d, want 401", status)
	}
	// A cookie that is no refresh token of this project.
	for _, bad := range []string{"a.b.c", "garbage", unissuedRefresh(t, emu)} {
		if status, _ = cookieCall(t, emu, http.MethodPost, "/v1/auth/refresh", "", map[string]string{"DSR": bad}, nil); status != http.StatusUnauthorized {
			t.Fatalf("refresh with the cookie %q: %d, want 401", bad, status)
		}
	}
	// No token anywhere.
	if status, body = cookieCall(t, emu, http.MethodPost, "/v1/auth/refresh", "", nil, nil); status != http.StatusUnauthorized || body["errorCode"] == nil {
		t.Fatalf("refresh with no token: %d %v", status, body)
	}

	// Logout by cookie revokes the token.
	if status, body = cookieCall(t, emu, http.MethodPost, "/v1/auth/logout", "", dsr, nil); status != http.StatusOK {
		t.Fatalf("logout with the DSR cookie: %d %v", status, body)
	}
	wantLoggedOut(t, sdk, ctx, refresh)

	// Logout all by cookie revokes the user's other sessions too.
	_, r1 := signIn(t, sdk, ctx, "ada@example.com")
	_, r2 := signIn(t, sdk, ctx, "ada@example.com")
	if status, body = cookieCall(t, emu, http.MethodPost, "/v1/auth/logoutall", "", map[string]string{"DSR": r1}, nil); status != http.StatusOK {
		t.Fatalf("logout all with the DSR cookie: %d %v", status, body)
	}
	wantLoggedOut(t, sdk, ctx, r2)
}

func TestTryRefresh(t *testing.T) {
	emu, sdk, ctx := setup(t)
	_, refresh := signIn(t, sdk, ctx, "ada@example.com")
	pid := emu.ProjectID

	status, body := cookieCall(t, emu, http.MethodPost, "/v1/auth/try-refresh?dcs=f&dcr=t", pid+":"+refresh, nil, nil)
	if status != http.StatusOK {
		t.Fatalf("try-refresh: %d %v", status, body)
	}
	wantJWTResponse(t, "try-refresh", body, refresh)
	status, body = cookieCall(t, emu, http.MethodPost, "/v1/auth/try-refresh", "", map[string]string{"DSR": refresh}, nil)
	if status != http.StatusOK || body["sessionJwt"] == nil {
		t.Fatalf("try-refresh with the DSR cookie: %d %v", status, body)
	}

	forged := unissuedRefresh(t, emu)
	for name, auth := range map[string]string{
		"no token":        pid,
		"malformed token": pid + ":a.b.c",
		"unknown token":   pid + ":" + forged,
	} {
		if status, body = cookieCall(t, emu, http.MethodPost, "/v1/auth/try-refresh", auth, nil, nil); status != http.StatusOK || len(body) != 0 {
			t.Errorf("try-refresh with %s: %d %v, want 200 {}", name, status, body)
		}
	}
	check(t, sdk.Auth.LogoutWithToken(refresh, nil))
	if status, body = cookieCall(t, emu, http.MethodPost, "/v1/auth/try-refresh", pid+":"+refresh, nil, nil); status != http.StatusOK || len(body) != 0 {
		t.Errorf("try-refresh after logout: %d %v, want 200 {}", status, body)
	}
	// The project ID must still be right.
	if status, _ = cookieCall(t, emu, http.MethodPost, "/v1/auth/try-refresh", "Pother:"+refresh, nil, nil); status != http.StatusUnauthorized {
		t.Errorf("try-refresh of another project: %d, want 401", status)
	}
}

// unissuedRefresh is a refresh token signed with the emulator's key that it
// never issued.
func unissuedRefresh(t *testing.T, emu *descopetest.Emulator) string {
	t.Helper()
	tok, err := emu.SignToken(map[string]any{"sub": "x", "iss": emu.ProjectID, "drn": "DSR", "jti": "j", "exp": 4e9})
	check(t, err)
	return tok
}
