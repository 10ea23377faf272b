package anonchi_test

import (
	"net/http"
	"os"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// mount serves the chi way, with nothing in between: r.Use(m.Handler),
// GET /whoami reading the user with anonymous.FromContext, the conversion
// handlers as they are, and every other route through app.
func mount(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
	r := chi.NewRouter()
	r.Use(m.Handler)
	r.Get("/whoami", func(w http.ResponseWriter, r *http.Request) {
		u, ok := anonymous.FromContext(r.Context())
		status, body := anontest.WhoAmI(r, u, ok)
		anontest.WriteJSON(w, status, body)
	})
	r.Method(http.MethodPost, "/convert/start", m.ConvertStartHandler())
	r.Method(http.MethodPost, "/convert/verify", m.ConvertVerifyHandler())
	r.Handle("/*", app)
	return r
}

// TestMain runs the wall-clock-bound tests eight at a time (see
// anontest.DefaultParallel).
func TestMain(m *testing.M) {
	anontest.DefaultParallel(8)
	os.Exit(m.Run())
}

func TestAdapter(t *testing.T) {
	anontest.RunAdapter(t, mount)
}

// mountPerRoute serves /quiet/* in a group with m.Identify and everything
// else in a group with m.Handler, the chi way: chi's middleware is per group
// or per route, so each group picks its own.
func mountPerRoute(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
	r := chi.NewRouter()
	r.Group(func(r chi.Router) {
		r.Use(m.Identify)
		r.Handle("/quiet/*", http.StripPrefix("/quiet", app))
	})
	r.Group(func(r chi.Router) {
		r.Use(m.Handler)
		r.Handle("/*", app)
	})
	return r
}

func TestIdentifyPerRoute(t *testing.T) {
	anontest.RunPerRoute(t, mountPerRoute)
}

func BenchmarkKnownVisitor(b *testing.B) {
	anontest.BenchKnownVisitor(b, mount)
}
