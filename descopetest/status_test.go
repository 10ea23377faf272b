package descopetest_test

import (
	"testing"
	"time"

	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/testclock"
	"github.com/descope/go-sdk/descope"
)

func TestCreatedUsersAreInvitedUntilSignIn(t *testing.T) {
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	emu, sdk, ctx := setup(t, descopetest.WithClock(clk.Now))
	users := sdk.Management.User()
	status := func(id string) string {
		t.Helper()
		return must[*descope.UserResponse](t)(users.Load(ctx, id)).Status
	}

	created := must[*descope.UserResponse](t)(users.Create(ctx, "new@example.com", &descope.UserRequest{
		User: descope.User{Email: "new@example.com"}, VerifiedEmail: ptr(true),
	}))
	must[*descope.UserResponse](t)(users.CreateTestUser(ctx, "test-user", nil))
	batch := must[*descope.UsersBatchResponse](t)(users.CreateBatch(ctx, []*descope.BatchUser{{LoginID: "b1"}, {LoginID: "b2"}}))
	if created.Status != "invited" || status("test-user") != "invited" || len(batch.CreatedUsers) != 2 {
		t.Fatalf("after create: %s, %s, %d", created.Status, status("test-user"), len(batch.CreatedUsers))
	}
	for _, u := range batch.CreatedUsers {
		if u.Status != "invited" {
			t.Fatalf("batch user %s is %s", u.LoginIDs, u.Status)
		}
	}
	// Loading, updating and refreshing nothing leaves it invited; search
	// finds it by status.
	must[*descope.UserResponse](t)(users.Patch(ctx, "new@example.com", &descope.PatchUserRequest{GivenName: ptr("New")}))
	if s := status("new@example.com"); s != "invited" {
		t.Fatalf("after patch: %s", s)
	}
	found, _, err := users.SearchAll(ctx, &descope.UserSearchOptions{Statuses: []descope.UserStatus{descope.UserStatusInvited}})
	check(t, err)
	if len(found) != 3 {
		t.Fatalf("invited users found = %d, want 3", len(found))
	}

	// Management sign-in enables it and updates its modified time.
	clk.Add(time.Hour)
	must[*descope.AuthenticationInfo](t)(sdk.Management.JWT().SignIn(ctx, "new@example.com", nil))
	after := must[*descope.UserResponse](t)(users.Load(ctx, "new@example.com"))
	if after.Status != "enabled" || after.ModifiedTime != int32(clk.Now().Unix()) {
		t.Fatalf("after sign-in: %s, modified %d", after.Status, after.ModifiedTime)
	}

	// So do the other sign-ins: management sign-up-or-in, OTP.
	must[*descope.AuthenticationInfo](t)(sdk.Management.JWT().SignUpOrIn(ctx, "b1", nil, nil))
	if s := status("b1"); s != "enabled" {
		t.Fatalf("b1 after sign-up-or-in: %s", s)
	}
	must[*descope.UserResponse](t)(users.Create(ctx, "otp@example.com", &descope.UserRequest{User: descope.User{Email: "otp@example.com"}}))
	must[string](t)(sdk.Auth.OTP().SignUpOrIn(ctx, descope.MethodEmail, "otp@example.com", nil))
	if s := status("otp@example.com"); s != "invited" {
		t.Fatalf("sending a code enabled the user: %s", s)
	}
	must[*descope.AuthenticationInfo](t)(sdk.Auth.OTP().VerifyCode(ctx, descope.MethodEmail, "otp@example.com", outbox(t, emu, "otp@example.com"), nil))
	if s := status("otp@example.com"); s != "enabled" {
		t.Fatalf("after OTP sign-in: %s", s)
	}
	if s := status("b2"); s != "invited" {
		t.Fatalf("b2 was never signed in but is %s", s)
	}

	// Users who sign themselves up are enabled at once.
	up := must[*descope.AuthenticationInfo](t)(sdk.Auth.Password().SignUp(ctx, "self", nil, "pw-abcdef", nil))
	if up.User.Status != "enabled" {
		t.Fatalf("self sign-up: %s", up.User.Status)
	}
	mup := must[*descope.AuthenticationInfo](t)(sdk.Management.JWT().SignUp(ctx, "mgmt-up", nil, nil))
	if mup.User.Status != "enabled" {
		t.Fatalf("management sign-up: %s", mup.User.Status)
	}
}
