package anongin

import (
	"github.com/gin-gonic/gin"

	"github.com/descope-contrib/anonymous"
)

// ConvertStart returns m's conversion start handler (see
// (*anonymous.Middleware).ConvertStartHandler) as a gin handler: POST
// {"email": …} or {"phone": …} sends a one-time code. Mount it behind
// Middleware.
func ConvertStart(m *anonymous.Middleware) gin.HandlerFunc {
	return gin.WrapH(m.ConvertStartHandler())
}

// ConvertVerify returns m's conversion verify handler (see
// (*anonymous.Middleware).ConvertVerifyHandler) as a gin handler: POST the
// address and the code to turn the anonymous user into a regular one, same
// user ID, fresh cookies. Mount it behind Middleware.
func ConvertVerify(m *anonymous.Middleware) gin.HandlerFunc {
	return gin.WrapH(m.ConvertVerifyHandler())
}
