package anonymous_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/descope/go-sdk/descope"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// sdkRequestWith is a request carrying the refresh cookie dsr, as the go-sdk reads
// a signed-in user's refresh token from it.
func sdkRequestWith(dsr string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: descope.RefreshCookieName, Value: dsr})
	return r
}

// flowAddsEmail does what an application's own Descope flow does for the
// visitor b: an OTP email update with addToLoginIDs authorised by the
// visitor's refresh token, straight at the emulator's routes, and, when
// verify, the code's verification.
func flowAddsEmail(t *testing.T, env *anontest.Env, b *http.Client, userID, email string, verify bool) {
	t.Helper()
	ctx := context.Background()
	u, _ := env.Emu.User(userID)
	loginID := u.LoginIDs[0]
	otp := env.Emu.MustClient(t).Auth.OTP()
	if _, err := otp.UpdateUserEmail(ctx, loginID, email, &descope.UpdateOptions{AddToLoginIDs: true}, sdkRequestWith(env.Cookie(b, "DSR"))); err != nil {
		t.Fatal(err)
	}
	if !verify {
		return
	}
	code, _ := env.Emu.Outbox(email)
	if _, err := otp.VerifyCode(ctx, descope.MethodEmail, loginID, code, nil); err != nil {
		t.Fatal(err)
	}
}

// A conversion the application's own flow verified is finished by
// ConvertCompleteHandler: same user ID, out of the anonymous tenant, the
// generated login ID dropped, the anonymous refresh token revoked, fresh
// cookies; a second call gets a clear error and no second pair.
func TestCompleteConversionAfterOwnFlow(t *testing.T) {
	var events []anonymous.Event
	env := anontest.NewEnv(t, netHTTP, nil, anonymous.WithObserver(func(_ context.Context, e anonymous.Event) {
		if e.Kind == anonymous.EventConverted || e.Kind == anonymous.EventConversionFailed {
			events = append(events, e)
		}
	}))
	b, first := env.Visitor(t)
	oldDSR := env.Cookie(b, "DSR")
	if me := env.Post(t, b, "/convert/complete", map[string]string{}); me.Status != http.StatusConflict || !strings.Contains(me.Body, "no verified email or phone") {
		t.Errorf("nothing added: %d %s", me.Status, me.Body)
	}
	flowAddsEmail(t, env, b, first.UserID, "ada@example.com", true)
	me := env.Post(t, b, "/convert/complete", map[string]string{})
	if me.Status != http.StatusOK || me.UserID != first.UserID || me.Anonymous || !slices.Equal(me.LoginIDs, []string{"ada@example.com"}) {
		t.Fatalf("complete: %+v", me)
	}
	u, _ := env.Emu.User(first.UserID)
	if !slices.Equal(u.LoginIDs, []string{"ada@example.com"}) || len(u.UserTenants) != 0 {
		t.Errorf("converted user %+v", u)
	}
	if env.Cookie(b, "DSR") == oldDSR {
		t.Error("no fresh refresh token")
	}
	if _, _, err := env.Emu.MustClient(t).Auth.RefreshSessionWithToken(context.Background(), oldDSR); err == nil {
		t.Error("anonymous refresh token still works")
	}
	if !slices.Contains(env.Converted(), [2]string{first.UserID, first.UserID}) {
		t.Errorf("OnConvert: %v", env.Converted())
	}
	if after := env.Get(t, b, "/whoami"); after.UserID != first.UserID || after.Anonymous {
		t.Errorf("after: %+v", after)
	}
	// Called twice: a clear error, and no second pair of tokens.
	dsr := env.Cookie(b, "DSR")
	again := env.Post(t, b, "/convert/complete", map[string]string{})
	if again.Status != http.StatusConflict || len(again.SetCookie) != 0 || env.Cookie(b, "DSR") != dsr {
		t.Errorf("second call: %+v", again)
	}
	// The old anonymous cookies replayed: no second pair either.
	replay := env.Browser(t)
	env.SetCookie(replay, "DSR", oldDSR)
	if r := env.Post(t, replay, "/convert/complete", map[string]string{}); r.Status == http.StatusOK {
		t.Errorf("old cookies replayed: %+v", r)
	}
	var methods []string
	for _, e := range events {
		methods = append(methods, e.Kind.String()+":"+e.Method)
	}
	if !slices.Contains(methods, "converted:adopt") || !slices.Contains(methods, "conversion_failed:adopt") {
		t.Errorf("events %v", methods)
	}
}

// An email added but not verified (the flow sent the code, the visitor
// never typed it; or an address set without verification) converts
// nothing.
func TestCompleteConversionNeedsVerified(t *testing.T) {
	env := anontest.NewEnv(t, netHTTP, nil)
	b, first := env.Visitor(t)
	flowAddsEmail(t, env, b, first.UserID, "ada@example.com", false)
	if me := env.Post(t, b, "/convert/complete", map[string]string{}); me.Status != http.StatusConflict {
		t.Errorf("code sent, not verified: %d %s", me.Status, me.Body)
	}
	u, _ := env.Emu.User(first.UserID)
	email, no := "eve@example.com", false
	if _, err := env.Emu.MustClient(t).Management.User().Patch(context.Background(), u.LoginIDs[0], &descope.PatchUserRequest{
		Email: &email, VerifiedEmail: &no, AdditionalLoginIDs: &[]string{u.LoginIDs[0], email},
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := env.Emu.User(first.UserID); !slices.Contains(got.LoginIDs, email) {
		t.Fatalf("patch did not add the login ID: %+v", got)
	}
	if me := env.Post(t, b, "/convert/complete", map[string]string{}); me.Status != http.StatusConflict || len(me.SetCookie) != 0 {
		t.Errorf("unverified email: %d %s", me.Status, me.Body)
	}
	if got, _ := env.Emu.User(first.UserID); len(got.UserTenants) != 1 {
		t.Errorf("user left the anonymous tenant: %+v", got)
	}
}

// Native and local visitors have no user to add an identifier to: a clear
// error. The handler admits only same-origin JSON POSTs.
func TestCompleteConversionUserBackedOnly(t *testing.T) {
	for _, s := range []anonymous.Strategy{anonymous.NativeTokens, anonymous.LocalIDs} {
		env := anontest.NewEnvWith(t, anontest.Setup{Mount: netHTTP, Strategy: s}, nil)
		b, _ := env.Visitor(t)
		if me := env.Post(t, b, "/convert/complete", map[string]string{}); me.Status != http.StatusConflict || !strings.Contains(me.Body, "not user-backed") {
			t.Errorf("%v: %d %s", s, me.Status, me.Body)
		}
	}
}
