package anonchi_test

import (
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/descope-contrib/anonymous"
)

// anon is the middleware, built once at start-up from the project's Descope
// client:
//
//	anon, err := anonymous.New(descopeClient)
var anon *anonymous.Middleware

// The middleware in a chi router: r.Use(anon.Handler), nothing else, and
// the conversion handlers mounted as they are. The adapters' tests run the
// middleware's whole behaviour table through a router built this way.
func Example() {
	r := chi.NewRouter()
	r.Use(anon.Handler)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		if u, ok := anonymous.FromContext(r.Context()); ok {
			fmt.Fprintf(w, "hello %s (anonymous: %v)", u.ID, u.Anonymous)
		}
	})
	r.Method(http.MethodPost, "/convert/start", anon.ConvertStartHandler())
	r.Method(http.MethodPost, "/convert/verify", anon.ConvertVerifyHandler())
	_ = http.ListenAndServe(":8080", r)
}
