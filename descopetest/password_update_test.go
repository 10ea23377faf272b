package descopetest_test

import (
	"net/http"
	"testing"

	"github.com/descope/go-sdk/descope"
)

func TestPasswordUpdate(t *testing.T) {
	_, sdk, ctx := setup(t)
	pw := sdk.Auth.Password()
	ada := must[*descope.AuthenticationInfo](t)(pw.SignUp(ctx, "ada", nil, "s3cret!", nil))
	must[*descope.AuthenticationInfo](t)(pw.SignUp(ctx, "bob", nil, "b0b!", nil))

	check(t, pw.UpdateUserPassword(ctx, "ada", "n3w!", withRefresh(ada.RefreshToken.JWT)))
	_, err := pw.SignIn(ctx, "ada", "s3cret!", nil)
	wantCode(t, err, "E062801", http.StatusUnauthorized)
	must[*descope.AuthenticationInfo](t)(pw.SignIn(ctx, "ada", "n3w!", nil))

	// Another user's login ID, or no session, changes nothing.
	err = pw.UpdateUserPassword(ctx, "bob", "hijack", withRefresh(ada.RefreshToken.JWT))
	wantCode(t, err, "E011003", http.StatusUnauthorized)
	must[*descope.AuthenticationInfo](t)(pw.SignIn(ctx, "bob", "b0b!", nil))
	check(t, sdk.Auth.LogoutWithToken(ada.RefreshToken.JWT, nil))
	err = pw.UpdateUserPassword(ctx, "ada", "after-logout", withRefresh(ada.RefreshToken.JWT))
	if err == nil {
		t.Fatal("password update after logout succeeded")
	}
	must[*descope.AuthenticationInfo](t)(pw.SignIn(ctx, "ada", "n3w!", nil))
}
