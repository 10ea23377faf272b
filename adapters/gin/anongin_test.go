package anongin_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/descope-contrib/anonymous"
	anongin "github.com/descope-contrib/anonymous/adapters/gin"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

// mount routes every path and method through the gin middleware to app.
func mount(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
	r := gin.New()
	r.Use(anongin.Middleware(m))
	r.Any("/*path", gin.WrapH(app))
	return r
}

func TestBehaviour(t *testing.T) {
	anontest.Run(t, mount)
}

// native mounts the gin way: a gin handler reading the user with User, and
// the conversion handlers as gin handlers.
func native(_ testing.TB, m *anonymous.Middleware, _ http.Handler) http.Handler {
	r := gin.New()
	r.Use(anongin.Middleware(m))
	r.GET("/whoami", func(c *gin.Context) {
		u, ok := anongin.User(c)
		fromCtx, ok2 := anonymous.FromContext(c.Request.Context())
		if ok != ok2 || u != fromCtx {
			c.String(http.StatusInternalServerError, "User %v, FromContext %v", u, fromCtx)
			return
		}
		if !ok {
			c.Status(http.StatusUnauthorized)
			return
		}
		c.JSON(http.StatusOK, gin.H{"userId": u.ID, "anonymous": u.Anonymous, "new": u.New, "loginIds": u.LoginIDs})
	})
	r.POST("/convert/start", gin.WrapH(m.ConvertStartHandler()))
	r.POST("/convert/verify", gin.WrapH(m.ConvertVerifyHandler()))
	return r
}

func TestUserAndConversion(t *testing.T) {
	anontest.UserAndConversion(t, native, "gin@example.com")
}

func TestErrorResponseAbortsChain(t *testing.T) {
	anontest.ErrorHookEndsChain(t, func(reached *atomic.Int32) anontest.Mount {
		return func(_ testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler {
			r := gin.New()
			r.Use(anongin.Middleware(m), func(c *gin.Context) { reached.Add(1) })
			r.Any("/*path", gin.WrapH(app))
			return r
		}
	})
}

func TestNilMiddleware(t *testing.T) {
	r := gin.New()
	r.Use(anongin.Middleware(nil))
	r.GET("/", func(c *gin.Context) { c.Status(http.StatusOK) })
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("nil middleware answered %d", rec.Code)
	}
}

// BenchmarkKnownVisitor measures a request whose session token is already
// verified and cached: the common case.
func BenchmarkKnownVisitor(b *testing.B) {
	env := anontest.NewEnv(b, mount, nil)
	client := env.Browser(b)
	env.Get(b, client, "/whoami")
	ds := env.Cookie(client, "DS")
	r := gin.New()
	r.Use(anongin.Middleware(env.MW))
	r.GET("/", func(c *gin.Context) {
		if _, ok := anongin.User(c); !ok {
			b.Fatal("no user")
		}
	})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Cookie", "DS="+ds)
	b.ReportAllocs()
	for b.Loop() {
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
}
