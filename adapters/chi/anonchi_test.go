package anonchi_test

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
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
	env := anontest.NewEnv(t, native, nil)
	b := env.Browser(t)
	first := env.Get(t, b, "/whoami")
	if first.Status != http.StatusOK || first.UserID == "" || !first.New || !first.Anonymous {
		t.Fatalf("first visit: %+v", first)
	}
	if again := env.Get(t, b, "/whoami"); again.UserID != first.UserID || again.New {
		t.Fatalf("second visit: %+v", again)
	}
	me := env.Convert(t, b, "chi@example.com")
	if me.Status != http.StatusOK || me.UserID != first.UserID || me.Anonymous {
		t.Fatalf("verify: %+v", me)
	}
	after := env.Get(t, b, "/whoami")
	if after.UserID != first.UserID || after.Anonymous || after.New {
		t.Errorf("after conversion: %+v", after)
	}
}

func TestErrorResponseStopsChain(t *testing.T) {
	var reached atomic.Int32
	mountCounting := func(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
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
	env := anontest.NewEnv(t, mountCounting, nil, anonymous.WithErrorHandler(anonymous.FailClosed))
	env.Emu.InjectFault("/v1/mgmt/user/create", descopetest.Fault{Status: 500})
	me := env.Get(t, env.Browser(t), "/whoami")
	if me.Status != http.StatusServiceUnavailable || len(me.SetCookie) != 0 {
		t.Errorf("fail-closed: %+v", me)
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the chain went on %d times after the error hook answered", n)
	}
}
