package anonecho

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/descope-contrib/anonymous"
)

// Middleware returns echo middleware that runs m in front of the next
// handler. Identity logic, cookies and the error hook are all m's: the
// adapter only hands m's updated request to the next handler, returns that
// handler's error, and does not call it when m ended the request itself (its
// error hook wrote a response). Unlike echo.WrapMiddleware(m.Handler), it
// builds the wrapped handler once rather than on every request. m must come
// from anonymous.New; with a nil m every request fails with 500.
func Middleware(m *anonymous.Middleware) echo.MiddlewareFunc {
	if m == nil {
		return func(echo.HandlerFunc) echo.HandlerFunc {
			return func(echo.Context) error { return echo.ErrInternalServerError }
		}
	}
	h := m.Handler(http.HandlerFunc(proceed))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			w := &chainWriter{ResponseWriter: c.Response(), c: c, next: next}
			h.ServeHTTP(w, c.Request())
			return w.err
		}
	}
}

// User returns the user the middleware identified for c, if any. It is the
// same user anonymous.FromContext(c.Request().Context()) returns.
func User(c echo.Context) (*anonymous.User, bool) {
	if c == nil || c.Request() == nil {
		return nil, false
	}
	return anonymous.FromContext(c.Request().Context())
}

// chainWriter carries the echo context and the next handler through the core
// middleware to proceed, so the handler wrapped by the core is built once.
type chainWriter struct {
	http.ResponseWriter
	c    echo.Context
	next echo.HandlerFunc
	err  error
}

// Unwrap returns echo's response, for http.ResponseController.
func (w *chainWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// proceed is the continuation the core middleware calls once it is done with
// the request: it swaps r (which carries the user) into the echo context and
// calls the next handler.
func proceed(w http.ResponseWriter, r *http.Request) {
	cw := chainWriterOf(w)
	if cw == nil {
		// The core replaced the writer without a way back to ours.
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	cw.c.SetRequest(r)
	cw.err = cw.next(cw.c)
}

// chainWriterOf finds the chainWriter in w, unwrapping writers that wrap it.
func chainWriterOf(w http.ResponseWriter) *chainWriter {
	for {
		switch x := w.(type) {
		case *chainWriter:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}
