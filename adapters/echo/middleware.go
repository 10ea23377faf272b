package anonecho

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/descope-contrib/anonymous"
)

// Middleware returns echo middleware that runs m in front of the next
// handler. Identity logic, cookies and the error hook are all m's: the
// adapter hands m's updated request to the next handler, returns that
// handler's error, and does not call it when m ended the request itself (its
// error hook wrote a response). m must come from [anonymous.New]; a nil m
// answers every request 500, as [anonymous.Middleware.Process] does.
//
// The conversion handlers need no adapter:
//
//	e.POST("/convert/start", echo.WrapHandler(anon.ConvertStartHandler()))
//	e.POST("/convert/verify", echo.WrapHandler(anon.ConvertVerifyHandler()))
func Middleware(m *anonymous.Middleware) echo.MiddlewareFunc {
	return middleware(m.Process)
}

// Identify returns echo middleware that runs m without provisioning, as
// [anonymous.Middleware.Identify] does: visitors with an identity are
// identified and refreshed, a request without one goes on with no user.
// Mount it on the routes or groups where no identity should start, and
// [Middleware] on the others:
//
//	e.GET("/", page, anonecho.Middleware(anon))
//	api := e.Group("/api", anonecho.Identify(anon))
//
// A handler behind it provisions on demand with
// anon.Ensure(c.Response(), c.Request()). A nil m answers every request 500.
func Identify(m *anonymous.Middleware) echo.MiddlewareFunc {
	return middleware(m.ProcessIdentify)
}

// middleware runs process in front of the next handler.
func middleware(process func(http.ResponseWriter, *http.Request) (*http.Request, bool)) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r, ok := process(c.Response(), c.Request())
			if !ok {
				return nil
			}
			c.SetRequest(r)
			return next(c)
		}
	}
}

// User returns the user the middleware identified for c, if any. It is the
// same user [anonymous.FromContext](c.Request().Context()) returns.
func User(c echo.Context) (*anonymous.User, bool) {
	if c == nil || c.Request() == nil {
		return nil, false
	}
	return anonymous.FromContext(c.Request().Context())
}
