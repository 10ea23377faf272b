package descopetest_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/descope/go-sdk/descope"

	"github.com/descope-contrib/anonymous/descopetest"
)

// A signed-in user adds an email by magic link; the link lands in the
// outbox.
func ExampleEmulator_OutboxLink() {
	emu := descopetest.New()
	defer emu.Close()
	sdk, err := emu.Client()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	signedIn, err := sdk.Management.JWT().SignUpOrIn(ctx, "visitor-1", nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: descope.RefreshCookieName, Value: signedIn.RefreshToken.JWT})

	opts := &descope.UpdateOptions{AddToLoginIDs: true}
	if _, err := sdk.Auth.MagicLink().UpdateUserEmail(ctx, "visitor-1", "ada@example.com", "https://app.example.com/verify", opts, r); err != nil {
		log.Fatal(err)
	}
	link, _ := emu.OutboxLink("ada@example.com")
	u, _ := url.Parse(link)
	info, err := sdk.Auth.MagicLink().Verify(ctx, u.Query().Get("t"), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.Host+u.Path, info.User.LoginIDs, info.User.VerifiedEmail)
	// Output: app.example.com/verify [visitor-1 ada@example.com] true
}

// A signed-in user registers a passkey, then signs in with it, with a
// software authenticator in place of a browser.
func ExampleAuthenticator() {
	emu := descopetest.New()
	defer emu.Close()
	sdk, err := emu.Client()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	signedIn, err := sdk.Management.JWT().SignUpOrIn(ctx, "visitor-1", nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: descope.RefreshCookieName, Value: signedIn.RefreshToken.JWT})
	const origin = "https://app.example.com"
	auth := descopetest.NewAuthenticator()

	start, err := sdk.Auth.WebAuthn().UpdateUserDeviceStart(ctx, "visitor-1", origin, r)
	if err != nil {
		log.Fatal(err)
	}
	created, err := auth.Create(start.Options, origin)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := sdk.Auth.WebAuthn().UpdateUserDeviceFinish(ctx, &descope.WebAuthnFinishRequest{TransactionID: start.TransactionID, Response: created}, nil); err != nil {
		log.Fatal(err)
	}

	in, err := sdk.Auth.WebAuthn().SignInStart(ctx, "visitor-1", origin, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	asserted, err := auth.Get(in.Options, origin)
	if err != nil {
		log.Fatal(err)
	}
	info, err := sdk.Auth.WebAuthn().SignInFinish(ctx, &descope.WebAuthnFinishRequest{TransactionID: in.TransactionID, Response: asserted}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.SessionToken.ID == signedIn.SessionToken.ID, info.SessionToken.Claims["amr"])
	// Output: true [webauthn]
}
