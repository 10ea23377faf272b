package anongin

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/descope-contrib/anonymous"
)

// Middleware returns gin middleware that runs m in front of the rest of the
// chain. Identity logic, cookies and the error hook are all m's: the adapter
// only hands m's updated request to the following handlers, and aborts the
// chain when m ended the request itself (its error hook wrote a response).
// m must come from anonymous.New; with a nil m every request is answered 500.
func Middleware(m *anonymous.Middleware) gin.HandlerFunc {
	if m == nil {
		return func(c *gin.Context) { c.AbortWithStatus(http.StatusInternalServerError) }
	}
	h := m.Handler(http.HandlerFunc(proceed)) // built once, not per request
	return func(c *gin.Context) {
		w := &chainWriter{ResponseWriter: c.Writer, c: c}
		h.ServeHTTP(w, c.Request)
		if !w.proceeded {
			c.Abort()
		}
	}
}

// User returns the user the middleware identified for c, if any. It is the
// same user anonymous.FromContext(c.Request.Context()) returns.
func User(c *gin.Context) (*anonymous.User, bool) {
	if c == nil || c.Request == nil {
		return nil, false
	}
	return anonymous.FromContext(c.Request.Context())
}

// chainWriter carries the gin context through the core middleware to
// proceed, so the handler wrapped by the core is built once.
type chainWriter struct {
	gin.ResponseWriter
	c         *gin.Context
	proceeded bool
}

// Unwrap returns the gin writer, for http.ResponseController.
func (w *chainWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// proceed is the continuation the core middleware calls once it is done with
// the request: it swaps r (which carries the user) into the gin context and
// runs the rest of the chain.
func proceed(w http.ResponseWriter, r *http.Request) {
	cw := chainWriterOf(w)
	if cw == nil {
		// The core replaced the writer without a way back to ours.
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	cw.proceeded = true
	cw.c.Request = r
	cw.c.Next()
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
