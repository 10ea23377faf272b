package descopetest_test

import (
	"encoding/base64"
	"net/http"
	"slices"
	"testing"

	"github.com/descope/go-sdk/descope"

	"github.com/descope-contrib/anonymous/descopetest"
)

func TestLicenseAndKeys(t *testing.T) {
	emu, _, _ := setup(t)
	if n := emu.Requests("/v1/mgmt/license"); n != 1 {
		t.Fatalf("license requests = %d, want 1 (the client's handshake)", n)
	}

	status, body := rawCall(t, emu, http.MethodGet, "/v2/keys/"+emu.ProjectID, emu.ProjectID, "")
	if status != http.StatusOK {
		t.Fatalf("keys: status %d", status)
	}
	keys, _ := body["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("keys = %v", body)
	}
	k := keys[0].(map[string]any)
	for name, want := range map[string]string{"kid": emu.KeyID(), "alg": "RS256", "use": "sig", "kty": "RSA"} {
		if k[name] != want {
			t.Errorf("JWK %s = %v, want %v", name, k[name], want)
		}
	}
	if k["n"] == "" || k["e"] != "AQAB" {
		t.Errorf("JWK n/e = %v/%v", k["n"], k["e"])
	}

	status, body = rawCall(t, emu, http.MethodGet, "/v2/keys/Pother", emu.ProjectID, "")
	if status != http.StatusBadRequest || body["errorCode"] == "" {
		t.Fatalf("keys of another project: %d %v", status, body)
	}
}

func TestPasswordFlow(t *testing.T) {
	emu, sdk, ctx := setup(t)
	pw := sdk.Auth.Password()

	info := must[*descope.AuthenticationInfo](t)(pw.SignUp(ctx, "ada", &descope.User{Name: "Ada", Email: "ada@example.com"}, "s3cret!", nil))
	if !info.FirstSeen || info.User == nil || info.User.Name != "Ada" || info.User.Email != "ada@example.com" {
		t.Fatalf("sign-up info = %+v", info)
	}
	if info.SessionToken.ProjectID != emu.ProjectID || info.SessionToken.ID != info.User.UserID {
		t.Fatalf("token project/ID = %s/%s", info.SessionToken.ProjectID, info.SessionToken.ID)
	}
	c := claimsOf(t, info.SessionToken.JWT)
	if c["drn"] != "DS" || c["iss"] != "https://api.descope.com/"+emu.ProjectID || !slices.Equal(toStrings(c["amr"]), []string{"pwd"}) {
		t.Fatalf("session claims = %v", c)
	}
	if _, ok := c["cnf"]; ok {
		t.Fatal("session token has a cnf claim")
	}
	if rc := claimsOf(t, info.RefreshToken.JWT); rc["drn"] != "DSR" || rc["jti"] == nil {
		t.Fatalf("refresh claims = %v", rc)
	}

	_, err := pw.SignUp(ctx, "ada", nil, "other", nil)
	wantCode(t, err, "E062107", http.StatusBadRequest)

	info = must[*descope.AuthenticationInfo](t)(pw.SignIn(ctx, "ada", "s3cret!", nil))
	if info.FirstSeen || info.User.UserID == "" {
		t.Fatalf("sign-in info = %+v", info)
	}
	_, err = pw.SignIn(ctx, "ada", "wrong", nil)
	wantCode(t, err, "E062801", http.StatusUnauthorized)
	_, err = pw.SignIn(ctx, "nobody", "x", nil)
	wantCode(t, err, "E062108", http.StatusBadRequest)

	must[*descope.AuthenticationInfo](t)(pw.ReplaceUserPassword(ctx, "ada", "s3cret!", "n3w!", nil))
	_, err = pw.SignIn(ctx, "ada", "s3cret!", nil)
	wantCode(t, err, "E062801", http.StatusUnauthorized)
	must[*descope.AuthenticationInfo](t)(pw.SignIn(ctx, "ada", "n3w!", nil))
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestRefreshWithoutRotation(t *testing.T) {
	emu, sdk, ctx := setup(t)
	_, refresh := signIn(t, sdk, ctx, "bob@example.com")
	ok, tok, err := sdk.Auth.RefreshSessionWithToken(ctx, refresh)
	if !ok || err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok.Claims["drn"] != "DS" || emu.Requests("/v1/auth/refresh") != 1 {
		t.Fatalf("refresh gave %v", tok.Claims)
	}
	// The same refresh token keeps working, and no new one is returned.
	w := newRecorder()
	if ok, _, err := sdk.Auth.RefreshSessionWithTokenAndWriter(ctx, refresh, w); !ok || err != nil {
		t.Fatalf("second refresh: %v", err)
	}
	for _, ck := range w.Result().Cookies() {
		if ck.Name == descope.RefreshCookieName {
			t.Fatal("refresh without rotation returned a refresh token")
		}
	}
}

func TestRefreshRotation(t *testing.T) {
	_, sdk, ctx := setup(t, descopetest.WithRefreshRotation())
	_, refresh := signIn(t, sdk, ctx, "rot@example.com")
	w := newRecorder()
	if ok, _, err := sdk.Auth.RefreshSessionWithTokenAndWriter(ctx, refresh, w); !ok || err != nil {
		t.Fatalf("refresh: %v", err)
	}
	var next string
	for _, ck := range w.Result().Cookies() {
		if ck.Name == descope.RefreshCookieName {
			next = ck.Value
		}
	}
	if next == "" || next == refresh {
		t.Fatal("rotation did not return a new refresh token")
	}
	after := rotate(t, sdk, ctx, next)
	// The rotated-out token is refused and, as reuse, ends the session.
	wantLoggedOut(t, sdk, ctx, refresh)
	wantLoggedOut(t, sdk, ctx, after)
}

func TestLogoutRevokes(t *testing.T) {
	_, sdk, ctx := setup(t)

	_, r1 := signIn(t, sdk, ctx, "carol@example.com")
	_, r2 := signIn(t, sdk, ctx, "carol@example.com")
	check(t, sdk.Auth.LogoutWithToken(r1, nil))
	wantLoggedOut(t, sdk, ctx, r1)
	if ok, _, err := sdk.Auth.RefreshSessionWithToken(ctx, r2); !ok || err != nil {
		t.Fatalf("other session after logout: %v", err)
	}

	// Logout all revokes every token issued before it, but not later ones.
	_, r3 := signIn(t, sdk, ctx, "carol@example.com")
	check(t, sdk.Auth.LogoutAllWithToken(r3, nil))
	for _, r := range []string{r2, r3} {
		wantLoggedOut(t, sdk, ctx, r)
	}
	_, r4 := signIn(t, sdk, ctx, "carol@example.com")
	if ok, _, err := sdk.Auth.RefreshSessionWithToken(ctx, r4); !ok || err != nil {
		t.Fatalf("session after logout all: %v", err)
	}

	// Deleting the user revokes its tokens.
	check(t, sdk.Management.User().Delete(ctx, "carol@example.com"))
	_, _, err := sdk.Auth.RefreshSessionWithToken(ctx, r4)
	if !descope.IsUnauthorizedError(err) {
		t.Fatalf("refresh of deleted user: %v", err)
	}

	// Management logout revokes too.
	_, r5 := signIn(t, sdk, ctx, "dan@example.com")
	check(t, sdk.Management.User().LogoutUser(ctx, "dan@example.com"))
	wantLoggedOut(t, sdk, ctx, r5)
}

func TestMe(t *testing.T) {
	_, sdk, ctx := setup(t)
	_, refresh := signIn(t, sdk, ctx, "me@example.com")
	me := must[*descope.UserResponse](t)(sdk.Auth.Me(withRefresh(refresh)))
	if !slices.Equal(me.LoginIDs, []string{"me@example.com"}) || me.Status != "enabled" {
		t.Fatalf("me = %+v", me)
	}
	check(t, sdk.Auth.LogoutWithToken(refresh, nil))
	_, err := sdk.Auth.Me(withRefresh(refresh))
	wantCode(t, err, "E064001", http.StatusUnauthorized)
}

func TestSelectTenant(t *testing.T) {
	_, sdk, ctx := setup(t)
	t1 := must[string](t)(sdk.Management.Tenant().Create(ctx, &descope.TenantRequest{Name: "One"}))
	t2 := must[string](t)(sdk.Management.Tenant().Create(ctx, &descope.TenantRequest{Name: "Two"}))
	must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "sel@example.com", &descope.UserRequest{
		Tenants: []*descope.AssociatedTenant{{TenantID: t1, Roles: []string{"admin"}}},
	}))
	_, refresh := signIn(t, sdk, ctx, "sel@example.com")

	info := must[*descope.AuthenticationInfo](t)(sdk.Auth.SelectTenantWithToken(ctx, t1, refresh))
	if info.SessionToken.Claims["dct"] != t1 || !sdk.Auth.ValidateTenantRoles(ctx, info.SessionToken, t1, []string{"admin"}) {
		t.Fatalf("select tenant claims = %v", info.SessionToken.Claims)
	}
	// The refresh token returned keeps the selection on refresh.
	_, tok, err := sdk.Auth.RefreshSessionWithToken(ctx, info.RefreshToken.JWT)
	check(t, err)
	if tok.Claims["dct"] != t1 {
		t.Fatalf("refresh lost dct: %v", tok.Claims)
	}

	_, err = sdk.Auth.SelectTenantWithToken(ctx, t2, refresh)
	wantCode(t, err, "E011003", http.StatusBadRequest)
	_, err = sdk.Auth.SelectTenantWithToken(ctx, "Tnope", refresh)
	wantCode(t, err, "E011003", http.StatusBadRequest)
}

func TestValidateTokens(t *testing.T) {
	emu, sdk, ctx := setup(t)
	tid := must[string](t)(sdk.Management.Tenant().Create(ctx, &descope.TenantRequest{Name: "Acme"}))
	u := must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "val@example.com", &descope.UserRequest{
		Tenants: []*descope.AssociatedTenant{{TenantID: tid}},
	}))
	info := must[*descope.AuthenticationInfo](t)(sdk.Management.JWT().SignIn(ctx, "val@example.com", &descope.MgmLoginOptions{
		CustomClaims: map[string]any{"plan": "pro", "sub": "forged", "cnf": map[string]any{"jkt": "x"}},
	}))
	ok, tok, err := sdk.Auth.ValidateSessionWithToken(ctx, info.SessionToken.JWT)
	if !ok || err != nil {
		t.Fatal(err)
	}
	if tok.ID != u.UserID || tok.ProjectID != emu.ProjectID || tok.Claims["plan"] != "pro" {
		t.Fatalf("token = %+v", tok)
	}
	if _, ok := tok.Claims["cnf"]; ok {
		t.Fatal("custom claims minted a cnf claim")
	}
	if !slices.Equal(tok.GetTenants(), []string{tid}) {
		t.Fatalf("tenants = %v", tok.GetTenants())
	}
	if info.RefreshToken.Expiration <= info.SessionToken.Expiration {
		t.Fatal("refresh token expires before the session token")
	}

	// A forged token signed by the emulator's key validates: the SDK does
	// not check iss or drn.
	forged := must[string](t)(emu.SignToken(map[string]any{"sub": "x", "iss": "Pother", "exp": 4102444800}))
	if ok, tok, err := sdk.Auth.ValidateSessionWithToken(ctx, forged); !ok || err != nil || tok.ProjectID != "Pother" {
		t.Fatalf("forged token: %v %v", ok, err)
	}

	// Another project with its own key signs tokens this client rejects.
	other := descopetest.New(descopetest.WithFreshKey())
	defer other.Close()
	if other.KeyID() == emu.KeyID() {
		t.Fatal("fresh key has the shared key ID")
	}
	otherSDK := other.MustClient(t)
	s, _ := signIn(t, otherSDK, ctx, "x@example.com")
	if ok, _, _ := sdk.Auth.ValidateSessionWithToken(ctx, s); ok {
		t.Fatal("token of another key validated")
	}
}

func TestUpdateJWT(t *testing.T) {
	_, sdk, ctx := setup(t)
	session, _ := signIn(t, sdk, ctx, "upd@example.com")
	jwt := must[string](t)(sdk.Management.JWT().UpdateJWTWithCustomClaims(ctx, session, map[string]any{"color": "blue"}, 0))
	ok, tok, err := sdk.Auth.ValidateSessionWithToken(ctx, jwt)
	if !ok || err != nil || tok.Claims["color"] != "blue" || tok.Claims["drn"] != "DS" {
		t.Fatalf("updated token: %v %v", tok, err)
	}
	_, err = sdk.Management.JWT().UpdateJWTWithCustomClaims(ctx, "not.a.jwt", nil, 0)
	wantCode(t, err, "E011003", http.StatusBadRequest)
}

func TestClaimsRefusesWhatIsNotAJWT(t *testing.T) {
	for _, tok := range []string{"", "a.b", "a.!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte("[1]")) + ".c"} {
		if c, err := descopetest.Claims(tok); err == nil {
			t.Errorf("Claims(%q) = %v, want an error", tok, c)
		}
	}
}
