package descopetest_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/client"

	"github.com/descope-contrib/anonymous/descopetest"
)

// mergeWorld is two tenants, an existing user who owns an address and an
// updating user, both signed in.
type mergeWorld struct {
	emu                      *descopetest.Emulator
	sdk                      *client.DescopeClient
	ctx                      context.Context
	t1, t2                   string
	existing, updating       *descope.UserResponse
	existingDSR, updatingDSR string
}

func newMergeWorld(t *testing.T) *mergeWorld {
	t.Helper()
	emu, sdk, ctx := setup(t)
	w := &mergeWorld{emu: emu, sdk: sdk, ctx: ctx}
	w.t1 = must[string](t)(sdk.Management.Tenant().Create(ctx, &descope.TenantRequest{Name: "One"}))
	w.t2 = must[string](t)(sdk.Management.Tenant().Create(ctx, &descope.TenantRequest{Name: "Two"}))
	w.existing = must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "taken@example.com", &descope.UserRequest{
		User:               descope.User{Name: "Owner", Email: "taken@example.com"},
		AdditionalLoginIDs: []string{"taken-alias"},
		Tenants:            []*descope.AssociatedTenant{{TenantID: w.t2, Roles: []string{"admin"}}},
	}))
	w.updating = must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "anon-1", &descope.UserRequest{
		User:          descope.User{Phone: "+15550001234"},
		VerifiedPhone: ptr(true),
		Tenants:       []*descope.AssociatedTenant{{TenantID: w.t1, Roles: []string{"guest"}}},
	}))
	_, w.existingDSR = signIn(t, sdk, ctx, "taken@example.com")
	_, w.updatingDSR = signIn(t, sdk, ctx, "anon-1")
	return w
}

// startUpdate sends a code for an email update of the updating user onto
// the existing user's address (in another case), and checks that nothing
// changed yet.
func (w *mergeWorld) startUpdate(t *testing.T, useExisting bool) string {
	t.Helper()
	opts := &descope.UpdateOptions{AddToLoginIDs: true, OnMergeUseExisting: useExisting}
	must[string](t)(w.sdk.Auth.OTP().UpdateUserEmail(w.ctx, "anon-1", "Taken@Example.com", opts, withRefresh(w.updatingDSR)))
	if u, ok := w.emu.User("taken@example.com"); !ok || u.UserID != w.existing.UserID {
		t.Fatalf("before verify, the address belongs to %+v", u)
	}
	if u, _ := w.emu.User("anon-1"); u.Email != "" || len(u.LoginIDs) != 1 {
		t.Fatalf("before verify, the updating user changed: %+v", u)
	}
	return outbox(t, w.emu, "taken@example.com")
}

// verifyMerge verifies the update's code under the updating user's login
// ID and returns what verify answered, failing unless it signed in want
// (called who in the failure).
func (w *mergeWorld) verifyMerge(t *testing.T, code string, want *descope.UserResponse, who string) *descope.AuthenticationInfo {
	t.Helper()
	info := must[*descope.AuthenticationInfo](t)(w.sdk.Auth.OTP().VerifyCode(w.ctx, descope.MethodEmail, "anon-1", code, nil))
	if info.User.UserID != want.UserID || info.SessionToken.ID != want.UserID {
		t.Fatalf("verify returned user %s, want %s %s", info.User.UserID, who, want.UserID)
	}
	return info
}

func tenantRoles(u *descope.UserResponse) map[string][]string {
	out := map[string][]string{}
	for _, t := range u.UserTenants {
		out[t.TenantID] = t.Roles
	}
	return out
}

func TestOTPUpdateMergeKeepsUpdatingUser(t *testing.T) {
	w := newMergeWorld(t)
	code := w.startUpdate(t, false)

	kept := w.verifyMerge(t, code, w.updating, "the updating user").User
	if !slices.Equal(kept.LoginIDs, []string{"anon-1", "taken@example.com", "taken-alias"}) {
		t.Fatalf("kept login IDs = %v", kept.LoginIDs)
	}
	if kept.Email != "Taken@Example.com" || !kept.VerifiedEmail || kept.Phone != "+15550001234" || !kept.VerifiedPhone {
		t.Fatalf("kept addresses = %+v", kept)
	}
	roles := tenantRoles(kept)
	if len(roles) != 2 || !slices.Equal(roles[w.t1], []string{"guest"}) || !slices.Equal(roles[w.t2], []string{"admin"}) {
		t.Fatalf("kept tenants = %v", roles)
	}
	if kept.Status != "enabled" {
		t.Fatalf("kept status = %s", kept.Status)
	}

	// The other user is deleted: gone from load, its login IDs now lead to
	// the kept user, its refresh token is revoked.
	_, err := w.sdk.Management.User().Load(w.ctx, w.existing.UserID)
	wantCode(t, err, "E112102", http.StatusBadRequest)
	for _, id := range []string{"taken@example.com", "taken-alias"} {
		if got := must[*descope.UserResponse](t)(w.sdk.Management.User().Load(w.ctx, id)); got.UserID != w.updating.UserID {
			t.Fatalf("load %s = %s", id, got.UserID)
		}
	}
	wantLoggedOut(t, w.sdk, w.ctx, w.existingDSR)
	if n := w.emu.UserCount(); n != 1 {
		t.Fatalf("user count = %d, want 1", n)
	}
	// The updating user's own session lives on, with the merged tenants.
	_, tok, err := w.sdk.Auth.RefreshSessionWithToken(w.ctx, w.updatingDSR)
	check(t, err)
	if tok.ID != w.updating.UserID || len(tok.GetTenants()) != 2 {
		t.Fatalf("refreshed session = %s %v", tok.ID, tok.GetTenants())
	}
}

func TestOTPUpdateMergeUseExisting(t *testing.T) {
	w := newMergeWorld(t)
	code := w.startUpdate(t, true)

	info := w.verifyMerge(t, code, w.existing, "the existing user")
	kept := info.User
	if !slices.Equal(kept.LoginIDs, []string{"taken@example.com", "taken-alias", "anon-1"}) {
		t.Fatalf("kept login IDs = %v", kept.LoginIDs)
	}
	if !kept.VerifiedEmail || kept.Phone != "+15550001234" || !kept.VerifiedPhone || kept.Name != "Owner" {
		t.Fatalf("kept user = %+v", kept)
	}
	if roles := tenantRoles(kept); len(roles) != 2 || !slices.Equal(roles[w.t1], []string{"guest"}) {
		t.Fatalf("kept tenants = %v", roles)
	}

	// The updating user is deleted and its refresh token stops working; the
	// tokens returned and the existing user's own session work.
	if _, ok := w.emu.User(w.updating.UserID); ok {
		t.Fatal("updating user still exists")
	}
	wantLoggedOut(t, w.sdk, w.ctx, w.updatingDSR)
	for _, dsr := range []string{info.RefreshToken.JWT, w.existingDSR} {
		_, tok, err := w.sdk.Auth.RefreshSessionWithToken(w.ctx, dsr)
		check(t, err)
		if tok.ID != w.existing.UserID {
			t.Fatalf("refreshed session of %s", tok.ID)
		}
	}
	if got := must[*descope.UserResponse](t)(w.sdk.Management.User().Load(w.ctx, "anon-1")); got.UserID != w.existing.UserID {
		t.Fatalf("anon-1 now leads to %s", got.UserID)
	}
}

func TestOTPUpdateVerifyUnderExistingLoginID(t *testing.T) {
	w := newMergeWorld(t)
	code := w.startUpdate(t, false)
	// Neither the new address nor another login ID of a user verifies it.
	for _, id := range []string{"taken@example.com", "taken-alias", w.updating.UserID} {
		_, err := w.sdk.Auth.OTP().VerifyCode(w.ctx, descope.MethodEmail, id, code, nil)
		wantCode(t, err, "E061102", http.StatusBadRequest)
	}
	if n := w.emu.UserCount(); n != 2 {
		t.Fatalf("a refused verify merged users: %d left", n)
	}
	// Nor does another delivery class.
	_, err := w.sdk.Auth.OTP().VerifyCode(w.ctx, descope.MethodSMS, "anon-1", code, nil)
	wantCode(t, err, "E061102", http.StatusBadRequest)
	must[*descope.AuthenticationInfo](t)(w.sdk.Auth.OTP().VerifyCode(w.ctx, descope.MethodEmail, "anon-1", code, nil))
}

func TestOTPUpdateWithoutAddToLoginIDsDoesNotMerge(t *testing.T) {
	w := newMergeWorld(t)
	must[string](t)(w.sdk.Auth.OTP().UpdateUserEmail(w.ctx, "anon-1", "taken@example.com", nil, withRefresh(w.updatingDSR)))
	info := must[*descope.AuthenticationInfo](t)(w.sdk.Auth.OTP().VerifyCode(w.ctx, descope.MethodEmail, "anon-1", outbox(t, w.emu, "taken@example.com"), nil))
	if info.User.UserID != w.updating.UserID || !slices.Equal(info.User.LoginIDs, []string{"anon-1"}) || info.User.Email != "taken@example.com" {
		t.Fatalf("updated user = %+v", info.User)
	}
	if u, ok := w.emu.User("taken@example.com"); !ok || u.UserID != w.existing.UserID || w.emu.UserCount() != 2 {
		t.Fatalf("existing user after plain update = %+v, %v", u, ok)
	}
}
