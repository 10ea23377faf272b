// Package anongin runs the anonymous middleware in a gin engine.
//
// Middleware runs the core middleware's Handler in front of the rest of the
// gin chain: it identifies, refreshes or provisions the visitor, writes the
// cookies, and hands the updated *http.Request (carrying the user) to the
// following handlers. The user is then reachable both the gin way, with User,
// and the net/http way, with [anonymous.FromContext](c.Request.Context()). When
// the error hook set by [anonymous.WithErrorHandler] writes a response (for
// example [anonymous.FailClosed]), the chain is aborted there.
//
//	anon, err := anonymous.New(client)
//	if err != nil { ... }
//	r := gin.New()
//	r.Use(anongin.Middleware(anon))
//	r.GET("/", func(c *gin.Context) {
//		if u, ok := anongin.User(c); ok {
//			c.String(http.StatusOK, "hello %s (anonymous: %v)", u.ID, u.Anonymous)
//		}
//	})
//	r.POST("/convert/start", gin.WrapH(anon.ConvertStartHandler()))
//	r.POST("/convert/verify", gin.WrapH(anon.ConvertVerifyHandler()))
//	r.Run(":8080")
//
// In lazy mode ([anonymous.WithLazy]), a handler that needs an identity calls
// anon.Ensure(c.Writer, c.Request) before writing its response.
//
// The package lives in its own module, so the core module does not depend on
// gin.
package anongin
