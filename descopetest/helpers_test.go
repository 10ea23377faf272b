package descopetest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/client"

	"github.com/descope-contrib/anonymous/descopetest"
)

// setup starts an emulator and a client for it.
func setup(t *testing.T, opts ...descopetest.Option) (*descopetest.Emulator, *client.DescopeClient, context.Context) {
	t.Helper()
	emu := descopetest.New(opts...)
	t.Cleanup(emu.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return emu, emu.MustClient(t), ctx
}

// claimsOf decodes a JWT payload without verifying it.
func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	c, err := descopetest.Claims(tok)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// lifetime returns exp - iat of a JWT.
func lifetime(t *testing.T, jwt string) time.Duration {
	t.Helper()
	c := claimsOf(t, jwt)
	return time.Duration(c["exp"].(float64)-c["iat"].(float64)) * time.Second
}

// wantCode fails unless err is a Descope error with code and HTTP status.
func wantCode(t *testing.T, err error, code string, status int) *descope.Error {
	t.Helper()
	de := descope.AsError(err)
	if de == nil {
		t.Fatalf("want Descope error %s, got %v", code, err)
	}
	if de.Code != code {
		t.Fatalf("want code %s, got %v", code, err)
	}
	if status != 0 && de.Info[descope.ErrorInfoKeys.HTTPResponseStatusCode] != status {
		t.Fatalf("want status %d, got %v", status, err)
	}
	return de
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantLoggedOut fails unless refreshing with refresh is refused as logged
// out (E064001, status 401).
func wantLoggedOut(t *testing.T, sdk *client.DescopeClient, ctx context.Context, refresh string) {
	t.Helper()
	_, _, err := sdk.Auth.RefreshSessionWithToken(ctx, refresh)
	wantCode(t, err, "E064001", http.StatusUnauthorized)
}

// withRefresh returns a request carrying a refresh token in the DSR cookie,
// as the SDK's request-based calls read it.
func withRefresh(refresh string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: descope.RefreshCookieName, Value: refresh})
	return r
}

// rawCall sends a request to the emulator and decodes the JSON answer.
func rawCall(t *testing.T, emu *descopetest.Emulator, method, path, auth, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, emu.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: status %d, body %q is not a JSON object", method, path, res.StatusCode, b)
	}
	return res.StatusCode, out
}

func mgmtAuth(emu *descopetest.Emulator) string { return emu.ProjectID + ":" + emu.ManagementKey }

// signIn creates a user (if needed) through the management API and signs it
// in, returning session and refresh tokens.
func signIn(t *testing.T, sdk *client.DescopeClient, ctx context.Context, loginID string) (string, string) {
	t.Helper()
	info, err := sdk.Management.JWT().SignUpOrIn(ctx, loginID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return info.SessionToken.JWT, info.RefreshToken.JWT
}

func isDescope(err error) bool {
	var de *descope.Error
	return errors.As(err, &de)
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func newServer(h http.Handler) *httptest.Server { return httptest.NewServer(h) }
