// Package anonymous is net/http middleware that gives every visitor an
// anonymous Descope user with no sign-up, keeps that identity alive through
// Descope's session (DS) and refresh (DSR) cookies, and later converts it into
// a regular account once the visitor verifies an email or phone: same user
// ID, so nothing the application stored under it has to move.
//
// On each request the middleware
//   - verifies a DS cookie (or Authorization: Bearer) locally against
//     Descope's keys, checking project and token type, and caches the result
//     until the token expires: no call to Descope;
//   - else trades a valid DSR cookie for a new session (one call, shared by
//     concurrent requests), writing the new cookies;
//   - else provisions an anonymous user in the "Anonymous Users" tenant (two
//     calls, no password) and writes its cookies, unless the request is a
//     cross-site one whose cookies the browser would not keep (an <img> or
//     <iframe> on another site's page): a link from another site is
//     provisioned, an embed is not.
//
// A response on which it writes cookies is kept out of shared caches
// ([PreventSharedCaching]), whatever Cache-Control the handler sets.
//
// A transient Descope failure never overwrites or clears a visitor's cookies.
//
// WithStrategy chooses how a new visitor gets an identity: [UserBacked] (the
// default, above), NativeTokens (Descope's anonymous tokens, one call and no
// user record), or LocalIDs (an ID made here, in a cookie sealed by the
// application's keys: no call to Descope until the visitor converts or is
// promoted with [Middleware.PromoteTo]).
//
//	client, err := client.NewWithConfig(&client.Config{ProjectID: pid, ManagementKey: key})
//	if err != nil { ... }
//	anon, err := anonymous.New(client)
//	if err != nil { ... }
//	mux := http.NewServeMux()
//	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
//		if u, ok := anonymous.FromContext(r.Context()); ok {
//			fmt.Fprintf(w, "hello %s (anonymous: %v)", u.ID, u.Anonymous)
//		}
//	})
//	mux.Handle("/convert/start", anon.ConvertStartHandler())
//	mux.Handle("/convert/verify", anon.ConvertVerifyHandler())
//	http.ListenAndServe(":8080", anon.Handler(mux))
//
// # Conversion
//
// [Middleware.StartConversion] sends a one-time code to an email address or
// phone number through Descope's OTP update flow, authorised by the visitor's
// refresh token, and records which address the code went to.
// [Middleware.FinishConversion] verifies the code for that address only: the
// address becomes a verified login ID of the same user, the user leaves the
// anonymous tenant and loses its random login ID, and a fresh token pair is
// issued for that user ID while the anonymous refresh token is revoked.
// [Middleware.ConvertStartHandler] and [Middleware.ConvertVerifyHandler] speak
// JSON for the same two steps, with statuses from [ErrorStatus]. They refuse
// a request from a page of another origin, even of the same site (403;
// [WithTrustedOrigins] names the origins to let in), and a body not sent as
// Content-Type: application/json (415).
//
// An address that is already another account's login ID never gets an
// update code (on Descope, verifying it would merge the accounts and delete
// one): it gets a sign-in code for that account, answered as for a new
// address, and the verify signs the returning customer in to its account
// ([WithReturningCustomers]). With [WithMerge] the merge hook moves the
// application's data and only then is the anonymous user deleted; without
// it the OnConvert hook may move the data and the anonymous user is left to
// [Middleware.Cull]. A conversion that failed half-way resumes without a code, but
// only while the visitor's refresh token is live at Descope.
//
// # Other entry points
//
// [Middleware.Ensure] provisions on demand in lazy mode ([WithLazy]), and
// behind [Middleware.Identify], which identifies and refreshes without
// provisioning, for the routes where no identity should start.
// [Middleware.Logout] revokes and clears. [FailClosed] is an error handler for
// applications that must not serve a visitor without an identity. [Cull]
// deletes anonymous users that never converted, once they are older than the
// anonymous lifetime. [WithObserver] sees every event and every call to
// Descope (the otelanon module turns them into OpenTelemetry metrics and
// spans), and [Middleware.Healthy] answers readiness probes. Package
// descopetest is an in-process emulator of the Descope API for tests.
package anonymous
