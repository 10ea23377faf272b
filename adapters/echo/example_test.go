package anonecho_test

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/descope-contrib/anonymous"
	anonecho "github.com/descope-contrib/anonymous/adapters/echo"
)

// anon is the middleware, built once at start-up from the project's Descope
// client:
//
//	anon, err := anonymous.New(descopeClient)
var anon *anonymous.Middleware

// The middleware in an echo server: anonecho.Middleware in the chain, User
// in the handlers, and the conversion handlers wrapped with
// echo.WrapHandler. The module's tests run the middleware's whole behaviour
// table through a server built this way.
func Example() {
	e := echo.New()
	e.Use(anonecho.Middleware(anon))
	e.GET("/", func(c echo.Context) error {
		u, ok := anonecho.User(c)
		if !ok {
			return echo.ErrUnauthorized
		}
		return c.String(http.StatusOK, fmt.Sprintf("hello %s (anonymous: %v)", u.ID, u.Anonymous))
	})
	e.POST("/convert/start", echo.WrapHandler(anon.ConvertStartHandler()))
	e.POST("/convert/verify", echo.WrapHandler(anon.ConvertVerifyHandler()))
	_ = e.Start(":8080")
}
