package anongin

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/descope-contrib/anonymous"
)

// Middleware returns gin middleware that runs m in front of the rest of the
// chain. Identity logic, cookies and the error hook are all m's: the adapter
// hands m's updated request to the following handlers, and aborts the chain
// when m ended the request itself (its error hook wrote a response). m must
// come from [anonymous.New]; a nil m answers every request 500, as
// [anonymous.Middleware.Process] does.
//
// The conversion handlers need no adapter:
//
//	r.POST("/convert/start", gin.WrapH(anon.ConvertStartHandler()))
//	r.POST("/convert/verify", gin.WrapH(anon.ConvertVerifyHandler()))
//
// On a response on which m set identity cookies (a new visitor, a refresh),
// the following handlers get a c.Writer that calls
// [anonymous.PreventSharedCaching] just before the header is written, so
// that no Cache-Control they set lets a shared cache keep the visitor's
// cookies; every other response is left as it is.
func Middleware(m *anonymous.Middleware) gin.HandlerFunc {
	return handler(m.Process)
}

// Identify returns gin middleware that runs m without provisioning, as
// [anonymous.Middleware.Identify] does: visitors with an identity are
// identified and refreshed, a request without one goes on with no user.
// Mount it on the routes or groups where no identity should start, and
// [Middleware] on the others:
//
//	r.GET("/", anongin.Middleware(anon), page)
//	api := r.Group("/api", anongin.Identify(anon))
//
// A handler behind it provisions on demand with
// anon.Ensure(c.Writer, c.Request). A nil m answers every request 500.
func Identify(m *anonymous.Middleware) gin.HandlerFunc {
	return handler(m.ProcessIdentify)
}

// handler runs process in front of the rest of the chain.
func handler(process func(http.ResponseWriter, *http.Request) (*http.Request, bool)) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		cookies := len(h["Set-Cookie"])
		r, ok := process(c.Writer, c.Request)
		if !ok {
			c.Abort()
			return
		}
		c.Request = r
		if len(h["Set-Cookie"]) == cookies {
			c.Next()
			return
		}
		w := &privateWriter{ResponseWriter: c.Writer}
		c.Writer = w
		c.Next()
		// gin writes a header nobody wrote after the chain, on its own
		// writer rather than c.Writer.
		w.guard()
	}
}

// privateWriter applies [anonymous.PreventSharedCaching] before gin writes
// the header: every method that may write it first.
type privateWriter struct {
	gin.ResponseWriter
}

func (w *privateWriter) guard() {
	if !w.Written() {
		anonymous.PreventSharedCaching(w.Header())
	}
}

func (w *privateWriter) WriteHeaderNow() {
	w.guard()
	w.ResponseWriter.WriteHeaderNow()
}

func (w *privateWriter) Write(b []byte) (int, error) {
	w.guard()
	return w.ResponseWriter.Write(b)
}

func (w *privateWriter) WriteString(s string) (int, error) {
	w.guard()
	return w.ResponseWriter.WriteString(s)
}

func (w *privateWriter) Flush() {
	w.guard()
	w.ResponseWriter.Flush()
}

// Unwrap returns gin's writer, for http.ResponseController.
func (w *privateWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// User returns the user the middleware identified for c, if any. It is the
// same user [anonymous.FromContext](c.Request.Context()) returns.
func User(c *gin.Context) (*anonymous.User, bool) {
	if c == nil || c.Request == nil {
		return nil, false
	}
	return anonymous.FromContext(c.Request.Context())
}
