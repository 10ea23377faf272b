package descopetest_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/testclock"
	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/client"
)

// startEmailUpdate signs loginID in and starts an OTP email update.
func startEmailUpdate(t *testing.T, sdk *client.DescopeClient, ctx context.Context, loginID, email string, opts *descope.UpdateOptions) string {
	t.Helper()
	_, refresh := signIn(t, sdk, ctx, loginID)
	masked, err := sdk.Auth.OTP().UpdateUserEmail(ctx, loginID, email, opts, withRefresh(refresh))
	if err != nil {
		t.Fatal(err)
	}
	if masked == "" || masked == email {
		t.Fatalf("masked email = %q", masked)
	}
	return refresh
}

func outbox(t *testing.T, emu *descopetest.Emulator, address string) string {
	t.Helper()
	code, ok := emu.Outbox(address)
	if !ok || len(code) != 6 {
		t.Fatalf("outbox(%s) = %q, %v", address, code, ok)
	}
	return code
}

func TestOTPUpdateEmail(t *testing.T) {
	emu, sdk, ctx := setup(t)
	startEmailUpdate(t, sdk, ctx, "visitor-1", "new@example.com", &descope.UpdateOptions{AddToLoginIDs: true})
	code := outbox(t, emu, "NEW@example.com")

	info := must[*descope.AuthenticationInfo](t)(sdk.Auth.OTP().VerifyCode(ctx, descope.MethodEmail, "visitor-1", code, nil))
	if info.User == nil || info.User.Email != "new@example.com" || !info.User.VerifiedEmail ||
		!slices.Equal(info.User.LoginIDs, []string{"visitor-1", "new@example.com"}) {
		t.Fatalf("user after verify = %+v", info.User)
	}
	if info.SessionToken.ID != info.User.UserID || info.RefreshToken == nil {
		t.Fatal("verify did not return tokens for the user")
	}
	if !slices.Equal(toStrings(info.SessionToken.Claims["amr"]), []string{"email"}) {
		t.Fatalf("amr = %v", info.SessionToken.Claims["amr"])
	}
	// The code is consumed.
	_, err := sdk.Auth.OTP().VerifyCode(ctx, descope.MethodEmail, "visitor-1", code, nil)
	wantCode(t, err, "E061102", http.StatusBadRequest)

	// Without addToLoginIDs only the email changes. The code is verified
	// under the existing login ID, never the new address.
	startEmailUpdate(t, sdk, ctx, "visitor-1", "other@example.com", nil)
	code = outbox(t, emu, "other@example.com")
	_, err = sdk.Auth.OTP().VerifyCode(ctx, descope.MethodEmail, "other@example.com", code, nil)
	wantCode(t, err, "E061102", http.StatusBadRequest)
	info = must[*descope.AuthenticationInfo](t)(sdk.Auth.OTP().VerifyCode(ctx, descope.MethodEmail, "visitor-1", code, nil))
	if info.User.Email != "other@example.com" || len(info.User.LoginIDs) != 2 {
		t.Fatalf("user after plain update = %+v", info.User)
	}

	// The login ID must belong to the token's user.
	_, refresh := signIn(t, sdk, ctx, "visitor-2")
	_, err = sdk.Auth.OTP().UpdateUserEmail(ctx, "visitor-1", "x@example.com", nil, withRefresh(refresh))
	if !isDescope(err) || !(descope.IsUnauthorizedError(err) || descope.IsBadRequestError(err)) {
		t.Fatalf("update with another user's login ID: %v", err)
	}
}

func TestOTPUpdatePhone(t *testing.T) {
	emu, sdk, ctx := setup(t)
	_, refresh := signIn(t, sdk, ctx, "phone-user")
	masked := must[string](t)(sdk.Auth.OTP().UpdateUserPhone(ctx, descope.MethodSMS, "phone-user", "+15551234567", &descope.UpdateOptions{AddToLoginIDs: true}, withRefresh(refresh)))
	if masked == "" {
		t.Fatal("no masked phone")
	}
	info := must[*descope.AuthenticationInfo](t)(sdk.Auth.OTP().VerifyCode(ctx, descope.MethodSMS, "phone-user", outbox(t, emu, "+15551234567"), nil))
	if info.User.Phone != "+15551234567" || !info.User.VerifiedPhone || !slices.Contains(info.User.LoginIDs, "+15551234567") {
		t.Fatalf("user after phone update = %+v", info.User)
	}
	// WhatsApp and voice are accepted as delivery methods; the code is
	// verified under the existing login ID only.
	must[string](t)(sdk.Auth.OTP().UpdateUserPhone(ctx, descope.MethodWhatsApp, "phone-user", "+15557654321", nil, withRefresh(refresh)))
	code := outbox(t, emu, "+15557654321")
	_, err := sdk.Auth.OTP().VerifyCode(ctx, descope.MethodVoice, "+15557654321", code, nil)
	wantCode(t, err, "E061102", http.StatusBadRequest)
	info = must[*descope.AuthenticationInfo](t)(sdk.Auth.OTP().VerifyCode(ctx, descope.MethodVoice, "phone-user", code, nil))
	if info.User.Phone != "+15557654321" || slices.Contains(info.User.LoginIDs, "+15557654321") {
		t.Fatalf("user after plain phone update = %+v", info.User)
	}
}

func TestOTPAttemptLimit(t *testing.T) {
	emu, sdk, ctx := setup(t)
	startEmailUpdate(t, sdk, ctx, "try", "try@example.com", nil)
	code := outbox(t, emu, "try@example.com")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := 1; i <= 5; i++ {
		_, err := sdk.Auth.OTP().VerifyCode(ctx, descope.MethodEmail, "try", wrong, nil)
		wantCode(t, err, "E061102", http.StatusBadRequest)
	}
	for _, c := range []string{wrong, code} {
		_, err := sdk.Auth.OTP().VerifyCode(ctx, descope.MethodEmail, "try", c, nil)
		wantCode(t, err, "E061103", http.StatusBadRequest)
	}
	// A new code unlocks.
	startEmailUpdate(t, sdk, ctx, "try", "try@example.com", nil)
	must[*descope.AuthenticationInfo](t)(sdk.Auth.OTP().VerifyCode(ctx, descope.MethodEmail, "try", outbox(t, emu, "try@example.com"), nil))
}

func TestOTPExpiry(t *testing.T) {
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	emu, sdk, ctx := setup(t, descopetest.WithClock(clk.Now), descopetest.WithOTPTTL(time.Minute))
	startEmailUpdate(t, sdk, ctx, "late", "late@example.com", nil)
	code := outbox(t, emu, "late@example.com")
	clk.Add(time.Minute)
	_, err := sdk.Auth.OTP().VerifyCode(ctx, descope.MethodEmail, "late", code, nil)
	de := wantCode(t, err, "E061102", http.StatusBadRequest)
	if de.Message == "" {
		t.Fatal("no message on expired code")
	}
	// A replacement code replaces the old one.
	startEmailUpdate(t, sdk, ctx, "late", "late@example.com", nil)
	old := outbox(t, emu, "late@example.com")
	startEmailUpdate(t, sdk, ctx, "late", "late@example.com", nil)
	fresh := outbox(t, emu, "late@example.com")
	if old != fresh {
		_, err = sdk.Auth.OTP().VerifyCode(ctx, descope.MethodEmail, "late", old, nil)
		wantCode(t, err, "E061102", http.StatusBadRequest)
	}
	clk.Add(59 * time.Second)
	must[*descope.AuthenticationInfo](t)(sdk.Auth.OTP().VerifyCode(ctx, descope.MethodEmail, "late", fresh, nil))
}

func TestOTPSignUpOrIn(t *testing.T) {
	emu, sdk, ctx := setup(t)
	must[string](t)(sdk.Auth.OTP().SignUpOrIn(ctx, descope.MethodEmail, "fresh@example.com", nil))
	info := must[*descope.AuthenticationInfo](t)(sdk.Auth.OTP().VerifyCode(ctx, descope.MethodEmail, "fresh@example.com", outbox(t, emu, "fresh@example.com"), nil))
	if !info.FirstSeen || info.User.Email != "fresh@example.com" || !info.User.VerifiedEmail {
		t.Fatalf("first sign-up-or-in = %+v", info)
	}
	must[string](t)(sdk.Auth.OTP().SignUpOrIn(ctx, descope.MethodEmail, "fresh@example.com", nil))
	again := must[*descope.AuthenticationInfo](t)(sdk.Auth.OTP().VerifyCode(ctx, descope.MethodEmail, "fresh@example.com", outbox(t, emu, "fresh@example.com"), nil))
	if again.FirstSeen || again.User.UserID != info.User.UserID {
		t.Fatalf("second sign-up-or-in = %+v", again)
	}
	must[string](t)(sdk.Auth.OTP().SignUpOrIn(ctx, descope.MethodSMS, "+15550001111", nil))
	sms := must[*descope.AuthenticationInfo](t)(sdk.Auth.OTP().VerifyCode(ctx, descope.MethodSMS, "+15550001111", outbox(t, emu, "+15550001111"), nil))
	if sms.User.Phone != "+15550001111" || !sms.User.VerifiedPhone {
		t.Fatalf("sms sign-up-or-in = %+v", sms.User)
	}

	// The outbox over HTTP.
	status, body := rawCall(t, emu, http.MethodGet, "/emulator/v1/outbox?address="+url.QueryEscape("+15550001111"), "", "")
	if status != http.StatusOK || body["code"] != outbox(t, emu, "+15550001111") {
		t.Fatalf("outbox endpoint: %d %v", status, body)
	}
	status, body = rawCall(t, emu, http.MethodGet, "/emulator/v1/outbox?address=nobody@example.com", "", "")
	if status != http.StatusNotFound || body["errorCode"] == nil {
		t.Fatalf("outbox endpoint without code: %d %v", status, body)
	}
}
