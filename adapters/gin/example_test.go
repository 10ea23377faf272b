package anongin_test

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/descope-contrib/anonymous"
	anongin "github.com/descope-contrib/anonymous/adapters/gin"
)

// anon is the middleware, built once at start-up from the project's Descope
// client:
//
//	anon, err := anonymous.New(descopeClient)
var anon *anonymous.Middleware

// The middleware on a gin route group: the shop's routes get a visitor
// identity (User reads it), the health check and static files do not. The
// conversion handlers are wrapped with gin.WrapH. The module's tests run the
// middleware's whole behaviour table through gin.
func Example() {
	r := gin.New()
	r.GET("/healthz", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	r.Static("/assets", "./assets")

	shop := r.Group("/shop", anongin.Middleware(anon))
	shop.GET("/cart", func(c *gin.Context) {
		if u, ok := anongin.User(c); ok {
			c.JSON(http.StatusOK, gin.H{"cartOf": u.ID, "anonymous": u.Anonymous})
		}
	})
	shop.POST("/convert/start", gin.WrapH(anon.ConvertStartHandler()))
	shop.POST("/convert/verify", gin.WrapH(anon.ConvertVerifyHandler()))
	_ = r.Run(":8080")
}
