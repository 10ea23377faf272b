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
		r, ok := process(c.Writer, c.Request)
		if !ok {
			c.Abort()
			return
		}
		c.Request = r
		c.Next()
	}
}

// User returns the user the middleware identified for c, if any. It is the
// same user [anonymous.FromContext](c.Request.Context()) returns.
func User(c *gin.Context) (*anonymous.User, bool) {
	if c == nil || c.Request == nil {
		return nil, false
	}
	return anonymous.FromContext(c.Request.Context())
}
