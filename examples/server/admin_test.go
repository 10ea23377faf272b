package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"
)

// urlLog is a log writer that reports the URLs the server logs it serves.
type urlLog struct {
	mu     sync.Mutex
	urls   map[string]string // log message: URL
	served chan struct{}     // closed at "serving"
}

var loggedURL = regexp.MustCompile(`msg=(\w+) url=(http://\S+)`)

func (l *urlLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := loggedURL.FindSubmatch(p); m != nil {
		l.urls[string(m[1])] = string(m[2])
		if string(m[1]) == "serving" {
			close(l.served)
		}
	}
	return len(p), nil
}

// run serves the metrics, the funnel and the readiness probe on the admin
// address alone, and the application on its own.
func TestRunServesAdminApart(t *testing.T) {
	logs := &urlLog{urls: map[string]string{}, served: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{addr: "127.0.0.1:0", adminAddr: "127.0.0.1:0", sessionTTL: 10 * time.Minute, lifetime: 24 * time.Hour},
			slog.New(slog.NewTextHandler(logs, nil)))
	}()
	select {
	case <-logs.served:
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("run did not log its URL")
	}
	logs.mu.Lock()
	public, admin := logs.urls["serving"], logs.urls["admin"]
	logs.mu.Unlock()
	if admin == "" || admin == public {
		t.Fatalf("admin URL %q, public %q", admin, public)
	}
	status := func(url string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("User-Agent", "Prometheus/3.0.0")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for path, want := range map[string][2]int{
		"/metrics": {http.StatusNotFound, http.StatusOK}, "/healthz": {http.StatusNotFound, http.StatusOK},
		"/api/funnel": {http.StatusOK, http.StatusOK}, // the page's panel, with the embedded emulator
		"/api/me":     {http.StatusOK, http.StatusNotFound}, "/": {http.StatusOK, http.StatusNotFound},
	} {
		if got := [2]int{status(public + path), status(admin + path)}; got != want {
			t.Errorf("%s on the public and admin addresses: %v, want %v", path, got, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after shutdown: %v", err)
	}
}

// Against real Descope the funnel is on the admin address only.
func TestFunnelNotPublicWithoutEmulator(t *testing.T) {
	emu := newExternalEmulator(t)
	_, srv, admin := testApp(t, config{projectID: emu.ProjectID, managementKey: emu.ManagementKey, baseURL: emu.URL})
	for base, want := range map[string]int{srv.URL: http.StatusNotFound, admin.URL: http.StatusOK} {
		res, err := http.Get(base + "/api/funnel")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("%s/api/funnel: %d, want %d", base, res.StatusCode, want)
		}
	}
}

// With the embedded emulator the admin address counts the emulator's
// requests by path: one user create per new visitor, none for a returning
// one or for the page's resources.
func TestEmulatorRequestCounts(t *testing.T) {
	_, srv, admin := testApp(t, config{})
	count := func(path string) (int, int) {
		t.Helper()
		res, err := http.Get(admin.URL + "/dev/emulator/requests?path=" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct {
			Path     string `json:"path"`
			Requests int    `json:"requests"`
		}
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body.Requests
	}
	const create = "/v1/mgmt/user/create"
	_, before := count(create)
	b := newBrowser(t, srv)
	b.want(b.do(http.MethodGet, "/", nil, nil), http.StatusOK)
	b.want(b.do(http.MethodGet, "/api/me", nil, nil), http.StatusOK)
	other := newBrowser(t, srv)
	other.do(http.MethodGet, "/favicon.ico", nil, nil, func(r *http.Request) { r.Header.Set("Sec-Fetch-Dest", "image") })
	if status, n := count(create); status != http.StatusOK || n-before != 1 {
		t.Errorf("user creates: status %d, %d since the first visit, want 1", status, n-before)
	}
	if status, _ := count("v1"); status != http.StatusBadRequest {
		t.Errorf("a path without a slash: %d, want 400", status)
	}
	if res, err := http.Get(srv.URL + "/dev/emulator/requests?path=" + create); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the counts on the page's address: %d, want none served", res.StatusCode)
	}
}
