package anongin

import (
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
	return func(c *gin.Context) {
		r, ok := m.Process(c.Writer, c.Request)
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
