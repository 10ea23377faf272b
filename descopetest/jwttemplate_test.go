package descopetest_test

import (
	"reflect"
	"testing"

	"github.com/descope/go-sdk/descope"

	"github.com/descope-contrib/anonymous/descopetest"
)

// A JWT template's dynamic claims carry the user's values at issue time in
// the session and the refresh token, follow a change of the user on the
// next refresh, are empty for an anonymous subject, and yield to a custom
// claim of the same key given at sign-in. Without the option no such claim
// appears.
func TestJWTTemplateClaims(t *testing.T) {
	_, sdk, ctx := setup(t, descopetest.WithJWTTemplate(map[string]string{
		"loginIds": "user.loginIds", "email": "user.email", "phone": "user.phone",
		"sub": "user.email", "odd": "user.nothing", // reserved, unknown: ignored
	}))
	users := sdk.Management.User()
	must[*descope.UserResponse](t)(users.Create(ctx, "ada@example.com", &descope.UserRequest{User: descope.User{Email: "ada@example.com"}}))
	info := must[*descope.AuthenticationInfo](t)(sdk.Management.JWT().SignIn(ctx, "ada@example.com", nil))
	for _, tok := range []string{info.SessionToken.JWT, info.RefreshToken.JWT} {
		c := claimsOf(t, tok)
		if !reflect.DeepEqual(c["loginIds"], []any{"ada@example.com"}) || c["email"] != "ada@example.com" || c["phone"] != "" {
			t.Errorf("template claims %v %v %q", c["loginIds"], c["email"], c["phone"])
		}
		if c["sub"] != info.SessionToken.ID || c["odd"] != nil {
			t.Errorf("sub %v, odd %v", c["sub"], c["odd"])
		}
	}

	// A new login ID shows in the next session token.
	must[*descope.UserResponse](t)(users.UpdateLoginID(ctx, "ada@example.com", "ada@example.org"))
	_, refreshed, err := sdk.Auth.RefreshSessionWithToken(ctx, info.RefreshToken.JWT)
	check(t, err)
	if c := claimsOf(t, refreshed.JWT); !reflect.DeepEqual(c["loginIds"], []any{"ada@example.org"}) {
		t.Errorf("after the login ID changed: loginIds %v", c["loginIds"])
	}

	anon := must[*descope.AnonymousAuthenticationInfo](t)(sdk.Management.JWT().Anonymous(ctx, nil, "", 0))
	if c := claimsOf(t, anon.SessionToken.JWT); !reflect.DeepEqual(c["loginIds"], []any{}) || c["email"] != "" {
		t.Errorf("anonymous subject: loginIds %v, email %v", c["loginIds"], c["email"])
	}

	over := must[*descope.AuthenticationInfo](t)(sdk.Management.JWT().SignIn(ctx, "ada@example.org", &descope.MgmLoginOptions{
		CustomClaims: map[string]any{"email": "custom"},
	}))
	if c := claimsOf(t, over.SessionToken.JWT); c["email"] != "custom" {
		t.Errorf("custom claim beside the template: email %v", c["email"])
	}

	_, plain, ctx2 := setup(t)
	must[*descope.UserResponse](t)(plain.Management.User().Create(ctx2, "bob@example.com", &descope.UserRequest{User: descope.User{Email: "bob@example.com"}}))
	if c := claimsOf(t, must[*descope.AuthenticationInfo](t)(plain.Management.JWT().SignIn(ctx2, "bob@example.com", nil)).SessionToken.JWT); c["loginIds"] != nil || c["email"] != nil {
		t.Errorf("without a template: %v", c)
	}
}
