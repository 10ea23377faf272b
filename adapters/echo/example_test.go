package anonecho_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"

	"github.com/labstack/echo/v4"

	"github.com/descope-contrib/anonymous"
	anonecho "github.com/descope-contrib/anonymous/adapters/echo"
	"github.com/descope-contrib/anonymous/descopetest"
)

// The middleware in an echo server. Against real Descope, build the client
// with client.NewWithConfig and your project ID and management key.
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
	e := echo.New()
	e.Use(anonecho.Middleware(anon))
	e.GET("/", func(c echo.Context) error {
		u, ok := anonecho.User(c)
		if !ok {
			return echo.ErrUnauthorized
		}
		return c.String(http.StatusOK, fmt.Sprintf("anonymous=%v new=%v", u.Anonymous, u.New))
	})
	e.POST("/convert/start", echo.WrapHandler(anon.ConvertStartHandler()))
	e.POST("/convert/verify", echo.WrapHandler(anon.ConvertVerifyHandler()))
	srv := httptest.NewServer(e)
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
