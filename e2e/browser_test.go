package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/descope-contrib/anonymous"
)

// chromium is Debian's Chromium (apt-get install chromium).
const chromium = "/usr/bin/chromium"

// sessionTTL is the anonymous session lifetime the server runs with, short so
// the test sees a refresh.
const sessionTTL = 3 * time.Second

func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; CI must install it (apt-get install chromium): %v", chromium, err)
		}
		t.Skipf("%s is missing: install it (apt-get install chromium) to run the browser test", chromium)
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	base, admin := startServer(t, ctx)
	artifacts := artifactsDir(t)

	tab := newProfile(t, ctx)
	run(t, tab, chromedp.Navigate(base))
	first := readPage(t, tab)
	if first.kind != "anonymous" || first.id == "" {
		t.Fatalf("first visit: %+v, want an anonymous user", first)
	}
	t.Logf("anonymous user %s", first.id)

	// The identity lives in HttpOnly, SameSite=Lax cookies, not Secure on a
	// plain-http loopback server, and scripts cannot read them.
	jar := cookies(t, tab, base)
	for _, name := range []string{"DS", "DSR"} {
		c, ok := jar[name]
		switch {
		case !ok:
			t.Fatalf("no %s cookie; cookies: %v", name, slices.Sorted(maps.Keys(jar)))
		case !c.HTTPOnly:
			t.Errorf("%s cookie is not HttpOnly", name)
		case c.SameSite != network.CookieSameSiteLax:
			t.Errorf("%s cookie SameSite=%q, want Lax", name, c.SameSite)
		case c.Secure:
			t.Errorf("%s cookie is Secure on a plain-http loopback server", name)
		}
	}
	if dc := get[string](t, tab, chromedp.Evaluate[string](`document.cookie`)); strings.Contains(dc, "DS") {
		t.Errorf("document.cookie = %q: the tokens are readable by scripts", dc)
	}

	run(t, tab, chromedp.Reload())
	if p := readPage(t, tab); p.id != first.id || p.kind != "anonymous" {
		t.Fatalf("after reload: %+v, want anonymous user %s", p, first.id)
	}

	// Once the session token has expired, the refresh cookie brings the
	// same user back with a new session token.
	time.Sleep(sessionTTL + time.Second)
	run(t, tab, chromedp.Reload())
	if p := readPage(t, tab); p.id != first.id || p.kind != "anonymous" {
		t.Fatalf("after the session expired: %+v, want anonymous user %s", p, first.id)
	}
	if ds := cookies(t, tab, base)["DS"]; ds == nil || ds.Value == jar["DS"].Value {
		t.Error("the session cookie was not refreshed after it expired")
	}

	const text = "Remember the milk"
	run(t, tab,
		chromedp.SendKeys(chromedp.ID("note-text"), text),
		chromedp.Click(chromedp.ID("add-note")),
	)
	waitJS(t, tab, `document.querySelectorAll("#notes li").length === 1`, "the note to appear")

	// Convert with the code the page shows (the emulator's outbox).
	const email = "ada@example.com"
	run(t, tab,
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.Click(chromedp.ID("send-code")),
		chromedp.WaitVisible(chromedp.ID("dev-code")),
	)
	code := get[string](t, tab, chromedp.Text(chromedp.ID("dev-code")))
	if len(code) < 4 {
		t.Fatalf("code shown on the page: %q", code)
	}
	screenshot(t, tab, filepath.Join(artifacts, "anonymous.png"))
	run(t, tab,
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.ID("verify")),
	)
	waitJS(t, tab, `document.body.dataset.kind === "regular"`, "the user to become regular")

	run(t, tab, chromedp.Reload())
	p := readPage(t, tab)
	if p.id != first.id || p.kind != "regular" || !slices.Contains(p.notes, text) {
		t.Fatalf("after conversion and reload: %+v, want regular user %s with note %q", p, first.id, text)
	}
	if !strings.Contains(p.login, email) {
		t.Errorf("after conversion the page shows login %q, want %s", p.login, email)
	}
	me := get[anonymous.UserJSON](t, tab,
		chromedp.Evaluate[anonymous.UserJSON](`fetch("/api/me").then(r => r.json())`, chromedp.EvalAwaitPromise))
	if me.UserID != first.id || me.Anonymous || !slices.Contains(me.LoginIDs, email) {
		t.Errorf("/api/me from the browser = %+v", me)
	}
	checkFunnel(t, tab, admin)
	screenshot(t, tab, filepath.Join(artifacts, "regular.png"))

	// Another browser profile is another visitor.
	other := newProfile(t, ctx)
	run(t, other, chromedp.Navigate(base))
	if q := readPage(t, other); q.kind != "anonymous" || q.id == "" || q.id == first.id || len(q.notes) != 0 {
		t.Fatalf("second profile: %+v, want another anonymous user with no notes", q)
	}
	t.Logf("browser test took %v", time.Since(began).Round(100*time.Millisecond))
}

// checkFunnel checks the "this server" panel after the one conversion: one
// visitor provisioned, one code sent, one converted, each bar as wide as its
// share of the visitors, and the same counts on /metrics, which the admin
// address serves and the page's does not.
func checkFunnel(t *testing.T, tab context.Context, admin string) {
	t.Helper()
	for id, want := range map[string]string{"funnel-provisioned": "1", "funnel-codes-sent": "1", "funnel-converted": "1"} {
		if got := get[string](t, tab, chromedp.Text(chromedp.ID(id))); got != want {
			t.Errorf("panel #%s shows %q, want %s", id, got, want)
		}
	}
	// Each bar is drawn (the page animates its width), full for 1 of 1.
	waitJS(t, tab, `["provisioned", "codes-sent", "converted"].every((id) => {
		const bar = document.getElementById("bar-" + id);
		return bar.offsetWidth > 0 && Math.abs(bar.offsetWidth - bar.parentElement.clientWidth) <= 1;
	})`, "the funnel bars to be drawn full")
	if note := get[string](t, tab, chromedp.Text(chromedp.ID("funnel-note"))); !strings.Contains(note, "100.0%") {
		t.Errorf("panel note %q, want a 100.0%% conversion rate", note)
	}
	if status := get[int](t, tab, chromedp.Evaluate[int](`fetch("/metrics").then(r => r.status)`, chromedp.EvalAwaitPromise)); status != http.StatusNotFound {
		t.Errorf("/metrics on the page's address: status %d, want 404", status)
	}
	res, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics on the admin address: %d, %v", res.StatusCode, err)
	}
	metrics := string(body)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^anonymous_provisioned_total\{[^}]*strategy="user-backed"[^}]*\} 1$`),
		regexp.MustCompile(`(?m)^anonymous_conversion_total\{[^}]*step="code_sent"[^}]*\} 1$`),
		regexp.MustCompile(`(?m)^anonymous_conversion_total\{[^}]*step="converted"[^}]*\} 1$`),
	} {
		if !want.MatchString(metrics) {
			t.Errorf("/metrics has no line matching %s", want)
		}
	}
}

// startServer runs the example server (examples/server, built once per
// test binary) on the embedded emulator on a free loopback port, with its
// admin routes on another, and extra flags args, and returns both URLs. At
// cleanup it stops the server with SIGINT and checks that it shut down
// cleanly.
func startServer(t *testing.T, ctx context.Context, args ...string) (base, admin string) {
	t.Helper()
	bin := serverBinary(t, ctx)
	logs := &serverLog{served: make(chan string, 1)}
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(cleanEnv(), "ANON_SESSION_TTL="+sessionTTL.String())
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("server did not shut down cleanly: %v", err)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("server did not stop within 15s of SIGINT")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})

	select {
	case u := <-logs.served:
		t.Logf("server at %s, admin at %s", u, logs.admin)
		if logs.admin == "" {
			t.Fatalf("the server logged no admin URL:\n%s", logs.String())
		}
		return u, logs.admin
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("server exited before serving: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not log its URL within 30s:\n%s", logs.String())
	}
	return "", ""
}

// The example server's binary, built once for every test of the binary.
var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// serverBinary builds examples/server (a module of its own) the first time
// it is called, into a directory TestMain removes, and returns its path.
func serverBinary(t *testing.T, ctx context.Context) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := filepath.Abs(filepath.Join("..", "examples", "server"))
		if err != nil {
			buildErr = err
			return
		}
		goCmd, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("the go command is needed to build the example server: %w", err)
			return
		}
		builtBin = filepath.Join(buildDir, "server")
		build := exec.CommandContext(ctx, goCmd, "build", "-o", builtBin, ".")
		build.Dir = dir
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build examples/server: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// cleanEnv is the test's environment without the variables that would point
// the server at real Descope or change its settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "DESCOPE_") || strings.HasPrefix(name, "ANON_") || name == "ADDR" || name == "ADMIN_ADDR" || name == "REDIS_URL" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// servingLine matches the line the server logs once it listens, and
// adminLine the one it logs before, once its admin address listens.
var (
	servingLine = regexp.MustCompile(`msg=serving url=(http://\S+)\n`)
	adminLine   = regexp.MustCompile(`msg=admin url=(http://\S+) `)
)

// serverLog keeps the server's output and reports the URLs it serves. admin
// is set before the URL is sent on served.
type serverLog struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	served chan string
	found  bool
	admin  string
}

func (l *serverLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.found {
		if m := adminLine.FindSubmatch(l.buf.Bytes()); m != nil {
			l.admin = string(m[1])
		}
		if m := servingLine.FindSubmatch(l.buf.Bytes()); m != nil {
			l.found = true
			l.served <- string(m[1])
		}
	}
	return len(p), nil
}

func (l *serverLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newProfile starts a headless Chromium with a fresh profile (its own user
// data dir, so its own cookies) and returns a tab on it.
func newProfile(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	dir := t.TempDir() // removed after the browser has exited
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // containers run the test as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true), // /dev/shm is tiny in many containers
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1000, 1100),
	)
	t.Cleanup(cancelAlloc) // waits for the browser to exit
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	return tab
}

// page is what the page shows.
type page struct {
	kind  string // body[data-kind]: "anonymous" or "regular"
	id    string // #user-id
	login string // #login-ids
	notes []string
}

// readPage waits until the page has loaded the visitor and reads it.
func readPage(t *testing.T, tab context.Context) page {
	t.Helper()
	state := get[string](t, tab, chromedp.Poll[string](`document.body.dataset.state !== "loading" && document.body.dataset.state`,
		chromedp.WithPollingTimeout(15*time.Second)))
	if state != "ready" {
		msg, _ := chromedp.Run(tab, chromedp.Text(chromedp.ID("message")))
		t.Fatalf("page state %q: %s", state, msg)
	}
	var p page
	p.kind = get[string](t, tab, chromedp.Evaluate[string](`document.body.dataset.kind`))
	p.id = get[string](t, tab, chromedp.Text(chromedp.ID("user-id")))
	p.login = get[string](t, tab, chromedp.Text(chromedp.ID("login-ids")))
	p.notes = get[[]string](t, tab, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#notes li span"), (e) => e.textContent)`))
	return p
}

// waitJS waits until the JavaScript condition holds; on timeout it fails with
// the message the page shows.
func waitJS(t *testing.T, tab context.Context, cond, what string) {
	t.Helper()
	if _, err := chromedp.Run(tab, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		msg, _ := chromedp.Run(tab, chromedp.Text(chromedp.ID("message")))
		t.Fatalf("waiting for %s: %v (page says %q)", what, err, msg)
	}
}

// cookies returns the browser's cookies for url by name.
func cookies(t *testing.T, tab context.Context, url string) map[string]*network.Cookie {
	t.Helper()
	res, err := chromedp.Call(tab, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		t.Fatalf("get cookies: %v", err)
	}
	out := make(map[string]*network.Cookie, len(res.Cookies))
	for _, c := range res.Cookies {
		out[c.Name] = c
	}
	return out
}

// screenshot saves a PNG of the whole page.
func screenshot(t *testing.T, tab context.Context, path string) {
	t.Helper()
	png := get[[]byte](t, tab, chromedp.FullScreenshot(100))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// artifactsDir is $E2E_ARTIFACTS when set, else a temporary directory.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("E2E_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// run runs actions on the tab, failing the test on error.
func run(t *testing.T, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tab, steps...); err != nil {
		t.Fatal(err)
	}
}

// get runs one action on the tab and returns its value, failing the test on
// error.
func get[T any](t *testing.T, tab context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(tab, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
