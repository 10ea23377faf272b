package descopetest_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/descope/go-sdk/descope"
)

func TestOTPSignIn(t *testing.T) {
	emu, sdk, ctx := setup(t)
	otp := sdk.Auth.OTP()

	// Sign-in of an unknown user fails at once, and sends nothing.
	_, err := otp.SignIn(ctx, descope.MethodEmail, "nobody@example.com", nil, nil)
	wantCode(t, err, "E062108", http.StatusBadRequest)
	if _, sent := emu.Outbox("nobody@example.com"); sent {
		t.Fatal("sign-in of an unknown user sent a code")
	}

	// A user made by management, with an email that is not its login ID.
	created := must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "ada", &descope.UserRequest{
		User: descope.User{Email: "ada@example.com", Phone: "+15550002222"},
	}))
	if created.Status != "invited" {
		t.Fatalf("created user status %q", created.Status)
	}
	masked := must[string](t)(otp.SignIn(ctx, descope.MethodEmail, "ada", nil, nil))
	if masked != "a***@example.com" {
		t.Fatalf("masked = %q", masked)
	}
	_, err = otp.VerifyCode(ctx, descope.MethodEmail, "ada", "000000", nil)
	wantCode(t, err, "E061102", http.StatusBadRequest)
	info := must[*descope.AuthenticationInfo](t)(otp.VerifyCode(ctx, descope.MethodEmail, "ada", outbox(t, emu, "ada@example.com"), nil))
	if info.FirstSeen || info.User.UserID != created.UserID || !info.User.VerifiedEmail || info.User.Status != "enabled" {
		t.Fatalf("sign-in info = %+v, user %+v", info, info.User)
	}
	if amr := toStrings(claimsOf(t, info.SessionToken.JWT)["amr"]); !slices.Equal(amr, []string{"email"}) {
		t.Fatalf("amr = %q", amr)
	}

	// By SMS, to the user's phone.
	must[string](t)(otp.SignIn(ctx, descope.MethodSMS, "ada", nil, nil))
	info = must[*descope.AuthenticationInfo](t)(otp.VerifyCode(ctx, descope.MethodSMS, "ada", outbox(t, emu, "+15550002222"), nil))
	if info.User.UserID != created.UserID || !info.User.VerifiedPhone {
		t.Fatalf("sms sign-in user = %+v", info.User)
	}

	// A user deleted between the code and its verification is not signed in.
	must[string](t)(otp.SignIn(ctx, descope.MethodEmail, "ada", nil, nil))
	code := outbox(t, emu, "ada@example.com")
	check(t, sdk.Management.User().Delete(ctx, "ada"))
	_, err = otp.VerifyCode(ctx, descope.MethodEmail, "ada", code, nil)
	wantCode(t, err, "E062108", http.StatusBadRequest)
	if emu.UserCount() != 0 {
		t.Fatal("verifying a sign-in of a deleted user created one")
	}
}

func TestOTPSignUp(t *testing.T) {
	emu, sdk, ctx := setup(t)
	otp := sdk.Auth.OTP()

	masked := must[string](t)(otp.SignUp(ctx, descope.MethodEmail, "grace", &descope.User{Name: "Grace", Email: "grace@example.com"}, nil))
	if masked != "g***@example.com" {
		t.Fatalf("masked = %q", masked)
	}
	if emu.UserCount() != 0 {
		t.Fatal("sign-up created the user before its code was verified")
	}
	info := must[*descope.AuthenticationInfo](t)(otp.VerifyCode(ctx, descope.MethodEmail, "grace", outbox(t, emu, "grace@example.com"), nil))
	u := info.User
	if !info.FirstSeen || u.Name != "Grace" || u.Email != "grace@example.com" || !u.VerifiedEmail || !slices.Equal(u.LoginIDs, []string{"grace"}) {
		t.Fatalf("sign-up info = %+v, user %+v", info, u)
	}

	// Sign-up of a login ID that exists fails at once.
	_, err := otp.SignUp(ctx, descope.MethodEmail, "grace", &descope.User{Email: "other@example.com"}, nil)
	wantCode(t, err, "E062107", http.StatusBadRequest)

	// By SMS, with the login ID as the phone; a sign-up overtaken by another
	// user taking the login ID fails on verify.
	must[string](t)(otp.SignUp(ctx, descope.MethodSMS, "+15550003333", nil, nil))
	code := outbox(t, emu, "+15550003333")
	must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "+15550003333", nil))
	_, err = otp.VerifyCode(ctx, descope.MethodSMS, "+15550003333", code, nil)
	wantCode(t, err, "E062107", http.StatusBadRequest)

	// core-js sends the address only inside user, or not at all.
	status, body := rawCall(t, emu, http.MethodPost, "/v1/auth/otp/signup/email", emu.ProjectID,
		`{"loginId":"hopper@example.com","loginOptions":{}}`)
	if status != http.StatusOK || body["maskedEmail"] != "h***@example.com" {
		t.Fatalf("core-js sign-up: %d %v", status, body)
	}
	status, body = rawCall(t, emu, http.MethodPost, "/v1/auth/otp/signup/email", emu.ProjectID, `{"loginId":"not-an-address"}`)
	if status != http.StatusBadRequest || body["errorCode"] != "E011003" {
		t.Fatalf("sign-up with no email: %d %v", status, body)
	}
}
