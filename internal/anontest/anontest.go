// Package anontest is the test harness of the middleware and its adapters,
// one concept a file:
//
//   - anontest.go: Env, an emulator, a middleware and App behind it on a
//     loopback server, with the error logs, clock and transports a test
//     inspects, built from a Setup (mount, timeout, clock, strategy); Me,
//     its answer.
//   - app.go: App, the application behind the middleware, and WhoAmI, the
//     answer of an adapter's own /whoami.
//   - cases.go: the behaviour table (Case, Cases) and Run, which runs it in
//     every strategy.
//   - shared.go: RunAdapter, the suite net/http and every framework adapter
//     pass: the table and the checks of the framework's own ways; and
//     RunPerRoute, their per-route mounting (Identify beside the
//     middleware).
//   - checks.go: the checks the reliability and security tests share, and
//     FaultAll, a full Descope outage.
//   - bench.go: the pieces the benchmarks share.
//   - parallel.go: DefaultParallel, how many parallel tests run at once.
package anontest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/client"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

// Mount wires the middleware m in front of app the way one integration does
// (plain net/http, chi, gin, echo) and returns the server's handler. Every
// path must reach app through the middleware.
type Mount func(t testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler

// BrowserUA is the User-Agent the table's clients send.
const BrowserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"

// Env is one test's world: an emulator, a middleware built on a go-sdk
// client whose transport the test owns, and App behind the middleware on a
// real loopback server. Every HTTP transport of an Env (SDK client,
// browsers, siblings) is the Env's, so that idle keep-alive connections can
// be closed before goroutines are counted (CloseIdle).
type Env struct {
	Emu      *descopetest.Emulator
	SDK      *client.DescopeClient
	MW       *anonymous.Middleware
	Server   *httptest.Server
	Strategy anonymous.Strategy // Setup.Strategy: the middleware's provisioning strategy
	Hooks    *ErrLog            // what the error hook saw
	Convs    *ErrLog            // what the conversion routes of App returned
	Clock    *Clock             // the middleware's clock, when Setup.Clock installs it

	setup     Setup
	mu        sync.Mutex
	converted [][2]string // anonymous ID, user ID, per OnConvert call
	trs       []*http.Transport
}

// Setup is how NewEnvWith builds an Env, beyond the middleware's options.
type Setup struct {
	// Mount serves App through the middleware; nil mounts it the plain
	// net/http way, m.Handler(app).
	Mount Mount
	// Strategy is the provisioning strategy: the middleware is built with
	// WithStrategy(Strategy), and for LocalIDs WithLocalKeys(LocalKey),
	// before the test's options, and Env.Strategy (which Local,
	// ProvisionCalls and the like answer from) is it. A test selects its
	// strategy here, never with anonymous.WithStrategy among its options,
	// which the Env cannot see.
	Strategy anonymous.Strategy
	// Timeout is the middleware's timeout; zero means 2 s.
	Timeout time.Duration
	// Clock, when set, builds the option that installs Env.Clock as the
	// middleware's clock (the root package's tests pass its WithClock).
	Clock func(now func() time.Time) anonymous.Option
}

// ErrLog records errors, for the error hook and the conversion routes.
type ErrLog struct {
	mu   sync.Mutex
	errs []error
}

// Add records err.
func (l *ErrLog) Add(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

// All returns the errors recorded so far.
func (l *ErrLog) All() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.errs)
}

// Reset forgets the errors recorded so far.
func (l *ErrLog) Reset() {
	l.mu.Lock()
	l.errs = nil
	l.mu.Unlock()
}

// Hook is an error handler that records the error and writes nothing, so the
// request goes on (the documented fallback).
func (l *ErrLog) Hook(_ http.ResponseWriter, _ *http.Request, err error) { l.Add(err) }

// Clock is real time plus an offset a test moves forward.
type Clock struct{ offset atomic.Int64 }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// Converted returns the (anonymous ID, user ID) pairs the OnConvert hook saw.
func (e *Env) Converted() [][2]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([][2]string(nil), e.converted...)
}

// Errors returns the errors the error hook has seen so far.
func (e *Env) Errors() []error { return e.Hooks.All() }

// Me is what App answered, with the response's cookies, headers and body, and
// how long the request took.
type Me struct {
	Status    int
	UserID    string   `json:"userId"`
	Anonymous bool     `json:"anonymous"`
	New       bool     `json:"new"`
	Refreshed bool     `json:"refreshed"`
	Degraded  bool     `json:"degraded"`
	LoginIDs  []string `json:"loginIds"`
	SetCookie []*http.Cookie
	Header    http.Header
	Body      string
	Took      time.Duration
}

// NewEnv is NewEnvWith with mount and the default setup.
func NewEnv(t testing.TB, mount Mount, emuOpts []descopetest.Option, opts ...anonymous.Option) *Env {
	t.Helper()
	return NewEnvWith(t, Setup{Mount: mount}, emuOpts, opts...)
}

// NewEnvWith starts an emulator (seconds unit on), builds the middleware with
// opts (after options suited to plain http on loopback: its own rate limits
// off, the setup's timeout, clock and strategy, and hooks the tests inspect,
// the error hook recording and letting the request go on), resolves the
// anonymous tenant, and serves App through the setup's mount.
func NewEnvWith(t testing.TB, setup Setup, emuOpts []descopetest.Option, opts ...anonymous.Option) *Env {
	t.Helper()
	emu := descopetest.New(append([]descopetest.Option{descopetest.WithSecondsUnit()}, emuOpts...)...)
	t.Cleanup(emu.Close)
	e := &Env{Emu: emu, Hooks: &ErrLog{}, Convs: &ErrLog{}, Clock: &Clock{}, Strategy: setup.Strategy, setup: setup}
	e.build(t, opts...)
	e.Emu.ResetRequests()
	return e
}

// build makes the SDK client, the middleware and the server of e.
func (e *Env) build(t testing.TB, opts ...anonymous.Option) {
	t.Helper()
	e.SDK = e.NewSDK(t)
	timeout := e.setup.Timeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	base := []anonymous.Option{
		anonymous.WithCookieSecure(false), // plain http on loopback
		anonymous.WithEmulatorLifetimes(), // the emulator runs in seconds mode
		anonymous.WithTimeout(timeout),
		anonymous.WithClientRateLimit(0, 0),
		anonymous.WithGlobalRateLimit(0, 0),
		anonymous.WithOverflow(false), // the tests of overflow turn it on
		anonymous.WithErrorHandler(e.Hooks.Hook),
		anonymous.WithOnConvert(func(_ context.Context, anonymousID string, u *anonymous.User) error {
			e.mu.Lock()
			e.converted = append(e.converted, [2]string{anonymousID, u.ID})
			e.mu.Unlock()
			return nil
		}),
	}
	if e.setup.Clock != nil {
		base = append(base, e.setup.Clock(e.Clock.Now))
	}
	base = append(base, strategyOptions(e.setup.Strategy)...)
	m, err := anonymous.New(e.SDK, append(base, opts...)...)
	if err != nil {
		t.Fatalf("anonymous.New: %v", err)
	}
	if err := m.Init(context.Background()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	e.MW = m
	app := App(m, e.Convs)
	var h http.Handler
	if e.setup.Mount != nil {
		h = e.setup.Mount(t, m, app)
	} else {
		h = m.Handler(app)
	}
	e.Server = httptest.NewServer(h)
	t.Cleanup(e.Server.Close)
}

// Sibling returns a second middleware on the same emulator, built with the
// same setup and opts (not e's), on a fresh SDK client that has fetched no
// signing keys yet, behind its own server (on 127.0.0.1 too, so a browser's
// cookies reach it: cookies ignore the port). It shares e's error logs,
// clock and transports.
func (e *Env) Sibling(t testing.TB, opts ...anonymous.Option) *Env {
	t.Helper()
	s := &Env{Emu: e.Emu, Hooks: e.Hooks, Convs: e.Convs, Clock: e.Clock, Strategy: e.setup.Strategy, setup: e.setup}
	s.build(t, opts...)
	e.mu.Lock()
	e.trs = append(e.trs, s.trs...)
	e.mu.Unlock()
	return s
}

// NewSDK returns a go-sdk client for e's emulator on a transport e owns.
func (e *Env) NewSDK(t testing.TB) *client.DescopeClient {
	t.Helper()
	c, err := client.NewWithConfig(&client.Config{
		ProjectID:      e.Emu.ProjectID,
		ManagementKey:  e.Emu.ManagementKey,
		DescopeBaseURL: e.Emu.URL,
		DefaultClient:  &http.Client{Transport: e.Transport(t), Timeout: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// AgedVisitor is a new user-backed visitor of e whose user Descope created
// age ago, with a code sent to addr: its conversion needs only the verify,
// and Cull counts it stale past the anonymous refresh lifetime.
func (e *Env) AgedVisitor(t testing.TB, addr string, age time.Duration) (b *http.Client, id, code string) {
	t.Helper()
	b, me := e.Visitor(t)
	code = e.SendCode(t, b, addr)
	if err := e.Emu.SetUserCreatedTime(me.UserID, time.Now().Add(-age)); err != nil {
		t.Fatal(err)
	}
	return b, me.UserID, code
}

// Transport returns a new HTTP transport that e owns.
func (e *Env) Transport(t testing.TB) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	e.mu.Lock()
	e.trs = append(e.trs, tr)
	e.mu.Unlock()
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// CloseIdle closes the idle keep-alive connections of every transport of e,
// so their goroutines (and the servers' ones) end.
func (e *Env) CloseIdle() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, tr := range e.trs {
		tr.CloseIdleConnections()
	}
}

// Browser returns an HTTP client with its own cookie jar and transport, like
// one browser profile.
func (e *Env) Browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Transport: e.Transport(t), Timeout: 10 * time.Second}
}

// Do sends a request with a browser User-Agent through client and decodes a
// JSON answer of App. body, when non-nil, is sent as JSON; edit, when
// non-nil, changes the request before it is sent.
func (e *Env) Do(t testing.TB, client *http.Client, method, path string, body any, edit func(*http.Request)) Me {
	t.Helper()
	req, err := http.NewRequest(method, e.Server.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", BrowserUA)
	if body != nil {
		JSONBody(t, body)(req)
	}
	if edit != nil {
		edit(req)
	}
	start := time.Now()
	res, err := client.Do(req)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	me := Me{Status: res.StatusCode, SetCookie: res.Cookies(), Header: res.Header, Body: string(data), Took: took}
	if res.StatusCode == http.StatusOK && bytes.HasPrefix(data, []byte("{")) {
		if err := json.Unmarshal(data, &me); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return me
}

// Serve sends a request straight to h through a recorder, and decodes a JSON
// answer of App. The request has a browser User-Agent and, when not empty, the
// JSON body and the remote address given; edit changes it further.
func Serve(h http.Handler, method, target, body, remote string, edit func(*http.Request)) Me {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	r.Header.Set("User-Agent", BrowserUA)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if remote != "" {
		r.RemoteAddr = remote
	}
	if edit != nil {
		edit(r)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	res := rec.Result()
	me := Me{Status: res.StatusCode, SetCookie: res.Cookies(), Header: res.Header, Body: rec.Body.String()}
	if res.StatusCode == http.StatusOK && strings.HasPrefix(me.Body, "{") {
		_ = json.Unmarshal(rec.Body.Bytes(), &me)
	}
	return me
}

// JSONBody returns a request edit that sends v as the JSON body.
func JSONBody(t testing.TB, v any) func(*http.Request) {
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

// Get is Do for a GET of path.
func (e *Env) Get(t testing.TB, client *http.Client, path string) Me {
	t.Helper()
	return e.Do(t, client, http.MethodGet, path, nil, nil)
}

// Post is Do for a POST of path with body, when non-nil, as JSON.
func (e *Env) Post(t testing.TB, client *http.Client, path string, body any) Me {
	t.Helper()
	return e.Do(t, client, http.MethodPost, path, body, nil)
}

// Start and Verify call the conversion functions through App's /x routes.
func (e *Env) Start(t testing.TB, client *http.Client, addr string) Me {
	t.Helper()
	return e.Post(t, client, "/x/start?"+url.Values{"addr": {addr}}.Encode(), nil)
}

// SendCode starts the conversion of client's visitor to addr (as Start
// does) and returns the code the emulator sent there, failing the test when
// the start is refused or no code was sent.
func (e *Env) SendCode(t testing.TB, client *http.Client, addr string) string {
	t.Helper()
	if st := e.Start(t, client, addr); st.Status != http.StatusOK {
		t.Fatalf("start of the conversion to %s: %+v", addr, st)
	}
	code, ok := e.Emu.Outbox(strings.ToLower(addr))
	if !ok {
		t.Fatalf("no code sent to %s", addr)
	}
	return code
}

// Registered creates a regular user whose login ID is addr (an email when it
// has an @, a phone otherwise), as someone signing up would.
func (e *Env) Registered(t testing.TB, addr string) *descope.UserResponse {
	t.Helper()
	req := &descope.UserRequest{}
	if strings.Contains(addr, "@") {
		req.Email = addr
	} else {
		req.Phone = addr
	}
	u, err := e.SDK.Management.User().Create(context.Background(), addr, req)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Verify: see Start.
func (e *Env) Verify(t testing.TB, client *http.Client, addr, code string) Me {
	t.Helper()
	return e.Post(t, client, "/x/verify?"+url.Values{"addr": {addr}, "code": {code}}.Encode(), nil)
}

// Visitor returns a browser that was just given an anonymous user on "/".
func (e *Env) Visitor(t testing.TB) (*http.Client, Me) {
	t.Helper()
	b := e.Browser(t)
	me := e.Get(t, b, "/")
	if me.Status != http.StatusOK || !me.New || !me.Anonymous || me.UserID == "" {
		t.Fatalf("visitor not provisioned: %+v (hook saw %v)", me, e.Hooks.All())
	}
	return b, me
}

// Jar returns the cookies client holds for the server's host.
func (e *Env) Jar(client *http.Client) map[string]string {
	u, _ := url.Parse(e.Server.URL)
	m := map[string]string{}
	for _, c := range client.Jar.Cookies(u) {
		m[c.Name] = c.Value
	}
	return m
}

// Cookie returns the value client's jar holds for name.
func (e *Env) Cookie(client *http.Client, name string) string {
	u, _ := url.Parse(e.Server.URL)
	for _, c := range client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// SetCookie puts a cookie for the server into client's jar.
func (e *Env) SetCookie(client *http.Client, name, value string) {
	u, _ := url.Parse(e.Server.URL)
	client.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// DropCookie removes a cookie from client's jar, as a browser does once the
// cookie's Max-Age has passed.
func (e *Env) DropCookie(client *http.Client, name string) {
	u, _ := url.Parse(e.Server.URL)
	client.Jar.SetCookies(u, []*http.Cookie{{Name: name, Path: "/", MaxAge: -1}})
}

// Calls counts the requests the emulator received, keys fetches excluded.
func (e *Env) Calls() int {
	n := 0
	for _, r := range e.Emu.RequestLog() {
		if !strings.HasPrefix(r.Path, "/v2/keys/") {
			n++
		}
	}
	return n
}

// LocalKey is the key that seals local ID cookies in the Envs of the LocalIDs
// strategy; the tests' own LocalIDs middlewares use it too.
var LocalKey = []byte("anontest: the table's local ID cookie key, 48 bytes")

// strategyOptions returns the options that select s: WithStrategy, and for
// LocalIDs the key LocalKey.
func strategyOptions(s anonymous.Strategy) []anonymous.Option {
	opts := []anonymous.Option{anonymous.WithStrategy(s)}
	if s == anonymous.LocalIDs {
		opts = append(opts, anonymous.WithLocalKeys(LocalKey))
	}
	return opts
}

// Local reports whether the Env runs the LocalIDs strategy.
func (e *Env) Local() bool { return e.Strategy == anonymous.LocalIDs }

// ProvisionCalls is the number of Descope calls provisioning one visitor
// takes in the Env's strategy.
func (e *Env) ProvisionCalls() int {
	switch e.Strategy {
	case anonymous.NativeTokens:
		return 1
	case anonymous.LocalIDs:
		return 0
	}
	return 2
}

// ProvisionPath is the Descope path that provisioning a visitor always calls
// in the Env's strategy ("" for LocalIDs, which calls none).
func (e *Env) ProvisionPath() string {
	switch e.Strategy {
	case anonymous.NativeTokens:
		return "/v1/mgmt/auth/anonymous"
	case anonymous.LocalIDs:
		return ""
	}
	return "/v1/mgmt/user/create"
}

// IdentityCookies are the cookies provisioning writes in the Env's strategy.
func (e *Env) IdentityCookies() []string {
	if e.Local() {
		return []string{"DSL"}
	}
	return []string{"DS", "DSR"}
}

// Convert runs a whole email conversion for the visitor b: start, read the
// code from the emulator's outbox, verify. It returns the verify answer.
func (e *Env) Convert(t testing.TB, b *http.Client, email string) Me {
	t.Helper()
	start := e.Post(t, b, "/convert/start", map[string]string{"email": email})
	if start.Status != http.StatusOK {
		t.Fatalf("convert start: %d", start.Status)
	}
	code, ok := e.Emu.Outbox(strings.ToLower(email))
	if !ok {
		t.Fatalf("no code sent to %s", email)
	}
	return e.Post(t, b, "/convert/verify", map[string]string{"email": email, "code": code})
}
