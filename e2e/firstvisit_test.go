package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

// TestBrowserFirstVisitMakesOneUser loads the example's page on a fresh
// profile, waits until the page's own requests (its API calls, and anything
// else the browser fetches for it) have finished, and counts the users the
// visit created at the embedded emulator (its /v1/mgmt/user/create
// requests): exactly one.
func TestBrowserFirstVisitMakesOneUser(t *testing.T) {
	needChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	base, admin := startServer(t, ctx)
	const create = "/v1/mgmt/user/create"
	before := emulatorRequests(t, admin, create)

	tab := newProfile(t, ctx)
	reqs := watchRequests(t, tab)
	run(t, tab, chromedp.Navigate(base))
	if p := readPage(t, tab); p.kind != "anonymous" || p.id == "" {
		t.Fatalf("first visit: %+v, want an anonymous user", p)
	}
	reqs.waitIdle(t, time.Second, 20*time.Second)
	for _, r := range reqs.list() {
		t.Logf("%s %s Sec-Fetch-Dest=%s cookies sent=%v", r.method, r.path, r.dest, r.cookies)
	}
	if n := emulatorRequests(t, admin, create) - before; n != 1 {
		t.Errorf("the first visit created %d users, want 1", n)
	}
}

// needChromium skips the test when Chromium is missing, or fails it under CI.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; CI must install it (apt-get install chromium): %v", chromium, err)
		}
		t.Skipf("%s is missing: install it (apt-get install chromium) to run the browser test", chromium)
	}
}

// emulatorRequests asks the example's admin address how many requests its
// embedded emulator received for path.
func emulatorRequests(t *testing.T, admin, path string) int {
	t.Helper()
	res, err := http.Get(admin + "/dev/emulator/requests?path=" + url.QueryEscape(path))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Requests int `json:"requests"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("emulator request count: %d, %v", res.StatusCode, err)
	}
	return body.Requests
}

// seenRequest is one request the browser sent for the tab.
type seenRequest struct {
	method, path, dest string
	cookies            bool
	done               bool
}

// requestLog follows the tab's requests through the network domain.
type requestLog struct {
	mu    sync.Mutex
	reqs  map[network.RequestID]*seenRequest
	order []network.RequestID
	last  time.Time // of the last event
}

// watchRequests enables the network domain of tab and records its requests.
func watchRequests(t *testing.T, tab context.Context) *requestLog {
	t.Helper()
	l := &requestLog{reqs: map[network.RequestID]*seenRequest{}, last: time.Now()}
	if _, err := chromedp.Call(tab, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Listen(tab, func(ev any) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.last = time.Now()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			r := l.get(e.RequestID)
			r.method = e.Request.Method
			if u, err := url.Parse(e.Request.URL); err == nil {
				r.path = u.Path
			}
		case *network.EventRequestWillBeSentExtraInfo:
			r := l.get(e.RequestID)
			for k, v := range e.Headers {
				switch strings.ToLower(k) {
				case "sec-fetch-dest":
					r.dest, _ = v.(string)
				case "cookie":
					r.cookies = true
				}
			}
		case *network.EventLoadingFinished:
			l.get(e.RequestID).done = true
		case *network.EventLoadingFailed:
			l.get(e.RequestID).done = true
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// get returns the record of id, made on first sight. l.mu is held.
func (l *requestLog) get(id network.RequestID) *seenRequest {
	r := l.reqs[id]
	if r == nil {
		r = &seenRequest{}
		l.reqs[id] = r
		l.order = append(l.order, id)
	}
	return r
}

// list returns the requests seen, in the order they started.
func (l *requestLog) list() []seenRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]seenRequest, 0, len(l.order))
	for _, id := range l.order {
		out = append(out, *l.reqs[id])
	}
	return out
}

// waitIdle waits until every request has finished and no network event came
// for quiet, failing the test after limit.
func (l *requestLog) waitIdle(t *testing.T, quiet, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		busy := slices.ContainsFunc(l.order, func(id network.RequestID) bool { return !l.reqs[id].done })
		calm := time.Since(l.last) >= quiet
		l.mu.Unlock()
		if !busy && calm {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the page's requests did not finish within %v: %+v", limit, l.list())
}

// shellPage is a single-page application's static shell, served without the
// middleware (as from a CDN): it loads a style sheet and an image from the
// application, and the browser asks for its favicon, all before the visitor
// has an identity. Its script follows the advice for such pages: one call
// to the API first, which provisions the visitor, and the others (here two
// at once) only once it has answered.
const shellPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>shell</title>
<link rel="stylesheet" href="/assets/app.css">
</head><body data-state="loading">
<img src="/assets/logo.png" alt="">
<p id="user-id"></p>
<script>
(async () => {
  try {
    const me = await (await fetch("/api/session")).json();
    const [a, b] = await Promise.all([fetch("/api/me"), fetch("/api/notes")]);
    const [x, y] = [await a.json(), await b.json()];
    document.getElementById("user-id").textContent = me.userId;
    document.body.dataset.state = (x.userId === me.userId && y.userId === me.userId) ? "ready" : "split";
  } catch (err) {
    document.body.dataset.state = "error: " + err;
  }
})();
</script></body></html>`

// TestBrowserStaticShellMakesOneUser loads a page the middleware does not
// serve (a static shell) whose resources and API calls all go through it,
// on a fresh profile: the style sheet, the image and the favicon, requested
// before any cookie came back, create no user; the shell's first API call
// creates the one, and the calls after it carry its cookies.
func TestBrowserStaticShellMakesOneUser(t *testing.T) {
	needChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	emu := descopetest.New()
	t.Cleanup(emu.Close)
	c, err := emu.Client()
	if err != nil {
		t.Fatal(err)
	}
	anon, err := anonymous.New(c, anonymous.WithCookieSecure(false),
		anonymous.WithSkipProvision(func(r *http.Request) bool { return r.URL.Path == "/" }))
	if err != nil {
		t.Fatal(err)
	}
	if err := anon.Init(ctx); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, shellPage)
	})
	mux.HandleFunc("GET /assets/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".css") {
			w.Header().Set("Content-Type", "text/css")
			_, _ = io.WriteString(w, "body { font-family: sans-serif; }")
			return
		}
		http.NotFound(w, r)
	})
	mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		u, ok := anonymous.FromContext(r.Context())
		if !ok {
			http.Error(w, `{"error":"no user"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(anonymous.NewUserJSON(u))
	})
	srv := httptest.NewServer(anon.Handler(mux))
	t.Cleanup(srv.Close)
	emu.ResetRequests()

	tab := newProfile(t, ctx)
	reqs := watchRequests(t, tab)
	run(t, tab, chromedp.Navigate(srv.URL))
	state := get[string](t, tab, chromedp.Poll[string](`document.body.dataset.state !== "loading" && document.body.dataset.state`,
		chromedp.WithPollingTimeout(15*time.Second)))
	reqs.waitIdle(t, time.Second, 20*time.Second)
	for _, r := range reqs.list() {
		t.Logf("%s %s Sec-Fetch-Dest=%s cookies sent=%v", r.method, r.path, r.dest, r.cookies)
	}
	if state != "ready" {
		t.Errorf("the shell's calls saw more than one user: page state %q", state)
	}
	if n := emu.Requests("/v1/mgmt/user/create"); n != 1 {
		t.Errorf("the first visit created %d users, want 1", n)
	}
}
