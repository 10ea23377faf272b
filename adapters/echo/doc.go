// Package anonecho runs the anonymous middleware in an echo (v4) server.
//
// Middleware runs the core middleware's Handler in front of the next echo
// handler: it identifies, refreshes or provisions the visitor, writes the
// cookies, and hands the updated *http.Request (carrying the user) to the
// next handler with c.SetRequest. The user is then reachable both the echo
// way, with User, and the net/http way, with
// [anonymous.FromContext](c.Request().Context()). When the error hook set by
// [anonymous.WithErrorHandler] writes a response (for example
// [anonymous.FailClosed]), the next handler is not called.
//
//	anon, err := anonymous.New(client)
//	if err != nil { ... }
//	e := echo.New()
//	e.Use(anonecho.Middleware(anon))
//	e.GET("/", func(c echo.Context) error {
//		u, ok := anonecho.User(c)
//		if !ok {
//			return echo.ErrUnauthorized
//		}
//		return c.String(http.StatusOK, "hello "+u.ID)
//	})
//	e.POST("/convert/start", echo.WrapHandler(anon.ConvertStartHandler()))
//	e.POST("/convert/verify", echo.WrapHandler(anon.ConvertVerifyHandler()))
//	e.Start(":8080")
//
// In lazy mode ([anonymous.WithLazy]), a handler that needs an identity calls
// anon.Ensure(c.Response(), c.Request()) before writing its response.
//
// The package lives in its own module, so the core module does not depend on
// echo.
package anonecho
