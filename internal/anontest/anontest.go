// Package anontest holds the middleware's behaviour table, so that the
// net/http middleware and every framework adapter run the very same cases
// against the Descope emulator.
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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

// Mount wires the middleware m in front of app the way one integration does
// (plain net/http, chi, gin, echo) and returns the server's handler. Every
// path must reach app through the middleware.
type Mount func(t testing.TB, m *anonymous.Middleware, app http.Handler) http.Handler

// BrowserUA is the User-Agent the table's clients send.
const BrowserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"

// Env is one case's world: an emulator, the middleware and a real HTTP
// server on loopback.
type Env struct {
	Emu      *descopetest.Emulator
	MW       *anonymous.Middleware
	Server   *httptest.Server
	Strategy anonymous.Strategy

	mu        sync.Mutex
	errs      []error
	converted [][2]string // anonymous ID, user ID, per OnConvert call
}

// Converted returns the (anonymous ID, user ID) pairs the OnConvert hook saw.
func (e *Env) Converted() [][2]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([][2]string(nil), e.converted...)
}

// Errors returns the errors the error hook has seen so far.
func (e *Env) Errors() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.errs...)
}

// Me is what the app's /whoami answers, with the response's cookies.
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
}

// App is the application the table drives: it reports the context's user and
// exposes Ensure, conversion and logout.
func App(m *anonymous.Middleware) http.Handler {
	mux := http.NewServeMux()
	me := func(w http.ResponseWriter, u *anonymous.User) {
		w.Header().Set("Content-Type", "application/json")
		if u == nil {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"no user"}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"userId": u.ID, "anonymous": u.Anonymous, "new": u.New, "refreshed": u.Refreshed,
			"degraded": u.Degraded, "loginIds": u.LoginIDs,
		})
	}
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		u, _ := anonymous.FromContext(r.Context())
		me(w, u)
	})
	mux.HandleFunc("/ensure", func(w http.ResponseWriter, r *http.Request) {
		u, err := m.Ensure(w, r)
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		me(w, u)
	})
	mux.Handle("/convert/start", m.ConvertStartHandler())
	mux.Handle("/convert/verify", m.ConvertVerifyHandler())
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Logout(w, r); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	return mux
}

// NewEnv starts an emulator, builds the middleware with opts (after options
// suited to plain http on loopback, and hooks the table inspects), resolves
// the anonymous tenant, and serves everything through mount.
func NewEnv(t testing.TB, mount Mount, emuOpts []descopetest.Option, opts ...anonymous.Option) *Env {
	t.Helper()
	env := &Env{Emu: descopetest.New(append([]descopetest.Option{descopetest.WithSecondsUnit()}, emuOpts...)...)}
	t.Cleanup(env.Emu.Close)
	base := []anonymous.Option{
		anonymous.WithCookieSecure(false), // plain http on loopback
		anonymous.WithEmulatorLifetimes(), // the emulator runs in seconds mode
		anonymous.WithTimeout(2 * time.Second),
		anonymous.WithClientRateLimit(0, 0),
		anonymous.WithGlobalRateLimit(0, 0),
		anonymous.WithErrorHandler(func(_ http.ResponseWriter, _ *http.Request, err error) {
			env.mu.Lock()
			env.errs = append(env.errs, err)
			env.mu.Unlock()
		}),
		anonymous.WithOnConvert(func(_ context.Context, anonymousID string, u *anonymous.User) error {
			env.mu.Lock()
			env.converted = append(env.converted, [2]string{anonymousID, u.ID})
			env.mu.Unlock()
			return nil
		}),
	}
	m, err := anonymous.New(env.Emu.MustClient(t), append(base, opts...)...)
	if err != nil {
		t.Fatalf("anonymous.New: %v", err)
	}
	if err := m.Init(context.Background()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	env.MW = m
	env.Server = httptest.NewServer(mount(t, m, App(m)))
	t.Cleanup(env.Server.Close)
	env.Emu.ResetRequests()
	return env
}

// Browser returns an HTTP client with its own cookie jar, like one browser
// profile.
func (e *Env) Browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// Do sends a request through client and decodes a /whoami-shaped answer.
// edit, when non-nil, changes the request before it is sent.
func (e *Env) Do(t testing.TB, client *http.Client, method, path string, body any, edit func(*http.Request)) Me {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.Server.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", BrowserUA)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if edit != nil {
		edit(req)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	me := Me{Status: res.StatusCode, SetCookie: res.Cookies(), Header: res.Header}
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK && len(data) > 0 {
		if err := json.Unmarshal(data, &me); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return me
}

// Get is Do for a GET of path.
func (e *Env) Get(t testing.TB, client *http.Client, path string) Me {
	t.Helper()
	return e.Do(t, client, http.MethodGet, path, nil, nil)
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

// Case is one behaviour of the middleware.
type Case struct {
	Name    string
	Emu     []descopetest.Option
	Options []anonymous.Option
	Run     func(t *testing.T, env *Env)
}

// Strategies are the provisioning strategies Run runs the table in.
var Strategies = []anonymous.Strategy{anonymous.UserBacked, anonymous.NativeTokens, anonymous.LocalIDs}

// LocalKey is the key that seals local ID cookies in the table's Envs.
var LocalKey = []byte("anontest: the table's local ID cookie key, 48 bytes")

// StrategyOptions returns the options that select s: WithStrategy, and for
// LocalIDs the table's key.
func StrategyOptions(s anonymous.Strategy) []anonymous.Option {
	opts := []anonymous.Option{anonymous.WithStrategy(s)}
	if s == anonymous.LocalIDs {
		opts = append(opts, anonymous.WithLocalKeys(LocalKey))
	}
	return opts
}

// Run runs every case of the table through mount, in every provisioning
// strategy, each case in a fresh Env.
func Run(t *testing.T, mount Mount) {
	for _, s := range Strategies {
		t.Run(s.String(), func(t *testing.T) {
			for _, c := range Cases() {
				t.Run(c.Name, func(t *testing.T) {
					t.Parallel()
					env := NewEnv(t, mount, c.Emu, append(StrategyOptions(s), c.Options...)...)
					env.Strategy = s
					c.Run(t, env)
				})
			}
		})
	}
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

// OutagePaths returns every path the emulator serves (the dynamic ones with
// each suffix the SDK uses), for a test to fault them all: a full Descope
// outage.
func OutagePaths(emu *descopetest.Emulator) []string {
	paths := []string{"/v2/keys/" + emu.ProjectID,
		"/v1/auth/password/signup", "/v1/auth/password/signin", "/v1/auth/password/replace",
		"/v1/auth/refresh", "/v1/auth/logout", "/v1/auth/logoutall", "/v1/auth/me",
		"/v1/auth/otp/update/email", "/v1/auth/tenant/select",
		"/v1/mgmt/license", "/v1/mgmt/user/create", "/v1/mgmt/user/create/test", "/v1/mgmt/user/create/batch",
		"/v1/mgmt/user", "/v1/mgmt/user/update", "/v1/mgmt/user/patch", "/v1/mgmt/user/update/tenant/add",
		"/v1/mgmt/user/update/tenant/remove", "/v1/mgmt/user/update/status", "/v1/mgmt/user/update/loginid",
		"/v1/mgmt/user/update/email", "/v1/mgmt/user/update/phone", "/v2/mgmt/user/search",
		"/v1/mgmt/user/delete", "/v1/mgmt/user/delete/batch", "/v1/mgmt/user/test/delete/all", "/v1/mgmt/user/logout",
		"/v1/mgmt/auth/signin", "/v1/mgmt/auth/signup", "/v1/mgmt/auth/signup-in", "/v1/mgmt/auth/anonymous",
		"/v1/mgmt/jwt/update",
		"/v1/mgmt/tenant/create", "/v1/mgmt/tenant/update", "/v1/mgmt/tenant/delete", "/v1/mgmt/tenant",
		"/v1/mgmt/tenant/all", "/v1/mgmt/tenant/settings", "/v1/mgmt/tenant/search",
	}
	for _, m := range []string{"email", "sms", "whatsapp", "voice"} {
		paths = append(paths, "/v1/auth/otp/verify/"+m, "/v1/auth/otp/signup-in/"+m, "/v1/auth/otp/update/phone/"+m)
	}
	return paths
}

// FaultAll injects f on every path OutagePaths lists.
func FaultAll(emu *descopetest.Emulator, f descopetest.Fault) {
	for _, p := range OutagePaths(emu) {
		emu.InjectFault(p, f)
	}
}

// findCookie returns the named cookie among cs.
func findCookie(cs []*http.Cookie, name string) *http.Cookie {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// waitPast sleeps until the unix second exp has passed.
func waitPast(exp time.Time) {
	if d := time.Until(exp); d > 0 {
		time.Sleep(d + 50*time.Millisecond)
	}
}

// Convert runs a whole email conversion for the visitor b: start, read the
// code from the emulator's outbox, verify. It returns the verify answer.
func (e *Env) Convert(t testing.TB, b *http.Client, email string) Me {
	t.Helper()
	start := e.Do(t, b, http.MethodPost, "/convert/start", map[string]string{"email": email}, nil)
	if start.Status != http.StatusOK {
		t.Fatalf("convert start: %d", start.Status)
	}
	code, ok := e.Emu.Outbox(strings.ToLower(email))
	if !ok {
		t.Fatalf("no code sent to %s", email)
	}
	return e.Do(t, b, http.MethodPost, "/convert/verify", map[string]string{"email": email, "code": code}, nil)
}
