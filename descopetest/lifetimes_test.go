package descopetest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"

	"github.com/descope-contrib/anonymous/descopetest"
)

func TestTenantLifetimes(t *testing.T) {
	emu, sdk, ctx := setup(t, descopetest.WithSecondsUnit(), descopetest.WithSessionTTL(5*time.Minute), descopetest.WithRefreshTTL(time.Hour))
	tenants := sdk.Management.Tenant()
	short := must[string](t)(tenants.Create(ctx, &descope.TenantRequest{Name: "Short"}))
	long := must[string](t)(tenants.Create(ctx, &descope.TenantRequest{Name: "Long"}))
	check(t, tenants.ConfigureSettings(ctx, short, &descope.TenantSettings{
		SessionSettingsEnabled:     true,
		SessionTokenExpiration:     30,
		SessionTokenExpirationUnit: "seconds",
		RefreshTokenExpiration:     2,
		RefreshTokenExpirationUnit: "minutes",
	}))
	check(t, tenants.ConfigureSettings(ctx, long, &descope.TenantSettings{
		SessionSettingsEnabled:     true,
		SessionTokenExpiration:     2,
		SessionTokenExpirationUnit: "hours",
		RefreshTokenExpiration:     1,
		RefreshTokenExpirationUnit: "weeks",
	}))
	settings := must[*descope.TenantSettings](t)(tenants.GetSettings(ctx, short))
	if !settings.SessionSettingsEnabled || settings.SessionTokenExpiration != 30 || settings.SessionTokenExpirationUnit != "seconds" ||
		settings.RefreshTokenExpiration != 2 || settings.RefreshTokenExpirationUnit != "minutes" {
		t.Fatalf("settings = %+v", settings)
	}

	must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "ten@example.com", &descope.UserRequest{
		Tenants: []*descope.AssociatedTenant{{TenantID: short}, {TenantID: long}},
	}))
	info := must[*descope.AuthenticationInfo](t)(sdk.Management.JWT().SignIn(ctx, "ten@example.com", nil))
	if got := lifetime(t, info.SessionToken.JWT); got != 30*time.Second {
		t.Fatalf("session lifetime = %v, want the first tenant's 30s", got)
	}
	if got := lifetime(t, info.RefreshToken.JWT); got != 2*time.Minute {
		t.Fatalf("refresh lifetime = %v, want 2m", got)
	}

	// The selected tenant's lifetimes win.
	sel := must[*descope.AuthenticationInfo](t)(sdk.Auth.SelectTenantWithToken(ctx, long, info.RefreshToken.JWT))
	if got := lifetime(t, sel.SessionToken.JWT); got != 2*time.Hour {
		t.Fatalf("selected tenant session lifetime = %v, want 2h", got)
	}

	// Cookie numbers of a raw sign-in carry the refresh lifetime.
	status, body := rawCall(t, emu, http.MethodPost, "/v1/mgmt/auth/signin", mgmtAuth(emu), `{"loginId":"ten@example.com"}`)
	if status != http.StatusOK || body["cookieMaxAge"] != float64(120) || body["cookiePath"] != "/" {
		t.Fatalf("sign-in body: %d %v", status, body)
	}
	rc := claimsOf(t, body["refreshJwt"].(string))
	if body["cookieExpiration"] != rc["exp"] {
		t.Fatalf("cookieExpiration %v != refresh exp %v", body["cookieExpiration"], rc["exp"])
	}

	// Refresh re-reads the user: out of both tenants, the project lifetimes
	// apply and the tenants claim disappears.
	must[*descope.UserResponse](t)(sdk.Management.User().RemoveTenant(ctx, "ten@example.com", short))
	_, tok, err := sdk.Auth.RefreshSessionWithToken(ctx, info.RefreshToken.JWT)
	check(t, err)
	if got := lifetime(t, tok.JWT); got != 2*time.Hour {
		t.Fatalf("after leaving Short: session lifetime = %v, want Long's 2h", got)
	}
	must[*descope.UserResponse](t)(sdk.Management.User().RemoveTenant(ctx, "ten@example.com", long))
	_, tok, err = sdk.Auth.RefreshSessionWithToken(ctx, info.RefreshToken.JWT)
	check(t, err)
	if got := lifetime(t, tok.JWT); got != 5*time.Minute {
		t.Fatalf("after leaving all tenants: session lifetime = %v, want 5m", got)
	}
	if _, ok := tok.Claims["tenants"]; ok {
		t.Fatalf("tenants claim after leaving all tenants: %v", tok.Claims)
	}
	fresh := must[*descope.AuthenticationInfo](t)(sdk.Management.JWT().SignIn(ctx, "ten@example.com", nil))
	if got := lifetime(t, fresh.RefreshToken.JWT); got != time.Hour {
		t.Fatalf("project refresh lifetime = %v, want 1h", got)
	}

	// Disabled session settings fall back to the project.
	check(t, tenants.ConfigureSettings(ctx, short, &descope.TenantSettings{SessionTokenExpiration: 30, SessionTokenExpirationUnit: "seconds"}))
	must[*descope.UserResponse](t)(sdk.Management.User().AddTenant(ctx, "ten@example.com", short))
	fresh = must[*descope.AuthenticationInfo](t)(sdk.Management.JWT().SignIn(ctx, "ten@example.com", nil))
	if got := lifetime(t, fresh.SessionToken.JWT); got != 5*time.Minute {
		t.Fatalf("disabled settings: session lifetime = %v, want 5m", got)
	}
}

func TestTenantSettingsUnits(t *testing.T) {
	_, sdk, ctx := setup(t)
	tid := must[string](t)(sdk.Management.Tenant().Create(ctx, &descope.TenantRequest{Name: "Units"}))
	for _, unit := range []string{"seconds", "fortnights"} {
		err := sdk.Management.Tenant().ConfigureSettings(ctx, tid, &descope.TenantSettings{
			SessionSettingsEnabled: true, SessionTokenExpiration: 5, SessionTokenExpirationUnit: unit,
		})
		wantCode(t, err, "E011003", http.StatusBadRequest)
	}
	err := sdk.Management.Tenant().ConfigureSettings(ctx, "Tmissing", &descope.TenantSettings{})
	wantCode(t, err, "E011003", http.StatusBadRequest)
	_, err = sdk.Management.Tenant().GetSettings(ctx, "Tmissing")
	wantCode(t, err, "E011003", http.StatusBadRequest)
	// Settings never configured still come back with every field.
	s := must[*descope.TenantSettings](t)(sdk.Management.Tenant().GetSettings(ctx, tid))
	if s.SessionSettingsEnabled {
		t.Fatalf("default settings = %+v", s)
	}
}

func TestRefreshDurationOverride(t *testing.T) {
	_, sdk, ctx := setup(t, descopetest.WithRefreshRotation())
	must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "dur@example.com", nil))
	info := must[*descope.AuthenticationInfo](t)(sdk.Management.JWT().SignIn(ctx, "dur@example.com", &descope.MgmLoginOptions{RefreshDuration: 90}))
	if got := lifetime(t, info.RefreshToken.JWT); got != 90*time.Second {
		t.Fatalf("refresh lifetime = %v, want 90s", got)
	}
	up := must[*descope.AuthenticationInfo](t)(sdk.Management.JWT().SignUp(ctx, "dur2@example.com", &descope.MgmtUserRequest{
		User: descope.User{Email: "dur2@example.com"}, EmailVerified: true,
	}, &descope.MgmSignUpOptions{RefreshDuration: 45}))
	if got := lifetime(t, up.RefreshToken.JWT); got != 45*time.Second || !up.User.VerifiedEmail {
		t.Fatalf("sign-up refresh lifetime = %v, user %+v", got, up.User)
	}
	// With rotation, the override sticks to the session.
	w := newRecorder()
	_, _, err := sdk.Auth.RefreshSessionWithTokenAndWriter(ctx, info.RefreshToken.JWT, w)
	check(t, err)
	rotated := ""
	for _, ck := range w.Result().Cookies() {
		if ck.Name == descope.RefreshCookieName {
			rotated = ck.Value
		}
	}
	if rotated == "" {
		t.Fatal("no rotated refresh token")
	}
	if got := lifetime(t, rotated); got != 90*time.Second {
		t.Fatalf("rotated refresh lifetime = %v, want 90s", got)
	}
}

func TestAnonymous(t *testing.T) {
	emu, sdk, ctx := setup(t, descopetest.WithSecondsUnit())
	anon := must[*descope.AnonymousAuthenticationInfo](t)(sdk.Management.JWT().Anonymous(ctx, map[string]any{"visitor": "v1"}, "", 0))
	if anon.SessionToken.Claims["danu"] != true || anon.SessionToken.Claims["visitor"] != "v1" || anon.SessionToken.ID == "" {
		t.Fatalf("anonymous claims = %v", anon.SessionToken.Claims)
	}
	if emu.UserCount() != 0 {
		t.Fatal("anonymous sign-in created a user")
	}
	if _, ok := emu.User(anon.SessionToken.ID); ok {
		t.Fatal("anonymous subject has a user record")
	}
	_, tok, err := sdk.Auth.RefreshSessionWithToken(ctx, anon.RefreshToken.JWT)
	check(t, err)
	if tok.Claims["danu"] != true || tok.ID != anon.SessionToken.ID || tok.Claims["visitor"] != "v1" {
		t.Fatalf("refreshed anonymous claims = %v", tok.Claims)
	}
	_, err = sdk.Auth.Me(withRefresh(anon.RefreshToken.JWT))
	wantCode(t, err, "E062108", http.StatusBadRequest)

	// In a tenant, with its lifetimes.
	tid := must[string](t)(sdk.Management.Tenant().Create(ctx, &descope.TenantRequest{Name: "Shop"}))
	check(t, sdk.Management.Tenant().ConfigureSettings(ctx, tid, &descope.TenantSettings{
		SessionSettingsEnabled: true, SessionTokenExpiration: 20, SessionTokenExpirationUnit: "seconds",
		RefreshTokenExpiration: 3, RefreshTokenExpirationUnit: "days",
	}))
	anon = must[*descope.AnonymousAuthenticationInfo](t)(sdk.Management.JWT().Anonymous(ctx, nil, tid, 0))
	if anon.SessionToken.Claims["dct"] != tid || lifetime(t, anon.SessionToken.JWT) != 20*time.Second ||
		lifetime(t, anon.RefreshToken.JWT) != 72*time.Hour {
		t.Fatalf("anonymous tenant token = %v", anon.SessionToken.Claims)
	}
	_, tok, err = sdk.Auth.RefreshSessionWithToken(ctx, anon.RefreshToken.JWT)
	check(t, err)
	if tok.Claims["dct"] != tid || tok.Claims["danu"] != true {
		t.Fatalf("refreshed anonymous tenant claims = %v", tok.Claims)
	}
	check(t, sdk.Auth.LogoutWithToken(anon.RefreshToken.JWT, nil))
	_, _, err = sdk.Auth.RefreshSessionWithToken(ctx, anon.RefreshToken.JWT)
	wantCode(t, err, "E064001", http.StatusUnauthorized)

	_, err = sdk.Management.JWT().Anonymous(ctx, nil, "Tmissing", 0)
	wantCode(t, err, "E011003", http.StatusBadRequest)
}
