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
//
// On a response on which m set identity cookies (a new visitor, a refresh),
// the writer under c.Response() is wrapped so that
// [anonymous.PreventSharedCaching] runs just before the header is written
// (by WriteHeader, Write or a flush), and no Cache-Control the next handler
// sets lets a shared cache keep the visitor's cookies; every other response
// is left as it is.
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
			res := c.Response()
			h := res.Header()
			cookies := len(h["Set-Cookie"])
			r, ok := process(res, c.Request())
			if !ok {
				return nil
			}
			c.SetRequest(r)
			if len(h["Set-Cookie"]) != cookies {
				// A wrapped writer rather than a Response.Before function:
				// echo's Flush writes the header without running those.
				res.Writer = &privateWriter{ResponseWriter: res.Writer}
			}
			return next(c)
		}
	}
}

// privateWriter applies [anonymous.PreventSharedCaching] before the final
// header is written. http.ResponseController (which echo's Flush and Hijack
// use) finds FlushError, and the wrapped writer through Unwrap.
type privateWriter struct {
	http.ResponseWriter
	sent bool
}

func (w *privateWriter) guard() {
	if !w.sent {
		w.sent = true
		anonymous.PreventSharedCaching(w.Header())
	}
}

func (w *privateWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		anonymous.PreventSharedCaching(w.Header()) // informational: the final header comes later
	} else {
		w.guard()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *privateWriter) Write(b []byte) (int, error) {
	w.guard()
	return w.ResponseWriter.Write(b)
}

// FlushError flushes the wrapped writer once the header is guarded.
func (w *privateWriter) FlushError() error {
	w.guard()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *privateWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// User returns the user the middleware identified for c, if any. It is the
// same user [anonymous.FromContext](c.Request().Context()) returns.
func User(c echo.Context) (*anonymous.User, bool) {
	if c == nil || c.Request() == nil {
		return nil, false
	}
	return anonymous.FromContext(c.Request().Context())
}
