package anonymous_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/client"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// This file is the harness of the reliability and security tests (faults,
// forged input, floods, load): a world whose every HTTP transport the test
// owns, so that idle keep-alive connections can be closed before goroutines
// are counted.

// errLog records errors, for the error hook and the conversion endpoints.
type errLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errLog) add(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *errLog) all() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.errs)
}

func (l *errLog) reset() {
	l.mu.Lock()
	l.errs = nil
	l.mu.Unlock()
}

// hook is an error handler that records the error and writes nothing, so the
// request goes on (the documented fallback).
func (l *errLog) hook(_ http.ResponseWriter, _ *http.Request, err error) { l.add(err) }

// world is one emulator, a middleware built on an SDK client whose transport
// the test owns, and the probe application behind the middleware on a real
// loopback server.
type world struct {
	emu   *descopetest.Emulator
	sdk   *client.DescopeClient
	mw    *anonymous.Middleware
	srv   *httptest.Server
	hooks *errLog // what the error hook saw
	convs *errLog // what the conversion endpoints returned

	clock *testClock // the middleware's clock

	mu  sync.Mutex
	trs []*http.Transport
}

// testClock is real time plus an offset a test moves forward.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// newWorld starts an emulator (seconds unit on) and a middleware with a 300 ms
// timeout, its own rate limits off, and an error hook that records and lets
// the request go on; opts come last.
func newWorld(t testing.TB, emuOpts []descopetest.Option, opts ...anonymous.Option) *world {
	t.Helper()
	emu := descopetest.New(append([]descopetest.Option{descopetest.WithSecondsUnit()}, emuOpts...)...)
	t.Cleanup(emu.Close)
	w := &world{emu: emu, hooks: &errLog{}, convs: &errLog{}, clock: &testClock{}}
	w.build(t, opts...)
	return w
}

// build makes the SDK client, the middleware and the server of w.
func (w *world) build(t testing.TB, opts ...anonymous.Option) {
	t.Helper()
	w.sdk = w.newSDK(t)
	base := []anonymous.Option{
		anonymous.WithCookieSecure(false), // plain http on loopback
		anonymous.WithTimeout(300 * time.Millisecond),
		anonymous.WithClientRateLimit(0, 0),
		anonymous.WithGlobalRateLimit(0, 0),
		anonymous.WithErrorHandler(w.hooks.hook),
		anonymous.WithClock(w.clock.now),
		anonymous.WithEmulatorLifetimes(),
	}
	m, err := anonymous.New(w.sdk, append(base, opts...)...)
	if err != nil {
		t.Fatalf("anonymous.New: %v", err)
	}
	if err := m.Init(context.Background()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	w.mw = m
	w.srv = httptest.NewServer(m.Handler(probeApp(m, w.convs)))
	t.Cleanup(w.srv.Close)
}

// sibling returns a second middleware on the same emulator, with a fresh SDK
// client that has fetched no signing keys yet, behind its own server (on
// 127.0.0.1 too, so a browser's cookies reach it: cookies ignore the port).
// It shares w's error logs and transports.
func (w *world) sibling(t testing.TB, opts ...anonymous.Option) *world {
	t.Helper()
	s := &world{emu: w.emu, hooks: w.hooks, convs: w.convs, clock: w.clock}
	s.build(t, opts...)
	w.mu.Lock()
	w.trs = append(w.trs, s.trs...)
	w.mu.Unlock()
	return s
}

// newSDK returns a go-sdk client for w's emulator on a transport w owns.
func (w *world) newSDK(t testing.TB) *client.DescopeClient {
	t.Helper()
	tr := w.transport(t)
	c, err := client.NewWithConfig(&client.Config{
		ProjectID:      w.emu.ProjectID,
		ManagementKey:  w.emu.ManagementKey,
		DescopeBaseURL: w.emu.URL,
		DefaultClient:  &http.Client{Transport: tr, Timeout: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *world) transport(t testing.TB) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	w.mu.Lock()
	w.trs = append(w.trs, tr)
	w.mu.Unlock()
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// closeIdle closes the idle keep-alive connections of every transport of w,
// so their goroutines (and the servers' ones) end.
func (w *world) closeIdle() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, tr := range w.trs {
		tr.CloseIdleConnections()
	}
}

// browser returns a client with its own cookie jar and transport.
func (w *world) browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Transport: w.transport(t), Timeout: 10 * time.Second}
}

// probe is what the probe application answered, with the response's
// cookies and how long the request took.
type probe struct {
	Status    int
	UserID    string `json:"userId"`
	Anonymous bool   `json:"anonymous"`
	New       bool   `json:"new"`
	Refreshed bool   `json:"refreshed"`
	Degraded  bool   `json:"degraded"`
	SetCookie []*http.Cookie
	Took      time.Duration
}

// do sends a request with a browser User-Agent through b to w's server.
func (w *world) do(t testing.TB, b *http.Client, method, target string, edit func(*http.Request)) probe {
	t.Helper()
	req, err := http.NewRequest(method, w.srv.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", anontest.BrowserUA)
	if edit != nil {
		edit(req)
	}
	start := time.Now()
	res, err := b.Do(req)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	p := probe{Status: res.StatusCode, SetCookie: res.Cookies(), Took: took}
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK && bytes.HasPrefix(data, []byte("{")) {
		if err := json.Unmarshal(data, &p); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, target, data, err)
		}
	}
	return p
}

func (w *world) get(t testing.TB, b *http.Client, target string) probe {
	t.Helper()
	return w.do(t, b, http.MethodGet, target, nil)
}

// start and verify drive the conversion functions through the probe app.
func (w *world) start(t testing.TB, b *http.Client, addr string) probe {
	t.Helper()
	return w.do(t, b, http.MethodPost, "/x/start?"+url.Values{"addr": {addr}}.Encode(), nil)
}

func (w *world) verify(t testing.TB, b *http.Client, addr, code string) probe {
	t.Helper()
	return w.do(t, b, http.MethodPost, "/x/verify?"+url.Values{"addr": {addr}, "code": {code}}.Encode(), nil)
}

// jsonBody returns a request edit that sends v as the JSON body.
func jsonBody(t testing.TB, v any) func(*http.Request) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return func(r *http.Request) {
		r.Body = io.NopCloser(bytes.NewReader(data))
		r.ContentLength = int64(len(data))
		r.Header.Set("Content-Type", "application/json")
	}
}

// visitor returns a browser that was just given an anonymous user.
func (w *world) visitor(t testing.TB) (*http.Client, probe) {
	t.Helper()
	b := w.browser(t)
	p := w.get(t, b, "/")
	if p.Status != http.StatusOK || !p.New || p.UserID == "" {
		t.Fatalf("visitor not provisioned: %+v (hook saw %v)", p, w.hooks.all())
	}
	return b, p
}

// jar returns the cookies b holds for the world's host.
func (w *world) jar(b *http.Client) map[string]string {
	u, _ := url.Parse(w.srv.URL)
	m := map[string]string{}
	for _, c := range b.Jar.Cookies(u) {
		m[c.Name] = c.Value
	}
	return m
}

// dropCookie removes a cookie from b's jar, as a browser does once the
// cookie's Max-Age has passed.
func (w *world) dropCookie(b *http.Client, name string) {
	u, _ := url.Parse(w.srv.URL)
	b.Jar.SetCookies(u, []*http.Cookie{{Name: name, Path: "/", MaxAge: -1}})
}

// probeApp answers "/" with the context's user as JSON (200 with an empty
// userId when there is none), and exposes the conversion functions on
// /x/start and /x/verify (query parameters addr and code), recording the
// errors they return in convs and answering with ErrorStatus.
func probeApp(m *anonymous.Middleware, convs *errLog) http.Handler {
	mux := http.NewServeMux()
	writeUser := func(w http.ResponseWriter, u *anonymous.User) {
		body := map[string]any{"userId": ""}
		if u != nil {
			body = map[string]any{"userId": u.ID, "anonymous": u.Anonymous, "new": u.New, "refreshed": u.Refreshed, "degraded": u.Degraded}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		u, _ := anonymous.FromContext(r.Context())
		writeUser(w, u)
	})
	fail := func(w http.ResponseWriter, err error) {
		convs.add(err)
		http.Error(w, err.Error(), anonymous.ErrorStatus(err))
	}
	mux.HandleFunc("POST /x/start", func(w http.ResponseWriter, r *http.Request) {
		if _, err := m.StartConversion(r, r.URL.Query().Get("addr")); err != nil {
			fail(w, err)
			return
		}
		u, _ := anonymous.FromContext(r.Context())
		writeUser(w, u)
	})
	mux.HandleFunc("POST /x/verify", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		u, err := m.FinishConversion(w, r, q.Get("addr"), q.Get("code"))
		if err != nil {
			fail(w, err)
			return
		}
		writeUser(w, u)
	})
	mux.HandleFunc("POST /x/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Logout(w, r); err != nil {
			convs.add(err)
		}
		writeUser(w, nil)
	})
	mux.HandleFunc("POST /x/promote", func(w http.ResponseWriter, r *http.Request) {
		u, err := m.Promote(w, r)
		if err != nil {
			fail(w, err)
			return
		}
		writeUser(w, u)
	})
	mux.Handle("/convert/start", m.ConvertStartHandler())
	mux.Handle("/convert/verify", m.ConvertVerifyHandler())
	return mux
}

// userState is the part of a Descope user that conversion and cull change.
type userState struct {
	LoginIDs      []string
	Tenants       []string
	Email, Phone  string
	VerifiedEmail bool
	VerifiedPhone bool
	Exists        bool
	Enabled       bool
}

func stateOf(emu *descopetest.Emulator, id string) userState {
	u, ok := emu.User(id)
	if !ok {
		return userState{}
	}
	s := userState{LoginIDs: slices.Clone(u.LoginIDs), Email: u.Email, Phone: u.Phone,
		VerifiedEmail: u.VerifiedEmail, VerifiedPhone: u.VerifiedPhone, Exists: true, Enabled: u.Status == "enabled"}
	for _, t := range u.UserTenants {
		s.Tenants = append(s.Tenants, t.TenantID)
	}
	slices.Sort(s.LoginIDs)
	slices.Sort(s.Tenants)
	return s
}

func (s userState) equal(o userState) bool {
	return slices.Equal(s.LoginIDs, o.LoginIDs) && slices.Equal(s.Tenants, o.Tenants) && s.Email == o.Email &&
		s.Phone == o.Phone && s.VerifiedEmail == o.VerifiedEmail && s.VerifiedPhone == o.VerifiedPhone &&
		s.Exists == o.Exists && s.Enabled == o.Enabled
}

// allUnavailable reports whether errs is non-empty and every error in it
// wraps anonymous.ErrUnavailable.
func allUnavailable(errs []error) bool {
	if len(errs) == 0 {
		return false
	}
	for _, err := range errs {
		if !errors.Is(err, anonymous.ErrUnavailable) {
			return false
		}
	}
	return true
}

// settledGoroutines waits until the goroutine count stops moving (at most a
// second) and returns it.
func settledGoroutines() int {
	prev := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == prev {
			return n
		}
		prev = n
	}
	return prev
}

// expectNoLeak waits up to 3 s for the goroutine count to come back to
// baseline, closing idle connections on the way (http keep-alive), and fails
// with the goroutine profile if it does not.
func expectNoLeak(t testing.TB, baseline int, closeIdle func()) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		closeIdle()
		n := runtime.NumGoroutine()
		if n <= baseline {
			return
		}
		if time.Now().After(deadline) {
			var buf bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
			t.Errorf("goroutines left behind: %d, baseline %d\n%s", n, baseline, buf.String())
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hasCookie reports whether cs sets a cookie called name.
func hasCookie(cs []*http.Cookie, name string) bool {
	return slices.ContainsFunc(cs, func(c *http.Cookie) bool { return c.Name == name })
}

// generatedOnly reports whether a user looks like an untouched anonymous
// user: generated login IDs only, no address.
func generatedOnly(u descope.UserResponse) bool {
	if len(u.LoginIDs) == 0 || u.Email != "" || u.Phone != "" {
		return false
	}
	for _, id := range u.LoginIDs {
		if !anonymous.IsGeneratedLoginID(id) {
			return false
		}
	}
	return true
}
