package descopetest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous/descopetest"
)

// wantJWTResponse checks the fields of an authentication answer that
// Descope's JavaScript SDKs read (core-js-sdk JWTResponse; web-js-sdk reads
// sessionExpiration as its sign-in signal and cookieName as the refresh
// cookie's name) against the tokens it carries. refresh is the refresh
// token the client holds when the answer carries none.
func wantJWTResponse(t *testing.T, what string, body map[string]any, refresh string) {
	t.Helper()
	session, _ := body["sessionJwt"].(string)
	if session == "" {
		t.Fatalf("%s: no sessionJwt in %v", what, body)
	}
	sc := claimsOf(t, session)
	if r, _ := body["refreshJwt"].(string); r != "" {
		refresh = r
	}
	rc := claimsOf(t, refresh)
	for name, want := range map[string]any{
		"sessionExpiration": sc["exp"],
		"cookieExpiration":  rc["exp"],
		"cookieMaxAge":      rc["exp"].(float64) - sc["iat"].(float64),
		"cookieName":        "DSR",
		"cookiePath":        "/",
		"cookieDomain":      "",
	} {
		if got, ok := body[name]; !ok || got != want {
			t.Errorf("%s: %s = %v (present %v), want %v", what, name, got, ok, want)
		}
	}
	if _, ok := body["firstSeen"].(bool); !ok {
		t.Errorf("%s: firstSeen missing: %v", what, body)
	}
	claims, _ := body["claims"].(map[string]any)
	if claims["sub"] != sc["sub"] || claims["exp"] != sc["exp"] || claims["drn"] != "DS" {
		t.Errorf("%s: claims = %v, want the session token's %v", what, claims, sc)
	}
}

func TestJWTResponseFields(t *testing.T) {
	emu, sdk, ctx := setup(t, descopetest.WithSessionTTL(5*time.Minute))
	pid := emu.ProjectID

	status, body := rawCall(t, emu, http.MethodPost, "/v1/auth/password/signup", pid, `{"loginId":"ada","password":"s3cret!"}`)
	if status != http.StatusOK {
		t.Fatalf("sign-up: %d %v", status, body)
	}
	wantJWTResponse(t, "password sign-up", body, "")
	refresh := body["refreshJwt"].(string)

	status, body = rawCall(t, emu, http.MethodPost, "/v1/auth/refresh", pid+":"+refresh, "")
	if status != http.StatusOK || body["refreshJwt"] != nil {
		t.Fatalf("refresh: %d %v", status, body)
	}
	wantJWTResponse(t, "refresh", body, refresh)

	_, body = rawCall(t, emu, http.MethodPost, "/v1/mgmt/auth/signin", mgmtAuth(emu), `{"loginId":"ada"}`)
	wantJWTResponse(t, "management sign-in", body, "")

	must[string](t)(sdk.Auth.OTP().SignUpOrIn(ctx, "email", "grace@example.com", nil))
	_, body = rawCall(t, emu, http.MethodPost, "/v1/auth/otp/verify/email", pid,
		`{"loginId":"grace@example.com","code":"`+outbox(t, emu, "grace@example.com")+`"}`)
	wantJWTResponse(t, "OTP verify", body, "")
	if body["firstSeen"] != true {
		t.Errorf("OTP verify of a new user: firstSeen = %v", body["firstSeen"])
	}
}
