package descopetest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/descope/go-sdk/descope"

	"github.com/descope-contrib/anonymous/descopetest"
)

func Example() {
	emu := descopetest.New()
	defer emu.Close()
	sdk, err := emu.Client()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// A visitor gets an anonymous session: no user record.
	anon, err := sdk.Management.JWT().Anonymous(ctx, nil, "", 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("anonymous:", anon.SessionToken.Claims["danu"], "users:", emu.UserCount())

	// Then signs up with an email one-time code, read from the outbox.
	if _, err := sdk.Auth.OTP().SignUpOrIn(ctx, descope.MethodEmail, "ada@example.com", nil); err != nil {
		log.Fatal(err)
	}
	code, _ := emu.Outbox("ada@example.com")
	info, err := sdk.Auth.OTP().VerifyCode(ctx, descope.MethodEmail, "ada@example.com", code, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first seen:", info.FirstSeen, "verified:", info.User.VerifiedEmail)

	// Descope has a bad moment.
	emu.InjectFault("/v1/auth/refresh", descopetest.Fault{Status: 502, Times: 1})
	_, _, err = sdk.Auth.RefreshSessionWithToken(ctx, info.RefreshToken.JWT)
	fmt.Println("refresh failed:", descope.AsError(err).Info[descope.ErrorInfoKeys.HTTPResponseStatusCode])
	ok, _, _ := sdk.Auth.RefreshSessionWithToken(ctx, info.RefreshToken.JWT)
	fmt.Println("refresh retried:", ok, "requests:", emu.Requests("/v1/auth/refresh"))

	// Output:
	// anonymous: true users: 0
	// first seen: true verified: true
	// refresh failed: 502
	// refresh retried: true requests: 2
}
