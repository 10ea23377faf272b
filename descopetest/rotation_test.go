package descopetest_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/client"

	"github.com/descope-contrib/anonymous/descopetest"
)

// rotate refreshes with dsr through the SDK and returns the new refresh
// token, which the SDK writes as a cookie.
func rotate(t *testing.T, sdk *client.DescopeClient, ctx context.Context, dsr string) string {
	t.Helper()
	w := newRecorder()
	_, _, err := sdk.Auth.RefreshSessionWithTokenAndWriter(ctx, dsr, w)
	check(t, err)
	for _, ck := range w.Result().Cookies() {
		if ck.Name == descope.RefreshCookieName && ck.Value != dsr {
			return ck.Value
		}
	}
	t.Fatal("refresh did not rotate the refresh token")
	return ""
}

func refreshErr(sdk *client.DescopeClient, ctx context.Context, dsr string) error {
	_, _, err := sdk.Auth.RefreshSessionWithToken(ctx, dsr)
	return err
}

func TestRefreshReuseRevokesTheChain(t *testing.T) {
	_, sdk, ctx := setup(t, descopetest.WithRefreshRotation()) // detection is on by default
	tid := must[string](t)(sdk.Management.Tenant().Create(ctx, &descope.TenantRequest{Name: "Chain"}))
	must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "chain@example.com", &descope.UserRequest{
		Tenants: []*descope.AssociatedTenant{{TenantID: tid}},
	}))
	_, r0 := signIn(t, sdk, ctx, "chain@example.com")
	_, other := signIn(t, sdk, ctx, "chain@example.com") // another sign-in, another chain

	r1 := rotate(t, sdk, ctx, r0)
	r2 := must[*descope.AuthenticationInfo](t)(sdk.Auth.SelectTenantWithToken(ctx, tid, r1)).RefreshToken.JWT
	r3 := rotate(t, sdk, ctx, r2)

	// Presenting r1 again (rotated out by tenant select) is reuse: the
	// whole chain is revoked, the newest token too.
	wantCode(t, refreshErr(sdk, ctx, r1), "E064001", http.StatusUnauthorized)
	for _, dsr := range []string{r3, r0, r2} {
		wantCode(t, refreshErr(sdk, ctx, dsr), "E064001", http.StatusUnauthorized)
	}
	_, err := sdk.Auth.Me(withRefresh(r3))
	wantCode(t, err, "E064001", http.StatusUnauthorized)
	// The user's other session is untouched.
	rotate(t, sdk, ctx, other)

	// Reuse is detected on any call that presents the token, not only
	// refresh, and a fresh sign-in starts a new chain.
	_, s0 := signIn(t, sdk, ctx, "chain@example.com")
	s1 := rotate(t, sdk, ctx, s0)
	_, err = sdk.Auth.Me(withRefresh(s0))
	wantCode(t, err, "E064001", http.StatusUnauthorized)
	wantCode(t, refreshErr(sdk, ctx, s1), "E064001", http.StatusUnauthorized)
}

func TestRefreshRotationWithoutReuseDetection(t *testing.T) {
	_, sdk, ctx := setup(t, descopetest.WithRefreshRotation(), descopetest.WithRefreshReuseDetection(false))
	_, r0 := signIn(t, sdk, ctx, "lenient@example.com")
	r1 := rotate(t, sdk, ctx, r0)
	// The rotated-out token is refused, but its successor lives on.
	wantCode(t, refreshErr(sdk, ctx, r0), "E064001", http.StatusUnauthorized)
	r2 := rotate(t, sdk, ctx, r1)
	wantCode(t, refreshErr(sdk, ctx, r1), "E064001", http.StatusUnauthorized)
	rotate(t, sdk, ctx, r2)
}

func TestReuseDetectionNeedsRotation(t *testing.T) {
	_, sdk, ctx := setup(t, descopetest.WithRefreshReuseDetection(true))
	_, r0 := signIn(t, sdk, ctx, "plain@example.com")
	for range 3 {
		check(t, refreshErr(sdk, ctx, r0))
	}
}

func TestLiveRefreshTokens(t *testing.T) {
	emu, sdk, ctx := setup(t, descopetest.WithRefreshRotation(), descopetest.WithRefreshReuseDetection(false))
	u := must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "live@example.com", &descope.UserRequest{}))
	if n := emu.LiveRefreshTokens(u.UserID); n != 0 {
		t.Fatalf("%d live tokens before any sign-in", n)
	}
	_, r0 := signIn(t, sdk, ctx, "live@example.com")
	_, other := signIn(t, sdk, ctx, "live@example.com")
	r1 := rotate(t, sdk, ctx, r0)
	if n := emu.LiveRefreshTokens(u.UserID); n != 2 {
		t.Fatalf("%d live tokens after two sign-ins and a rotation, want 2", n)
	}
	check(t, sdk.Auth.Logout(withRefresh(r1), nil))
	if n := emu.LiveRefreshTokens(u.UserID); n != 1 {
		t.Fatalf("%d live tokens after a logout, want 1", n)
	}
	check(t, sdk.Auth.Logout(withRefresh(other), nil))
	if n := emu.LiveRefreshTokens(u.UserID); n != 0 {
		t.Fatalf("%d live tokens after both logouts, want 0", n)
	}
}
