// Package descopetest emulates the Descope HTTP API in process, so that code
// using the real go-sdk client (github.com/descope/go-sdk) can be tested
// without reaching Descope.
//
// An Emulator holds one project: users, tenants with session settings,
// issued refresh tokens and one-time codes. It signs RS256 tokens that the
// SDK validates against the emulator's JWKS, and answers with Descope's
// error bodies and codes.
//
//	func TestSignIn(t *testing.T) {
//		emu := descopetest.New()
//		t.Cleanup(emu.Close)
//		sdk := emu.MustClient(t)
//
//		ctx := context.Background()
//		if _, err := sdk.Management.User().Create(ctx, "ada@example.com", &descope.UserRequest{}); err != nil {
//			t.Fatal(err)
//		}
//		info, err := sdk.Management.JWT().SignIn(ctx, "ada@example.com", nil)
//		if err != nil {
//			t.Fatal(err)
//		}
//		ok, token, err := sdk.Auth.ValidateSessionWithToken(ctx, info.SessionToken.JWT)
//		if !ok || err != nil || token.ProjectID != emu.ProjectID {
//			t.Fatalf("validate: %v %v", ok, err)
//		}
//	}
//
// Besides the API, an Emulator has test controls: Outbox reads the one-time
// codes it "sent", OutboxLink the magic links, InjectFault makes paths fail,
// slow or drop the connection, Requests and RequestLog count what arrived,
// User and SetUserCreatedTime read and seed users, SignToken forges tokens
// with the emulator's key. OAuth authorize calls answer the URL of a page
// the emulator serves as the provider, where a test (or a browser) picks an
// account or denies; Authenticator answers passkey ceremonies without a
// browser.
//
// The emulator does what Descope documents, even where that is inconvenient
// for a library, and where Descope's documents are silent it picks the least
// convenient plausible answer; each such choice is described where it is
// made. So: verifying an OTP email or phone update with addToLoginIDs onto
// another user's login ID merges the two users and deletes one; the code of
// an update verifies only under the user's existing login ID; users made by
// management create stay "invited" until their first sign-in; tenant
// session settings refuse a session lifetime under 3 minutes (MinSessionTTL,
// unless WithSecondsUnit) or over the refresh lifetime, and a member of
// several tenants gets the shorter of each lifetime; user search sorts by
// createdTime or modifiedTime when asked, and otherwise in a stable order
// that is not creation order; with refresh rotation, presenting a
// rotated-out refresh token revokes its whole session.
//
// Implemented endpoints: license; keys; password sign-up, sign-in, replace
// and update; refresh (with optional rotation), try-refresh, logout, logout
// all, me; OTP sign-in, sign-up, sign-up-or-in, verify, and update email
// and phone; magic link sign-in, sign-up, sign-up-or-in, update email and
// phone, and verify; OAuth authorize (sign-up-or-in, sign-in, sign-up,
// update) and exchange; WebAuthn update, sign-in, sign-up and sign-up-or-in;
// tenant select; management user create (also test users and batch), load,
// update, patch, add and remove tenant, update status, login ID, email and
// phone, search (v2, and of test users), delete, delete batch, delete test
// users, log out; management JWT sign-in, sign-up, sign-up-or-in, anonymous
// and update; tenant create, update, delete, load, load all, search and
// settings. Flows (/v1/flow/...) are not a public API: they answer 501 with
// an error naming the route. Other paths answer 404 with a Descope error
// body.
//
// Descope's JavaScript SDKs are served as well as go-sdk: the conformance
// suite in the repository runs @descope/node-sdk 2.13.0, core-js-sdk
// 2.71.0 and web-js-sdk 1.53.0 against the descope-emulator command. So
// every authentication answer carries sessionExpiration, cookieName and
// claims beside the cookie fields; user patch takes node-sdk's field names
// (displayName, additionalIdentifiers) as well as go-sdk's; refresh,
// try-refresh, me, logout and logout all take the refresh token from the
// DSR cookie (or the cookie x-descope-refresh-cookie-name names) when the
// Authorization header carries only the project ID; and pages on a loopback
// origin, or one given to WithAllowedOrigins, may call /v1/auth/... across
// origins with credentials (CORS).
//
// The descope-emulator command (cmd/descope-emulator) serves an emulator on
// a TCP address, for tests in other languages or by hand.
package descopetest
