package anonymous_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// loginIDsTemplate is a JWT template that puts the user's login IDs in the
// claim the middleware reads by default.
var loginIDsTemplate = descopetest.WithJWTTemplate(map[string]string{"loginIds": "user.loginIds"})

// TestLoginIDsFromToken converts a visitor in a project whose JWT template
// carries the user's login IDs: every later request knows them, from a
// cached session, a session verified afresh (another replica), a refreshed
// one, without a management call to load the user.
func TestLoginIDsFromToken(t *testing.T) {
	env := anontest.NewEnv(t, nil, []descopetest.Option{loginIDsTemplate})
	b, first := env.Visitor(t)
	if len(first.LoginIDs) != 1 || !anonymous.IsGeneratedLoginID(first.LoginIDs[0]) {
		t.Fatalf("provisioned with login IDs %v", first.LoginIDs)
	}
	if again := env.Get(t, b, "/"); !slices.Equal(again.LoginIDs, first.LoginIDs) {
		t.Errorf("second visit: login IDs %v, want %v", again.LoginIDs, first.LoginIDs)
	}
	const email = "ada@example.com"
	if me := env.Convert(t, b, email); me.Status != http.StatusOK || !slices.Equal(me.LoginIDs, []string{email}) {
		t.Fatalf("conversion: %+v", me)
	}
	loads := env.Emu.Requests("/v1/mgmt/user/load")
	other := env.Sibling(t)
	for i, srv := range []*anontest.Env{env, env, other} {
		if me := srv.Get(t, b, "/"); me.UserID != first.UserID || me.Anonymous || !slices.Equal(me.LoginIDs, []string{email}) {
			t.Errorf("request %d after the conversion: %+v, want login IDs [%s]", i, me, email)
		}
	}
	env.DropCookie(b, "DS")
	if me := env.Get(t, b, "/"); !me.Refreshed || !slices.Equal(me.LoginIDs, []string{email}) {
		t.Errorf("refreshed after the conversion: %+v", me)
	}
	if n := env.Emu.Requests("/v1/mgmt/user/load") - loads; n != 0 {
		t.Errorf("%d user loads after the conversion, want none", n)
	}
}

// TestLoginIDsClaimOff reads no login IDs from the token when there is no
// such claim (no template) or when WithLoginIDClaims names none, and reads
// them from the claims it names.
func TestLoginIDsClaimOff(t *testing.T) {
	const email = "grace@example.com"
	for _, tc := range []struct {
		name string
		emu  []descopetest.Option
		opts []anonymous.Option
		want []string
	}{
		{"no template", nil, nil, nil},
		{"claims off", []descopetest.Option{loginIDsTemplate}, []anonymous.Option{anonymous.WithLoginIDClaims()}, nil},
		{"email and phone claims", []descopetest.Option{descopetest.WithJWTTemplate(map[string]string{"em": "user.email", "ph": "user.phone"})},
			[]anonymous.Option{anonymous.WithLoginIDClaims("ph", "em")}, []string{email}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := anontest.NewEnv(t, nil, tc.emu, tc.opts...)
			b, _ := env.Visitor(t)
			if me := env.Convert(t, b, email); me.Status != http.StatusOK {
				t.Fatalf("conversion: %+v", me)
			}
			if me := env.Sibling(t, tc.opts...).Get(t, b, "/"); me.Anonymous || !slices.Equal(me.LoginIDs, tc.want) {
				t.Errorf("after the conversion: login IDs %v, want %v", me.LoginIDs, tc.want)
			}
		})
	}
}
