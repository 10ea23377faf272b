package anonecho_test

import (
	"errors"
	"net/http"
	"os"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/descope-contrib/anonymous"
	anonecho "github.com/descope-contrib/anonymous/adapters/echo"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// mount serves the echo way: GET /whoami reads the user with User, the
// conversion handlers are wrapped with echo.WrapHandler, and every other
// route goes to app.
func mount(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
	e := echo.New()
	e.Use(anonecho.Middleware(m))
	e.GET("/whoami", func(c echo.Context) error {
		u, ok := anonecho.User(c)
		return c.JSON(anontest.WhoAmI(c.Request(), u, ok))
	})
	e.POST("/convert/start", echo.WrapHandler(m.ConvertStartHandler()))
	e.POST("/convert/verify", echo.WrapHandler(m.ConvertVerifyHandler()))
	e.Any("/*", echo.WrapHandler(app))
	return e
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

// mountPerRoute serves /quiet/* in a group behind Identify, and /whoami and
// every other path behind Middleware on their own routes (no server-wide
// middleware).
func mountPerRoute(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
	e := echo.New()
	quiet := e.Group("/quiet", anonecho.Identify(m))
	quiet.Any("/*", echo.WrapHandler(http.StripPrefix("/quiet", app)))
	e.GET("/whoami", func(c echo.Context) error {
		u, ok := anonecho.User(c)
		return c.JSON(anontest.WhoAmI(c.Request(), u, ok))
	}, anonecho.Middleware(m))
	e.Any("/*", echo.WrapHandler(app), anonecho.Middleware(m))
	return e
}

func TestIdentifyPerRoute(t *testing.T) {
	anontest.RunPerRoute(t, mountPerRoute)
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

func BenchmarkKnownVisitor(b *testing.B) {
	anontest.BenchKnownVisitor(b, mount)
}
