package anongin_test

import (
	"net/http"
	"os"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/descope-contrib/anonymous"
	anongin "github.com/descope-contrib/anonymous/adapters/gin"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	anontest.DefaultParallel(8)
	os.Exit(m.Run())
}

// mount serves the gin way: GET /whoami reads the user with User, the
// conversion handlers are wrapped with gin.WrapH, and every other route goes
// to app. gin cannot route a catch-all beside /whoami, so app is the NoRoute
// handler, which the engine's middleware runs before too; it starts from 200
// instead of NoRoute's 404.
func mount(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
	r := gin.New()
	r.Use(anongin.Middleware(m))
	r.GET("/whoami", func(c *gin.Context) {
		u, ok := anongin.User(c)
		c.JSON(anontest.WhoAmI(c.Request, u, ok))
	})
	r.POST("/convert/start", gin.WrapH(m.ConvertStartHandler()))
	r.POST("/convert/verify", gin.WrapH(m.ConvertVerifyHandler()))
	r.NoRoute(func(c *gin.Context) {
		c.Status(http.StatusOK)
		app.ServeHTTP(c.Writer, c.Request)
	})
	return r
}

func TestAdapter(t *testing.T) {
	anontest.RunAdapter(t, mount)
}

// mountPerRoute serves /quiet/* in a group behind Identify, and /whoami and
// every other path behind Middleware, each on its own routes (no engine-wide
// middleware): NoRoute takes Middleware as its first handler.
func mountPerRoute(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
	r := gin.New()
	quiet := r.Group("/quiet", anongin.Identify(m))
	quiet.Any("/*path", gin.WrapH(http.StripPrefix("/quiet", app)))
	r.GET("/whoami", anongin.Middleware(m), func(c *gin.Context) {
		u, ok := anongin.User(c)
		c.JSON(anontest.WhoAmI(c.Request, u, ok))
	})
	r.NoRoute(anongin.Middleware(m), func(c *gin.Context) {
		c.Status(http.StatusOK)
		app.ServeHTTP(c.Writer, c.Request)
	})
	return r
}

func TestIdentifyPerRoute(t *testing.T) {
	anontest.RunPerRoute(t, mountPerRoute)
}

func BenchmarkKnownVisitor(b *testing.B) {
	anontest.BenchKnownVisitor(b, mount)
}
