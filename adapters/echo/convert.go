package anonecho

import (
	"github.com/labstack/echo/v4"

	"github.com/descope-contrib/anonymous"
)

// ConvertStart returns m's conversion start handler (see
// (*anonymous.Middleware).ConvertStartHandler) as an echo handler: POST
// {"email": …} or {"phone": …} sends a one-time code. Mount it behind
// Middleware.
func ConvertStart(m *anonymous.Middleware) echo.HandlerFunc {
	return echo.WrapHandler(m.ConvertStartHandler())
}

// ConvertVerify returns m's conversion verify handler (see
// (*anonymous.Middleware).ConvertVerifyHandler) as an echo handler: POST the
// address and the code to turn the anonymous user into a regular one, same
// user ID, fresh cookies. Mount it behind Middleware.
func ConvertVerify(m *anonymous.Middleware) echo.HandlerFunc {
	return echo.WrapHandler(m.ConvertVerifyHandler())
}
