package anonymous_test

import (
	"net/http"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

// testLocalKey seals the local cookies of these tests.
var testLocalKey = []byte("local_test.go: a key of more than thirty-two bytes")

// BenchmarkLocalHotPath is a request with a valid local ID cookie: the cookie
// is opened (decode, HMAC-SHA256) and a User built on every request, since
// nothing is cached per visitor. Compare with BenchmarkHotPath.
func BenchmarkLocalHotPath(b *testing.B) {
	emu := descopetest.New()
	b.Cleanup(emu.Close)
	m, err := anonymous.New(emu.MustClient(b), anonymous.WithCookieSecure(false),
		anonymous.WithStrategy(anonymous.LocalIDs), anonymous.WithLocalKeys(testLocalKey))
	if err != nil {
		b.Fatal(err)
	}
	emu.ResetRequests() // the SDK client's start-up call
	r, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0")
	w := &nopWriter{h: http.Header{}}
	m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, r)
	var dsl string
	for _, c := range (&http.Response{Header: w.h}).Cookies() {
		if c.Name == "DSL" {
			dsl = c.Value
		}
	}
	if dsl == "" {
		b.Fatal("no local cookie provisioned")
	}
	r, _ = http.NewRequest(http.MethodGet, "http://example.com/cart", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0")
	r.Header.Set("Cookie", "theme=dark; DSL="+dsl+"; _ga=GA1.2.3")
	app := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { sink, _ = anonymous.FromContext(r.Context()) })
	serveLoop(b, m.Handler(app), r)
	if sink == nil || !anonymous.IsLocalID(sink.ID) || emu.TotalRequests() != 0 {
		b.Fatalf("local visitor not identified: %+v, %d calls", sink, emu.TotalRequests())
	}
}
