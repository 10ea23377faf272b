package anonymous_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

// The middleware in front of a net/http handler. Against real Descope, build
// the client with client.NewWithConfig and your project ID and management key.
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
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := anonymous.FromContext(r.Context())
		fmt.Fprintf(w, "anonymous=%v new=%v", u.Anonymous, u.New)
	})
	srv := httptest.NewServer(anon.Handler(app))
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

// A handler's unit test fakes the visitor with NewContext.
func ExampleNewContext() {
	handler := func(w http.ResponseWriter, r *http.Request) {
		if u, ok := anonymous.FromContext(r.Context()); ok && u.Anonymous {
			fmt.Fprint(w, "sign up to keep your cart")
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r = r.WithContext(anonymous.NewContext(r.Context(), &anonymous.User{ID: "U123", Anonymous: true}))
	rec := httptest.NewRecorder()
	handler(rec, r)
	fmt.Println(rec.Body.String())
	// Output: sign up to keep your cart
}
