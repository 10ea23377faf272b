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
		t.Fatalf("session lifetime = %v, want the stricter tenant's 30s", got)
	}
	if got := lifetime(t, info.RefreshToken.JWT); got != 2*time.Minute {
		t.Fatalf("refresh lifetime = %v, want 2m", got)
	}

	// Selecting the laxer tenant does not lift the stricter policy.
	sel := must[*descope.AuthenticationInfo](t)(sdk.Auth.SelectTenantWithToken(ctx, long, info.RefreshToken.JWT))
	if got := lifetime(t, sel.SessionToken.JWT); got != 30*time.Second {
		t.Fatalf("selected tenant session lifetime = %v, want the stricter 30s", got)
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
	wantLoggedOut(t, sdk, ctx, anon.RefreshToken.JWT)

	_, err = sdk.Management.JWT().Anonymous(ctx, nil, "Tmissing", 0)
	wantCode(t, err, "E011003", http.StatusBadRequest)
}

func TestTenantSessionLifetimeLimits(t *testing.T) {
	for _, seconds := range []bool{false, true} {
		opts := []descopetest.Option{descopetest.WithRefreshTTL(time.Hour)}
		if seconds {
			opts = append(opts, descopetest.WithSecondsUnit())
		}
		_, sdk, ctx := setup(t, opts...)
		tenants := sdk.Management.Tenant()
		tid := must[string](t)(tenants.Create(ctx, &descope.TenantRequest{Name: "Limits"}))
		good := &descope.TenantSettings{
			SessionSettingsEnabled: true, SessionTokenExpiration: 3, SessionTokenExpirationUnit: "minutes",
			RefreshTokenExpiration: 1, RefreshTokenExpirationUnit: "days",
		}
		check(t, tenants.ConfigureSettings(ctx, tid, good))

		type limit struct {
			session, refresh int32
			sUnit, rUnit     string
		}
		refused := []limit{
			{5, 1, "hours", "hours"},       // longer than the tenant's refresh lifetime
			{2, 0, "hours", ""},            // longer than the project's (1h)
			{2, 1, "days", "days"},         // same, in days
			{1, 1, "weeks", "days"},        // same, across units
			{61, 60, "minutes", "minutes"}, // one minute over
		}
		if !seconds {
			refused = append(refused,
				limit{2, 1, "minutes", "days"}, // under 3 minutes
				limit{1, 1, "minutes", "days"},
			)
		}
		for _, l := range refused {
			err := tenants.ConfigureSettings(ctx, tid, &descope.TenantSettings{
				SessionSettingsEnabled: true, SessionTokenExpiration: l.session, SessionTokenExpirationUnit: l.sUnit,
				RefreshTokenExpiration: l.refresh, RefreshTokenExpirationUnit: l.rUnit,
			})
			wantCode(t, err, "E011003", http.StatusBadRequest)
		}
		// Nothing changed.
		s := must[*descope.TenantSettings](t)(tenants.GetSettings(ctx, tid))
		if s.SessionTokenExpiration != 3 || s.SessionTokenExpirationUnit != "minutes" || s.RefreshTokenExpirationUnit != "days" {
			t.Fatalf("seconds=%v: settings after refusals = %+v", seconds, s)
		}
		// Exactly the refresh lifetime is allowed.
		check(t, tenants.ConfigureSettings(ctx, tid, &descope.TenantSettings{
			SessionSettingsEnabled: true, SessionTokenExpiration: 60, SessionTokenExpirationUnit: "minutes",
		}))
		// Short lifetimes only in seconds-unit mode.
		err := tenants.ConfigureSettings(ctx, tid, &descope.TenantSettings{
			SessionSettingsEnabled: true, SessionTokenExpiration: 2, SessionTokenExpirationUnit: "minutes",
		})
		if seconds {
			check(t, err)
		} else {
			wantCode(t, err, "E011003", http.StatusBadRequest)
		}
	}
}

func TestStricterTenantLifetimesWin(t *testing.T) {
	_, sdk, ctx := setup(t, descopetest.WithSessionTTL(15*time.Minute), descopetest.WithRefreshTTL(30*24*time.Hour))
	tenants := sdk.Management.Tenant()
	configure := func(name string, s *descope.TenantSettings) string {
		t.Helper()
		id := must[string](t)(tenants.Create(ctx, &descope.TenantRequest{Name: name}))
		check(t, tenants.ConfigureSettings(ctx, id, s))
		return id
	}
	// A: short session, long refresh. B: long session, short refresh.
	// C: the shortest of all, but its settings are off. D: refresh only.
	a := configure("A", &descope.TenantSettings{SessionSettingsEnabled: true,
		SessionTokenExpiration: 5, SessionTokenExpirationUnit: "minutes", RefreshTokenExpiration: 2, RefreshTokenExpirationUnit: "weeks"})
	b := configure("B", &descope.TenantSettings{SessionSettingsEnabled: true,
		SessionTokenExpiration: 1, SessionTokenExpirationUnit: "hours", RefreshTokenExpiration: 2, RefreshTokenExpirationUnit: "days"})
	c := configure("C", &descope.TenantSettings{
		SessionTokenExpiration: 3, SessionTokenExpirationUnit: "minutes", RefreshTokenExpiration: 1, RefreshTokenExpirationUnit: "hours"})
	d := configure("D", &descope.TenantSettings{SessionSettingsEnabled: true, RefreshTokenExpiration: 40, RefreshTokenExpirationUnit: "days"})

	lifetimes := func(loginID string, tenantIDs ...string) (time.Duration, time.Duration, string) {
		t.Helper()
		req := &descope.UserRequest{}
		for _, id := range tenantIDs {
			req.Tenants = append(req.Tenants, &descope.AssociatedTenant{TenantID: id})
		}
		must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, loginID, req))
		info := must[*descope.AuthenticationInfo](t)(sdk.Management.JWT().SignIn(ctx, loginID, nil))
		return lifetime(t, info.SessionToken.JWT), lifetime(t, info.RefreshToken.JWT), info.RefreshToken.JWT
	}
	for _, tc := range []struct {
		name             string
		tenants          []string
		session, refresh time.Duration
	}{
		{"A and B", []string{a, b}, 5 * time.Minute, 48 * time.Hour},
		{"B and A", []string{b, a}, 5 * time.Minute, 48 * time.Hour},
		{"B and C", []string{b, c}, time.Hour, 48 * time.Hour},
		{"A and D", []string{a, d}, 5 * time.Minute, 2 * 7 * 24 * time.Hour},
		{"D alone", []string{d}, 15 * time.Minute, 40 * 24 * time.Hour}, // a tenant's refresh beats the project's
		{"none", nil, 15 * time.Minute, 30 * 24 * time.Hour},
	} {
		session, refresh, _ := lifetimes("user-"+tc.name, tc.tenants...)
		if session != tc.session || refresh != tc.refresh {
			t.Errorf("%s: lifetimes %v/%v, want %v/%v", tc.name, session, refresh, tc.session, tc.refresh)
		}
	}

	// Selecting the laxer tenant keeps the stricter policy.
	_, _, dsr := lifetimes("selector", a, b)
	sel := must[*descope.AuthenticationInfo](t)(sdk.Auth.SelectTenantWithToken(ctx, b, dsr))
	if got := lifetime(t, sel.SessionToken.JWT); got != 5*time.Minute {
		t.Fatalf("session after selecting B = %v, want 5m", got)
	}
	if got := lifetime(t, sel.RefreshToken.JWT); got != 48*time.Hour {
		t.Fatalf("refresh after selecting B = %v, want 48h", got)
	}
}
