package descopetest_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/testclock"
	"github.com/descope/go-sdk/descope"
)

const verifyURI = "https://app.example.com/verify"

// linkToken reads the latest link sent to address, checks that it points
// to uri, and returns its token.
func linkToken(t *testing.T, emu *descopetest.Emulator, address, uri string) string {
	t.Helper()
	link, ok := emu.OutboxLink(address)
	if !ok {
		t.Fatalf("no link sent to %s", address)
	}
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, uri+"?t=") {
		t.Fatalf("link %q does not point to %s?t=", link, uri)
	}
	tok := u.Query().Get("t")
	if len(tok) < 32 {
		t.Fatalf("link token %q is short", tok)
	}
	return tok
}

func TestMagicLinkUpdateEmail(t *testing.T) {
	emu, sdk, ctx := setup(t)
	ml := sdk.Auth.MagicLink()
	_, refresh := signIn(t, sdk, ctx, "visitor-1")
	masked := must[string](t)(ml.UpdateUserEmail(ctx, "visitor-1", "new@example.com", verifyURI, &descope.UpdateOptions{AddToLoginIDs: true}, withRefresh(refresh)))
	if masked == "" || masked == "new@example.com" {
		t.Fatalf("masked email = %q", masked)
	}
	// Nothing changes before the link is used.
	if u, _ := emu.User("visitor-1"); u.Email != "" || len(u.LoginIDs) != 1 {
		t.Fatalf("before verify: %+v", u)
	}
	tok := linkToken(t, emu, "NEW@example.com", verifyURI)

	info := must[*descope.AuthenticationInfo](t)(ml.Verify(ctx, tok, nil))
	if info.User.Email != "new@example.com" || !info.User.VerifiedEmail ||
		!slices.Equal(info.User.LoginIDs, []string{"visitor-1", "new@example.com"}) {
		t.Fatalf("user after verify = %+v", info.User)
	}
	if info.RefreshToken == nil || info.SessionToken.ID != info.User.UserID {
		t.Fatal("verify did not sign the user in")
	}
	if amr := toStrings(info.SessionToken.Claims["amr"]); !slices.Equal(amr, []string{"email"}) {
		t.Fatalf("amr = %v", amr)
	}
	// Single use.
	_, err := ml.Verify(ctx, tok, nil)
	wantCode(t, err, "E061102", http.StatusBadRequest)
	_, err = ml.Verify(ctx, "not-a-token", nil)
	wantCode(t, err, "E061102", http.StatusBadRequest)

	// The login ID must be the signed-in user's.
	_, other := signIn(t, sdk, ctx, "visitor-2")
	_, err = ml.UpdateUserEmail(ctx, "visitor-1", "x@example.com", verifyURI, nil, withRefresh(other))
	wantCode(t, err, "E011003", http.StatusUnauthorized)
	// A refresh token is required.
	_, err = ml.UpdateUserEmail(ctx, "visitor-1", "x@example.com", verifyURI, nil, withRefresh(""))
	if err == nil {
		t.Fatal("update without a refresh token succeeded")
	}
}

func TestMagicLinkUpdatePhone(t *testing.T) {
	emu, sdk, ctx := setup(t)
	ml := sdk.Auth.MagicLink()
	_, refresh := signIn(t, sdk, ctx, "phone-user")
	must[string](t)(ml.UpdateUserPhone(ctx, descope.MethodWhatsApp, "phone-user", "+15551234567", verifyURI, nil, withRefresh(refresh)))
	info := must[*descope.AuthenticationInfo](t)(ml.Verify(ctx, linkToken(t, emu, "+15551234567", verifyURI), nil))
	if info.User.Phone != "+15551234567" || !info.User.VerifiedPhone || slices.Contains(info.User.LoginIDs, "+15551234567") {
		t.Fatalf("user after phone update = %+v", info.User)
	}
	if amr := toStrings(info.SessionToken.Claims["amr"]); !slices.Equal(amr, []string{"whatsapp"}) {
		t.Fatalf("amr = %v", amr)
	}
	// Links go by SMS and WhatsApp, not by voice (go-sdk refuses voice
	// itself, so the raw call).
	status, body := rawCall(t, emu, http.MethodPost, "/v1/auth/magiclink/update/phone/voice", emu.ProjectID+":"+refresh,
		`{"loginId":"phone-user","phone":"+15551234567","URI":"`+verifyURI+`"}`)
	if status != http.StatusBadRequest || body["errorCode"] != "E011003" {
		t.Fatalf("voice update: %d %v", status, body)
	}
}

// TestMagicLinkUpdateMerges checks that a magic link update merges onto
// another user's login ID exactly like an OTP update (update.go).
func TestMagicLinkUpdateMerges(t *testing.T) {
	for _, useExisting := range []bool{false, true} {
		w := newMergeWorld(t)
		ml := w.sdk.Auth.MagicLink()
		opts := &descope.UpdateOptions{AddToLoginIDs: true, OnMergeUseExisting: useExisting}
		must[string](t)(ml.UpdateUserEmail(w.ctx, "anon-1", "Taken@Example.com", verifyURI, opts, withRefresh(w.updatingDSR)))
		if w.emu.UserCount() != 2 {
			t.Fatal("the link merged before it was used")
		}
		info := must[*descope.AuthenticationInfo](t)(ml.Verify(w.ctx, linkToken(t, w.emu, "taken@example.com", verifyURI), nil))
		kept, gone, goneDSR := w.updating, w.existing, w.existingDSR
		if useExisting {
			kept, gone, goneDSR = w.existing, w.updating, w.updatingDSR
		}
		if info.User.UserID != kept.UserID || w.emu.UserCount() != 1 {
			t.Fatalf("useExisting=%v: verify signed in %s, %d users; want %s alone", useExisting, info.User.UserID, w.emu.UserCount(), kept.UserID)
		}
		if _, ok := w.emu.User(gone.UserID); ok {
			t.Fatalf("useExisting=%v: the merged user was not deleted", useExisting)
		}
		if !slices.Contains(info.User.LoginIDs, "taken@example.com") || !slices.Contains(info.User.LoginIDs, "anon-1") {
			t.Fatalf("useExisting=%v: login IDs %v", useExisting, info.User.LoginIDs)
		}
		wantLoggedOut(t, w.sdk, w.ctx, goneDSR)
	}
}

func TestMagicLinkSignInUpAndExpiry(t *testing.T) {
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	emu, sdk, ctx := setup(t, descopetest.WithClock(clk.Now), descopetest.WithMagicLinkTTL(time.Minute))
	ml := sdk.Auth.MagicLink()

	_, err := ml.SignIn(ctx, descope.MethodEmail, "ada@example.com", verifyURI, nil, nil)
	wantCode(t, err, "E062108", http.StatusBadRequest)

	must[string](t)(ml.SignUp(ctx, descope.MethodEmail, "ada@example.com", verifyURI, &descope.User{Name: "Ada", Email: "ada@example.com"}, nil))
	if emu.UserCount() != 0 {
		t.Fatal("sign-up created the user before the link was used")
	}
	info := must[*descope.AuthenticationInfo](t)(ml.Verify(ctx, linkToken(t, emu, "ada@example.com", verifyURI), nil))
	if !info.FirstSeen || info.User.Name != "Ada" || !info.User.VerifiedEmail {
		t.Fatalf("sign-up = %+v", info.User)
	}
	_, err = ml.SignUp(ctx, descope.MethodEmail, "ada@example.com", verifyURI, &descope.User{Email: "ada@example.com"}, nil)
	wantCode(t, err, "E062107", http.StatusBadRequest)

	// Sending a second link leaves the first one valid (OpenAPI), each
	// until it is used or expires.
	must[string](t)(ml.SignIn(ctx, descope.MethodEmail, "ada@example.com", verifyURI, nil, nil))
	first := linkToken(t, emu, "ada@example.com", verifyURI)
	must[string](t)(ml.SignUpOrIn(ctx, descope.MethodEmail, "ada@example.com", verifyURI, nil))
	second := linkToken(t, emu, "ada@example.com", verifyURI)
	for _, tok := range []string{first, second} {
		again := must[*descope.AuthenticationInfo](t)(ml.Verify(ctx, tok, nil))
		if again.FirstSeen || again.User.UserID != info.User.UserID {
			t.Fatalf("sign-in = %+v", again)
		}
	}

	must[string](t)(ml.SignIn(ctx, descope.MethodEmail, "ada@example.com", verifyURI, nil, nil))
	late := linkToken(t, emu, "ada@example.com", verifyURI)
	clk.Add(time.Minute)
	_, err = ml.Verify(ctx, late, nil)
	wantCode(t, err, "E061102", http.StatusBadRequest)

	// Sign-up-or-in by SMS creates a user with the phone as login ID.
	must[string](t)(ml.SignUpOrIn(ctx, descope.MethodSMS, "+15550001111", verifyURI, nil))
	sms := must[*descope.AuthenticationInfo](t)(ml.Verify(ctx, linkToken(t, emu, "+15550001111", verifyURI), nil))
	if !sms.FirstSeen || sms.User.Phone != "+15550001111" || !sms.User.VerifiedPhone {
		t.Fatalf("sms sign-up-or-in = %+v", sms.User)
	}
}

func TestMagicLinkURI(t *testing.T) {
	emu, sdk, ctx := setup(t, descopetest.WithApprovedDomains("example.com"))
	ml := sdk.Auth.MagicLink()
	_, err := ml.SignUpOrIn(ctx, descope.MethodEmail, "a@example.com", "", nil)
	wantCode(t, err, "E011002", http.StatusBadRequest)
	_, err = ml.SignUpOrIn(ctx, descope.MethodEmail, "a@example.com", "https://evil.test/verify", nil)
	wantCode(t, err, "E011003", http.StatusBadRequest)
	_, err = ml.SignUpOrIn(ctx, descope.MethodEmail, "a@example.com", "/relative", nil)
	wantCode(t, err, "E011003", http.StatusBadRequest)
	// A subdomain of an approved domain, with a query of its own.
	must[string](t)(ml.SignUpOrIn(ctx, descope.MethodEmail, "a@example.com", "https://app.example.com/v?next=%2Fhome", nil))
	link, _ := emu.OutboxLink("a@example.com")
	u, _ := url.Parse(link)
	if u.Query().Get("next") != "/home" || u.Query().Get("t") == "" {
		t.Fatalf("link = %q", link)
	}

	// The project's URI applies when a call sends none.
	emu2, sdk2, _ := setup(t, descopetest.WithMagicLinkURI(verifyURI))
	must[string](t)(sdk2.Auth.MagicLink().SignUpOrIn(ctx, descope.MethodEmail, "b@example.com", "", nil))
	tok := linkToken(t, emu2, "b@example.com", verifyURI)

	// The link outbox over HTTP.
	status, body := rawCall(t, emu2, http.MethodGet, "/emulator/v1/outbox/link?address=B@example.com", "", "")
	if status != http.StatusOK || body["token"] != tok || !strings.HasPrefix(body["link"].(string), verifyURI+"?t=") {
		t.Fatalf("link outbox endpoint: %d %v", status, body)
	}
	status, body = rawCall(t, emu2, http.MethodGet, "/emulator/v1/outbox/link?address=nobody@example.com", "", "")
	if status != http.StatusNotFound || body["errorCode"] == nil {
		t.Fatalf("link outbox without link: %d %v", status, body)
	}
}
