package anonchi_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"

	"github.com/go-chi/chi/v5"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

// The middleware in a chi router: r.Use(anon.Handler), nothing else. Against
// real Descope, build the client with client.NewWithConfig and your project
// ID and management key.
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
	r := chi.NewRouter()
	r.Use(anon.Handler)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		u, _ := anonymous.FromContext(r.Context())
		fmt.Fprintf(w, "anonymous=%v new=%v", u.Anonymous, u.New)
	})
	r.Method(http.MethodPost, "/convert/start", anon.ConvertStartHandler())
	r.Method(http.MethodPost, "/convert/verify", anon.ConvertVerifyHandler())
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
