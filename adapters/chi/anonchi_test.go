package anonchi_test

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// mount routes every path and method through the middleware to app, the chi
// way: r.Use(m.Handler).
func mount(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
	r := chi.NewRouter()
	r.Use(m.Handler)
	r.Handle("/*", app)
	return r
}

func TestBehaviour(t *testing.T) {
	anontest.Run(t, mount)
}

// native mounts the chi way: chi routes per method, the conversion handlers
// as they are.
func native(_ testing.TB, m *anonymous.Middleware, _ http.Handler) http.Handler {
	r := chi.NewRouter()
	r.Use(m.Handler)
	r.Get("/whoami", func(w http.ResponseWriter, r *http.Request) {
		u, ok := anonymous.FromContext(r.Context())
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"userId": u.ID, "anonymous": u.Anonymous, "new": u.New, "loginIds": u.LoginIDs})
	})
	r.Method(http.MethodPost, "/convert/start", m.ConvertStartHandler())
	r.Method(http.MethodPost, "/convert/verify", m.ConvertVerifyHandler())
	return r
}

func TestUserAndConversion(t *testing.T) {
	anontest.UserAndConversion(t, native, "chi@example.com")
}

func TestErrorResponseStopsChain(t *testing.T) {
	anontest.ErrorHookEndsChain(t, func(reached *atomic.Int32) anontest.Mount {
		return func(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
			r := chi.NewRouter()
			r.Use(m.Handler, func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					reached.Add(1)
					next.ServeHTTP(w, r)
				})
			})
			r.Handle("/*", app)
			return r
		}
	})
}
