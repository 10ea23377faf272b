package anontest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/descope-contrib/anonymous"
)

// The pieces the hot-path benchmarks of the core, otelanon and the adapters
// share.

// NopWriter is a ResponseWriter that allocates nothing per request; clear
// its header between requests.
type NopWriter struct{ H http.Header }

// NewNopWriter returns a NopWriter with an empty header.
func NewNopWriter() *NopWriter { return &NopWriter{H: http.Header{}} }

func (w *NopWriter) Header() http.Header { return w.H }

func (w *NopWriter) Write(b []byte) (int, error) { return len(b), nil }

func (w *NopWriter) WriteHeader(int) {}

// SessionCookie provisions one visitor through m and returns its session
// token.
func SessionCookie(t testing.TB, m *anonymous.Middleware) string {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0")
	w := NewNopWriter()
	m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, r)
	for _, c := range (&http.Response{Header: w.H}).Cookies() {
		if c.Name == "DS" {
			return c.Value
		}
	}
	t.Fatal("no session cookie provisioned")
	return ""
}

// KnownSession provisions one visitor through m and returns a GET request
// carrying its session cookie between two unrelated cookies, as a browser
// sends it: the request of a returning visitor.
func KnownSession(t testing.TB, m *anonymous.Middleware) *http.Request {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, "http://example.com/cart", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0")
	r.Header.Set("Cookie", "theme=dark; DS="+SessionCookie(t, m)+"; _ga=GA1.2.3")
	return r
}

// ServeLoop benchmarks h serving r again and again.
func ServeLoop(b *testing.B, h http.Handler, r *http.Request) {
	w := NewNopWriter()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.H)
		h.ServeHTTP(w, r)
	}
}

// BenchKnownVisitor measures GET /whoami through mount for a visitor whose
// session token is already verified and cached: the common case.
func BenchKnownVisitor(b *testing.B, mount Mount) {
	env := NewEnv(b, mount, nil)
	client := env.Browser(b)
	env.Get(b, client, "/whoami")
	h := mount(b, env.MW, App(env.MW, nil))
	req := httptest.NewRequest(http.MethodGet, "/whoami", nil)
	req.Header.Set("Cookie", "DS="+env.Cookie(client, "DS"))
	rec := httptest.NewRecorder()
	if h.ServeHTTP(rec, req); rec.Code != http.StatusOK {
		b.Fatalf("known visitor answered %d", rec.Code)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
