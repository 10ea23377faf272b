package anonymous_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// writerProbe is a handler that notes what the ResponseWriter it is given
// offers, and answers with the Cache-Control anontest.CachedControl.
type writerProbe struct {
	mu   sync.Mutex
	seen map[string]string // path → what the writer offered
}

func (p *writerProbe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, fl := w.(http.Flusher)
	_, hj := w.(http.Hijacker)
	_, rf := w.(io.ReaderFrom)
	_, ps := w.(http.Pusher)
	_, wrapped := w.(interface{ Unwrap() http.ResponseWriter })
	deadline := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute))
	p.mu.Lock()
	p.seen[r.URL.Path] = fmt.Sprintf("flusher=%v hijacker=%v readerfrom=%v pusher=%v wrapped=%v deadline=%v", fl, hj, rf, ps, wrapped, deadline)
	p.mu.Unlock()
	w.Header().Set("Cache-Control", anontest.CachedControl)
	switch r.URL.Path {
	case "/hijack":
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		_ = rw.Flush()
	case "/early":
		// Early hints go out with the header as it is, before the handler
		// sets its Cache-Control again for the final answer.
		w.Header().Set("Link", "</app.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Cache-Control", anontest.CachedControl)
		_, _ = io.WriteString(w, "{}")
	default:
		_, _ = io.WriteString(w, "{}")
	}
}

func (p *writerProbe) get(path string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[path]
}

// TestCacheGuardKeepsWhatTheWriterOffers checks the writer a handler gets on
// a response that sets identity cookies: it offers what the server's writer
// offers (http.Flusher, http.Hijacker and io.ReaderFrom over HTTP/1,
// http.Pusher over HTTP/2), http.ResponseController reaches the server's
// writer through it, a hijacked connection is the handler's own, and early
// hints leave the final answer private. A returning visitor's handler gets
// the server's writer itself.
func TestCacheGuardKeepsWhatTheWriterOffers(t *testing.T) {
	probe := &writerProbe{seen: map[string]string{}}
	env := anontest.NewEnvWith(t, anontest.Setup{Mount: func(_ testing.TB, m *anonymous.Middleware, _ http.Handler) http.Handler {
		return m.Handler(probe)
	}}, nil)

	b := env.Browser(t)
	first := env.Get(t, b, "/new")
	if len(first.SetCookie) == 0 {
		t.Fatalf("first visit set no cookie: %+v", first)
	}
	anontest.CheckNotSharedCacheable(t, "HTTP/1 provisioning", first.Header)
	if got, want := probe.get("/new"), "flusher=true hijacker=true readerfrom=true pusher=false wrapped=true deadline=<nil>"; got != want {
		t.Errorf("HTTP/1 provisioning: the handler's writer offers %s, want %s", got, want)
	}
	again := env.Get(t, b, "/again")
	if len(again.SetCookie) != 0 || again.Header.Get("Cache-Control") != anontest.CachedControl {
		t.Errorf("returning visitor: cookies %v, Cache-Control %q", again.SetCookie, again.Header.Get("Cache-Control"))
	}
	if got, want := probe.get("/again"), "flusher=true hijacker=true readerfrom=true pusher=false wrapped=false deadline=<nil>"; got != want {
		t.Errorf("returning visitor: the handler's writer offers %s, want %s", got, want)
	}

	if me := env.Get(t, env.Browser(t), "/hijack"); me.Status != http.StatusOK || me.Body != "hijacked" {
		t.Errorf("hijack on a provisioning answer: %+v", me)
	}
	early := env.Get(t, env.Browser(t), "/early")
	if len(early.SetCookie) == 0 {
		t.Fatalf("early hints: no cookie: %+v", early)
	}
	anontest.CheckNotSharedCacheable(t, "answer after early hints", early.Header)

	// HTTP/2 over TLS: the writer pushes and flushes, and cannot hijack.
	srv := httptest.NewUnstartedServer(env.Server.Config.Handler)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := srv.Client()
	c.Jar, _ = cookiejar.New(nil)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/h2", nil)
	req.Header.Set("User-Agent", anontest.BrowserUA)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.ProtoMajor != 2 || len(res.Cookies()) == 0 {
		t.Fatalf("HTTP/2 provisioning: %s, cookies %v", res.Proto, res.Cookies())
	}
	anontest.CheckNotSharedCacheable(t, "HTTP/2 provisioning", res.Header)
	if got := probe.get("/h2"); !strings.HasPrefix(got, "flusher=true hijacker=false readerfrom=false pusher=true wrapped=true") {
		t.Errorf("HTTP/2 provisioning: the handler's writer offers %s", got)
	}
}
