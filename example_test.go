package anonymous_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"time"

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

// A visitor converts: the code goes to the address (here the emulator's
// outbox stands in for the mailbox), and the same user ID becomes a regular
// user with fresh cookies.
func ExampleMiddleware_FinishConversion() {
	emu := descopetest.New()
	defer emu.Close()
	c, err := emu.Client()
	if err != nil {
		log.Fatal(err)
	}
	anon, err := anonymous.New(c) // Secure cookies: the site is served over TLS
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		u, _ := anonymous.FromContext(r.Context())
		fmt.Fprintf(w, "anonymous=%v", u.Anonymous)
	})
	mux.Handle("/convert/start", anon.ConvertStartHandler())
	mux.Handle("/convert/verify", anon.ConvertVerifyHandler())
	srv := httptest.NewTLSServer(anon.Handler(mux))
	defer srv.Close()

	browser := srv.Client() // trusts the test server's certificate
	browser.Jar, _ = cookiejar.New(nil)
	send := func(method, path, body string) string {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("User-Agent", "Mozilla/5.0")
		if body != "" {
			req.Header.Set("Content-Type", "application/json") // the handlers refuse anything else
		}
		res, err := browser.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return fmt.Sprintf("%d %s", res.StatusCode, strings.TrimSpace(string(b)))
	}
	fmt.Println(send(http.MethodGet, "/", ""))
	fmt.Println(send(http.MethodPost, "/convert/start", `{"email":"ada@example.com"}`))
	code, _ := emu.Outbox("ada@example.com")
	verified := send(http.MethodPost, "/convert/verify", `{"email":"ada@example.com","code":"`+code+`"}`)
	fmt.Println(strings.Contains(verified, `"anonymous":false`))
	fmt.Println(send(http.MethodGet, "/", ""))
	// Output:
	// 200 anonymous=true
	// 200 {"maskedEmail":"a***@example.com"}
	// true
	// 200 anonymous=false
}

// In lazy mode only handlers that store something give the visitor an
// identity, with Ensure, before writing the response.
func ExampleMiddleware_Ensure() {
	emu := descopetest.New()
	defer emu.Close()
	c, err := emu.Client()
	if err != nil {
		log.Fatal(err)
	}
	anon, err := anonymous.New(c, anonymous.WithLazy(), anonymous.WithCookieSecure(false))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/browse", func(w http.ResponseWriter, r *http.Request) {
		_, ok := anonymous.FromContext(r.Context())
		fmt.Fprintf(w, "identified=%v", ok)
	})
	mux.HandleFunc("/cart/add", func(w http.ResponseWriter, r *http.Request) {
		u, err := anon.Ensure(w, r)
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "cart of a new visitor: %v", u.New)
	})
	h := anon.Handler(mux)

	var jar []*http.Cookie // the visitor's browser
	visit := func(path string) {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("User-Agent", "Mozilla/5.0")
		for _, c := range jar {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		set := rec.Result().Cookies()
		jar = append(jar, set...)
		fmt.Printf("%s (cookies set: %d)\n", rec.Body, len(set))
	}
	visit("/browse")
	visit("/cart/add")
	visit("/browse")
	// Output:
	// identified=false (cookies set: 0)
	// cart of a new visitor: true (cookies set: 2)
	// identified=true (cookies set: 0)
}

// Cull deletes anonymous users that never converted and are older than the
// anonymous lifetime. Run it daily, from a job.
func ExampleCull() {
	emu := descopetest.New()
	defer emu.Close()
	c, err := emu.Client()
	if err != nil {
		log.Fatal(err)
	}
	anon, err := anonymous.New(c, anonymous.WithLifetime(24*time.Hour), anonymous.WithCookieSecure(false))
	if err != nil {
		log.Fatal(err)
	}
	// Two visitors; one of them came two days ago and never returned.
	var ids []string
	for range 2 {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("User-Agent", "Mozilla/5.0")
		u, err := anon.Ensure(rec, req)
		if err != nil {
			log.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	_ = emu.SetUserCreatedTime(ids[0], time.Now().Add(-48*time.Hour))

	report, err := anonymous.Cull(context.Background(), c, anonymous.CullOptions{})
	if err != nil {
		log.Fatal(err)
	}
	_, kept := emu.User(ids[1])
	fmt.Printf("scanned %d, deleted %d, recent visitor kept: %v\n", report.Scanned, report.Deleted, kept)
	// Output: scanned 1, deleted 1, recent visitor kept: true
}

// FailClosed answers with a JSON error instead of serving a visitor without
// an identity, for applications that must not run without one.
func ExampleFailClosed() {
	rec := httptest.NewRecorder()
	anonymous.FailClosed(rec, httptest.NewRequest(http.MethodGet, "/", nil), anonymous.ErrUnavailable)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	// Output: 503 {"error":"descope unavailable","reason":"unavailable"}
}
