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
//     calls, no password) and writes its cookies.
//
// A transient Descope failure never overwrites or clears a visitor's cookies.
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
// Cull deletes anonymous users that never converted, once they are older than
// the anonymous lifetime. Package descopetest is an in-process emulator of the
// Descope API for tests.
package anonymous
