package anonecho_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/descope-contrib/anonymous"
	anonecho "github.com/descope-contrib/anonymous/adapters/echo"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// mount routes every path and method through the echo middleware to app.
func mount(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
	e := echo.New()
	e.Use(anonecho.Middleware(m))
	e.Any("/*", echo.WrapHandler(app))
	return e
}

func TestBehaviour(t *testing.T) {
	anontest.Run(t, mount)
}

// native mounts the echo way: an echo handler reading the user with User,
// and the conversion handlers as echo handlers.
func native(_ testing.TB, m *anonymous.Middleware, _ http.Handler) http.Handler {
	e := echo.New()
	e.Use(anonecho.Middleware(m))
	e.GET("/whoami", func(c echo.Context) error {
		u, ok := anonecho.User(c)
		fromCtx, ok2 := anonymous.FromContext(c.Request().Context())
		if ok != ok2 || u != fromCtx {
			return c.String(http.StatusInternalServerError, "User and FromContext disagree")
		}
		if !ok {
			return echo.ErrUnauthorized
		}
		return c.JSON(http.StatusOK, map[string]any{"userId": u.ID, "anonymous": u.Anonymous, "new": u.New, "loginIds": u.LoginIDs})
	})
	e.POST("/convert/start", echo.WrapHandler(m.ConvertStartHandler()))
	e.POST("/convert/verify", echo.WrapHandler(m.ConvertVerifyHandler()))
	return e
}

func TestUserAndConversion(t *testing.T) {
	anontest.UserAndConversion(t, native, "echo@example.com")
}

func TestErrorResponseStopsChain(t *testing.T) {
	anontest.ErrorHookEndsChain(t, func(reached *atomic.Int32) anontest.Mount {
		return func(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
			e := echo.New()
			e.Use(anonecho.Middleware(m))
			e.Any("/*", func(c echo.Context) error {
				reached.Add(1)
				app.ServeHTTP(c.Response(), c.Request())
				return nil
			})
			return e
		}
	})
}

func TestHandlerErrorReachesEcho(t *testing.T) {
	boom := errors.New("boom")
	var seen error
	mountErr := func(_ testing.TB, m *anonymous.Middleware, _ http.Handler) http.Handler {
		e := echo.New()
		e.HTTPErrorHandler = func(err error, c echo.Context) {
			seen = err
			_ = c.NoContent(http.StatusTeapot)
		}
		e.Use(anonecho.Middleware(m))
		e.GET("/whoami", func(echo.Context) error { return boom })
		return e
	}
	env := anontest.NewEnv(t, mountErr, nil)
	me := env.Get(t, env.Browser(t), "/whoami")
	if me.Status != http.StatusTeapot || !errors.Is(seen, boom) {
		t.Errorf("status %d, error handler saw %v", me.Status, seen)
	}
	if len(me.SetCookie) != 2 {
		t.Errorf("the error response lost the new visitor's cookies: %v", me.SetCookie)
	}
}

func TestNilMiddleware(t *testing.T) {
	e := echo.New()
	e.Use(anonecho.Middleware(nil))
	e.GET("/", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("nil middleware answered %d", rec.Code)
	}
}

// BenchmarkKnownVisitor measures a request whose session token is already
// verified and cached: the common case.
func BenchmarkKnownVisitor(b *testing.B) {
	env := anontest.NewEnv(b, mount, nil)
	client := env.Browser(b)
	env.Get(b, client, "/whoami")
	ds := env.Cookie(client, "DS")
	e := echo.New()
	e.Use(anonecho.Middleware(env.MW))
	e.GET("/", func(c echo.Context) error {
		if _, ok := anonecho.User(c); !ok {
			b.Fatal("no user")
		}
		return nil
	})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Cookie", "DS="+ds)
	b.ReportAllocs()
	for b.Loop() {
		e.ServeHTTP(httptest.NewRecorder(), req)
	}
}
