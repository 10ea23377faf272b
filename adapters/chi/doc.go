// Package anonchi is the proof that the anonymous middleware needs no glue in
// a chi (v5) router: chi middleware is func(http.Handler) http.Handler, which
// is exactly what [anonymous.Middleware.Handler] is, and chi handlers are
// net/http handlers, so [anonymous.FromContext](r.Context()) reads the user and
// the conversion handlers mount as they are.
//
//	anon, err := anonymous.New(client)
//	if err != nil { ... }
//	r := chi.NewRouter()
//	r.Use(anon.Handler)
//	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
//		if u, ok := anonymous.FromContext(r.Context()); ok {
//			fmt.Fprintf(w, "hello %s (anonymous: %v)", u.ID, u.Anonymous)
//		}
//	})
//	r.Method(http.MethodPost, "/convert/start", anon.ConvertStartHandler())
//	r.Method(http.MethodPost, "/convert/verify", anon.ConvertVerifyHandler())
//	http.ListenAndServe(":8080", r)
//
// The package has no API of its own: there is nothing to import. Its module
// holds the tests that run the middleware's whole behaviour table through a
// chi router, and the example above, without making the core module depend
// on chi.
package anonchi
