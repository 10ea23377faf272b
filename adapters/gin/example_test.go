package anongin_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"

	"github.com/gin-gonic/gin"

	"github.com/descope-contrib/anonymous"
	anongin "github.com/descope-contrib/anonymous/adapters/gin"
	"github.com/descope-contrib/anonymous/descopetest"
)

// The middleware in a gin engine. Against real Descope, build the client with
// client.NewWithConfig and your project ID and management key.
func Example() {
	emu := descopetest.New() // an in-process Descope for the example
	defer emu.Close()
	c, err := emu.Client()
	if err != nil {
		log.Fatal(err)
	}
	anon, err := anonymous.New(c, anonymous.WithCookieSecure(false))
	if err != nil {
		log.Fatal(err)
	}
	r := gin.New()
	r.Use(anongin.Middleware(anon))
	r.GET("/", func(c *gin.Context) {
		u, _ := anongin.User(c)
		c.String(http.StatusOK, "anonymous=%v new=%v", u.Anonymous, u.New)
	})
	r.POST("/convert/start", gin.WrapH(anon.ConvertStartHandler()))
	r.POST("/convert/verify", gin.WrapH(anon.ConvertVerifyHandler()))
	srv := httptest.NewServer(r)
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	for range 2 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("User-Agent", "Mozilla/5.0")
		res, err := browser.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Println(string(body))
	}
	// Output:
	// anonymous=true new=true
	// anonymous=true new=false
}
