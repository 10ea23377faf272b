package descopetest_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/descope/go-sdk/descope"

	"github.com/descope-contrib/anonymous/descopetest"
)

const appOrigin = "https://app.example.com"

// startOptions decodes the publicKey member of a start answer's options.
func startOptions(t *testing.T, options string) map[string]any {
	t.Helper()
	var o struct {
		PublicKey map[string]any `json:"publicKey"`
	}
	if err := json.Unmarshal([]byte(options), &o); err != nil || o.PublicKey == nil {
		t.Fatalf("options %q are not {\"publicKey\":{...}}: %v", options, err)
	}
	return o.PublicKey
}

func TestPasskeyUpdateThenSignIn(t *testing.T) {
	emu, sdk, ctx := setup(t)
	wa := sdk.Auth.WebAuthn()
	auth := descopetest.NewAuthenticator()
	user := must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "visitor-1", &descope.UserRequest{}))
	_, refresh := signIn(t, sdk, ctx, "visitor-1")

	start := must[*descope.WebAuthnTransactionResponse](t)(wa.UpdateUserDeviceStart(ctx, "visitor-1", appOrigin, withRefresh(refresh)))
	if !start.Create || start.TransactionID == "" {
		t.Fatalf("update start = %+v", start)
	}
	pk := startOptions(t, start.Options)
	sel, _ := pk["authenticatorSelection"].(map[string]any)
	rp, _ := pk["rp"].(map[string]any)
	if sel["residentKey"] != "required" || sel["userVerification"] != "required" || pk["attestation"] != "none" || rp["id"] != "app.example.com" {
		t.Fatalf("creation options = %v", pk)
	}
	response := must[string](t)(auth.Create(start.Options, appOrigin))
	info, err := wa.UpdateUserDeviceFinish(ctx, &descope.WebAuthnFinishRequest{TransactionID: start.TransactionID, Response: response}, nil)
	if err != nil || info != nil {
		t.Fatalf("update finish without mfa = %+v, %v; want no session", info, err)
	}
	if u, _ := emu.User("visitor-1"); !u.WebAuthn {
		t.Fatal("the user has no passkey after the update")
	}
	// The transaction is spent.
	_, err = wa.UpdateUserDeviceFinish(ctx, &descope.WebAuthnFinishRequest{TransactionID: start.TransactionID, Response: response}, nil)
	wantCode(t, err, "E011003", http.StatusUnauthorized)

	// A second start excludes the registered passkey, which the
	// authenticator then refuses to register again.
	start = must[*descope.WebAuthnTransactionResponse](t)(wa.UpdateUserDeviceStart(ctx, "visitor-1", appOrigin, withRefresh(refresh)))
	if ex, _ := startOptions(t, start.Options)["excludeCredentials"].([]any); len(ex) != 1 {
		t.Fatalf("excludeCredentials = %v", ex)
	}
	if _, err := auth.Create(start.Options, appOrigin); err == nil {
		t.Fatal("the authenticator registered an excluded credential")
	}

	// Sign in with the login ID.
	in := must[*descope.WebAuthnTransactionResponse](t)(wa.SignInStart(ctx, "visitor-1", appOrigin, nil, nil))
	if in.Create {
		t.Fatal("sign-in start says create")
	}
	if allow, _ := startOptions(t, in.Options)["allowCredentials"].([]any); len(allow) != 1 {
		t.Fatalf("allowCredentials = %v", allow)
	}
	signedIn := must[*descope.AuthenticationInfo](t)(wa.SignInFinish(ctx, &descope.WebAuthnFinishRequest{
		TransactionID: in.TransactionID, Response: must[string](t)(auth.Get(in.Options, appOrigin)),
	}, nil))
	if signedIn.User.UserID != user.UserID || !slices.Equal(toStrings(signedIn.SessionToken.Claims["amr"]), []string{"webauthn"}) || signedIn.RefreshToken == nil {
		t.Fatalf("sign-in = %+v, amr %v", signedIn.User, signedIn.SessionToken.Claims["amr"])
	}

	// Without a login ID (go-sdk requires one, the JS SDKs do not), the
	// browser picks the discoverable passkey and its user handle names
	// the user.
	status, body := rawCall(t, emu, http.MethodPost, "/v1/auth/webauthn/signin/start", emu.ProjectID, `{"origin":"`+appOrigin+`"}`)
	if status != http.StatusOK {
		t.Fatalf("discoverable start: %d %v", status, body)
	}
	options := body["options"].(string)
	// An empty list, not null: browsers refuse null (Chromium: "cannot be
	// converted to a sequence").
	if allow, ok := startOptions(t, options)["allowCredentials"].([]any); !ok || len(allow) != 0 {
		t.Fatalf("allowCredentials of a discoverable sign-in = %#v", startOptions(t, options)["allowCredentials"])
	}
	fresh := must[*descope.AuthenticationInfo](t)(wa.SignInFinish(ctx, &descope.WebAuthnFinishRequest{
		TransactionID: body["transactionId"].(string), Response: must[string](t)(auth.Get(options, appOrigin)),
	}, nil))
	if fresh.User.UserID != user.UserID {
		t.Fatalf("discoverable sign-in = %s", fresh.User.UserID)
	}
}

func TestPasskeyUpdateMFA(t *testing.T) {
	emu, sdk, ctx := setup(t)
	wa := sdk.Auth.WebAuthn()
	auth := descopetest.NewAuthenticator()
	// Sign in by OTP, so the session's amr is ["email"].
	must[string](t)(sdk.Auth.OTP().SignUpOrIn(ctx, descope.MethodEmail, "ada@example.com", nil))
	first := must[*descope.AuthenticationInfo](t)(sdk.Auth.OTP().VerifyCode(ctx, descope.MethodEmail, "ada@example.com", outbox(t, emu, "ada@example.com"), nil))

	start := must[*descope.WebAuthnTransactionResponse](t)(wa.UpdateUserDeviceStart(ctx, "ada@example.com", appOrigin, withRefresh(first.RefreshToken.JWT), true))
	info := must[*descope.AuthenticationInfo](t)(wa.UpdateUserDeviceFinish(ctx, &descope.WebAuthnFinishRequest{
		TransactionID: start.TransactionID, Response: must[string](t)(auth.Create(start.Options, appOrigin)),
	}, nil))
	if info == nil || info.SessionToken.ID != first.User.UserID {
		t.Fatalf("update finish with mfa = %+v", info)
	}
	if amr := toStrings(info.SessionToken.Claims["amr"]); !slices.Equal(amr, []string{"email", "webauthn"}) {
		t.Fatalf("amr = %v", amr)
	}
}

func TestPasskeySignUpAndSignUpOrIn(t *testing.T) {
	emu, sdk, ctx := setup(t)
	wa := sdk.Auth.WebAuthn()
	auth := descopetest.NewAuthenticator()

	start := must[*descope.WebAuthnTransactionResponse](t)(wa.SignUpStart(ctx, "ada@example.com", &descope.User{Name: "Ada"}, appOrigin, nil))
	if !start.Create {
		t.Fatal("sign-up start does not say create")
	}
	if emu.UserCount() != 0 {
		t.Fatal("sign-up start created the user")
	}
	info := must[*descope.AuthenticationInfo](t)(wa.SignUpFinish(ctx, &descope.WebAuthnFinishRequest{
		TransactionID: start.TransactionID, Response: must[string](t)(auth.Create(start.Options, appOrigin)),
	}, nil))
	if !info.FirstSeen || info.User.Name != "Ada" || !info.User.WebAuthn || info.User.LoginIDs[0] != "ada@example.com" {
		t.Fatalf("sign-up = %+v", info.User)
	}
	_, err := wa.SignUpStart(ctx, "ada@example.com", nil, appOrigin, nil)
	wantCode(t, err, "E062107", http.StatusBadRequest)

	// Sign-up-or-in: the existing user with a passkey signs in.
	in := must[*descope.WebAuthnTransactionResponse](t)(wa.SignUpOrInStart(ctx, "ada@example.com", appOrigin, nil))
	if in.Create {
		t.Fatal("sign-up-or-in of a user with a passkey says create")
	}
	again := must[*descope.AuthenticationInfo](t)(wa.SignInFinish(ctx, &descope.WebAuthnFinishRequest{
		TransactionID: in.TransactionID, Response: must[string](t)(auth.Get(in.Options, appOrigin)),
	}, nil))
	if again.User.UserID != info.User.UserID || again.FirstSeen {
		t.Fatalf("sign-up-or-in = %+v", again)
	}
	// A new login ID signs up; the transaction is a sign-up's.
	up := must[*descope.WebAuthnTransactionResponse](t)(wa.SignUpOrInStart(ctx, "bob@example.com", appOrigin, nil))
	if !up.Create {
		t.Fatal("sign-up-or-in of a new login ID does not say create")
	}
	response := must[string](t)(auth.Create(up.Options, appOrigin))
	_, err = wa.SignInFinish(ctx, &descope.WebAuthnFinishRequest{TransactionID: up.TransactionID, Response: response}, nil)
	wantCode(t, err, "E011003", http.StatusUnauthorized)
	// A user without a passkey cannot get one this way.
	must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "carol@example.com", &descope.UserRequest{}))
	_, err = wa.SignUpOrInStart(ctx, "carol@example.com", appOrigin, nil)
	wantCode(t, err, "E062107", http.StatusBadRequest)
}

func TestPasskeyOrigins(t *testing.T) {
	_, sdk, ctx := setup(t, descopetest.WithPasskeyDomain("example.com"))
	must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "visitor-1", &descope.UserRequest{}))
	_, refresh := signIn(t, sdk, ctx, "visitor-1")
	for _, origin := range []string{
		"", "http://app.example.com", "https://127.0.0.1", "https://example.org", "https://app.example.com/path",
		"https://notexample.com", "app.example.com",
	} {
		_, err := sdk.Auth.WebAuthn().UpdateUserDeviceStart(ctx, "visitor-1", origin, withRefresh(refresh))
		if de := descope.AsError(err); de == nil || !descope.IsBadRequestError(err) {
			t.Errorf("origin %q: %v", origin, err)
		}
	}
	auth := descopetest.NewAuthenticator()
	start := must[*descope.WebAuthnTransactionResponse](t)(sdk.Auth.WebAuthn().UpdateUserDeviceStart(ctx, "visitor-1", "https://login.example.com", withRefresh(refresh)))
	must[*descope.AuthenticationInfo](t)(sdk.Auth.WebAuthn().UpdateUserDeviceFinish(ctx, &descope.WebAuthnFinishRequest{
		TransactionID: start.TransactionID, Response: must[string](t)(auth.Create(start.Options, "https://login.example.com")),
	}, nil))
	// The passkey of the domain works on its other subdomains.
	in := must[*descope.WebAuthnTransactionResponse](t)(sdk.Auth.WebAuthn().SignInStart(ctx, "visitor-1", "https://shop.example.com", nil, nil))
	must[*descope.AuthenticationInfo](t)(sdk.Auth.WebAuthn().SignInFinish(ctx, &descope.WebAuthnFinishRequest{
		TransactionID: in.TransactionID, Response: must[string](t)(auth.Get(in.Options, "https://shop.example.com")),
	}, nil))
	// http on localhost is allowed without a passkey domain.
	emu2, _, _ := setup(t)
	status, body := rawCall(t, emu2, http.MethodPost, "/v1/auth/webauthn/signin/start", emu2.ProjectID, `{"origin":"http://localhost:8080"}`)
	if status != http.StatusOK {
		t.Fatalf("localhost origin: %d %v", status, body)
	}
}
