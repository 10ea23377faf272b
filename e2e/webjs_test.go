package e2e

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/client"

	"github.com/descope-contrib/anonymous/descopetest"
)

// webJSVersion is the @descope/web-js-sdk the page loads, from the
// conformance suite's lockfile.
const webJSVersion = "1.53.0"

// webJSBundle returns the browser build of the pinned web-js-sdk from the
// conformance suite's node_modules, or skips the test (fails it under CI)
// when it is not installed.
func webJSBundle(t *testing.T) []byte {
	t.Helper()
	dir := filepath.Join("..", "conformance", "node_modules", "@descope", "web-js-sdk")
	var pkg struct{ Version string }
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err == nil {
		err = json.Unmarshal(data, &pkg)
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("@descope/web-js-sdk is not installed (npm ci in conformance/): %v", err)
		}
		t.Skipf("@descope/web-js-sdk is not installed: run npm ci in conformance/ (make test does): %v", err)
	}
	if pkg.Version != webJSVersion {
		t.Fatalf("conformance/node_modules has @descope/web-js-sdk %s, want %s: run npm ci in conformance/", pkg.Version, webJSVersion)
	}
	bundle, err := os.ReadFile(filepath.Join(dir, "dist", "index.umd.js"))
	if err != nil {
		t.Fatal(err)
	}
	return bundle
}

// webJSPage is a page on its own origin that signs in with web-js-sdk
// against the emulator, as an application would: tokens persisted, auto
// refresh on, and on load a try-refresh to find the session of an earlier
// visit. body[data-state] is "loading", "ready" or the error; body[data-auth]
// what onIsAuthenticatedChange last said.
var webJSPage = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>web-js-sdk against descopetest</title></head>
<body data-state="loading" data-auth="unknown">
<p id="message"></p>
<script src="/web-js-sdk.js"></script>
<script>
const sdk = Descope({ projectId: {{.ProjectID}}, baseUrl: {{.BaseURL}}, persistTokens: true, autoRefresh: true });
window.sdk = sdk;
sdk.onIsAuthenticatedChange((authenticated) => { document.body.dataset.auth = String(authenticated); });
sdk.refresh(undefined, true)
  .then(() => { document.body.dataset.state = "ready"; })
  .catch((err) => { document.body.dataset.state = "error"; document.getElementById("message").textContent = String(err); });
</script>
</body></html>`))

// TestWebJSSDK loads the real web-js-sdk in Chromium, from a page on another
// origin than the emulator (so every call is a credentialed CORS call):
// OTP sign-in with the code from the emulator's outbox, a reload that keeps
// the session, a refresh, and logout.
func TestWebJSSDK(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; CI must install it (apt-get install chromium): %v", chromium, err)
		}
		t.Skipf("%s is missing: install it (apt-get install chromium) to run the browser test", chromium)
	}
	bundle := webJSBundle(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)

	emu := descopetest.New()
	t.Cleanup(emu.Close)
	sdk := emu.MustClient(t)
	const email = "page@example.com"
	user, err := sdk.Management.User().Create(ctx, email, &descope.UserRequest{User: descope.User{Email: email}})
	if err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /web-js-sdk.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(bundle)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = webJSPage.Execute(w, struct{ ProjectID, BaseURL string }{emu.ProjectID, emu.URL})
	})
	page := httptest.NewServer(mux)
	t.Cleanup(page.Close)
	t.Logf("page %s, emulator %s", page.URL, emu.URL)

	tab := newProfile(t, ctx)
	run(t, tab, chromedp.Navigate(page.URL))
	waitJS(t, tab, `document.body.dataset.state === "ready"`, "the page to start")
	if auth := get[string](t, tab, chromedp.Evaluate[string](`document.body.dataset.auth`)); auth == "true" {
		t.Fatal("a first visit is signed in")
	}

	// OTP sign-in, the code read from the emulator's outbox.
	if !evalBool(t, tab, `sdk.otp.signIn.email("`+email+`").then((r) => r.ok)`) {
		t.Fatalf("otp.signIn.email failed: %s", evalJSON(t, tab, `sdk.otp.signIn.email("`+email+`")`))
	}
	code, ok := emu.Outbox(email)
	if !ok {
		t.Fatal("the emulator sent no code")
	}
	if !evalBool(t, tab, `sdk.otp.verify.email("`+email+`", "`+code+`").then((r) => r.ok)`) {
		t.Fatal("otp.verify.email failed")
	}
	waitJS(t, tab, `document.body.dataset.auth === "true"`, "onIsAuthenticatedChange(true) after the sign-in")
	first := get[string](t, tab, chromedp.Evaluate[string](`sdk.getSessionToken()`))
	wantSession(t, sdk, first, user.UserID, "after the sign-in")
	if dsli := get[string](t, tab, chromedp.Evaluate[string](`localStorage.getItem("DSLI") || ""`)); dsli == "" {
		t.Fatal("no logged-in indicator (DSLI) after the sign-in: the answer lacked sessionExpiration")
	}

	// A reload keeps the session: the page's try-refresh finds it.
	emu.ResetRequests()
	run(t, tab, chromedp.Reload())
	waitJS(t, tab, `document.body.dataset.state === "ready" && document.body.dataset.auth === "true"`, "the reloaded page to be signed in")
	if n := emu.Requests("/v1/auth/try-refresh"); n != 1 {
		t.Errorf("the reload sent %d try-refresh calls, want 1", n)
	}
	wantPreflight(t, emu, "/v1/auth/try-refresh")
	reloaded := get[string](t, tab, chromedp.Evaluate[string](`sdk.getSessionToken()`))
	wantSession(t, sdk, reloaded, user.UserID, "after the reload")

	// An explicit refresh, and me.
	refreshed := get[string](t, tab, chromedp.Evaluate[string](`sdk.refresh().then((r) => r.ok ? r.data.sessionJwt : "failed: " + JSON.stringify(r.error))`, chromedp.EvalAwaitPromise))
	wantSession(t, sdk, refreshed, user.UserID, "from refresh")
	if stored := get[string](t, tab, chromedp.Evaluate[string](`sdk.getSessionToken()`)); stored != refreshed {
		t.Error("the refreshed session token was not persisted")
	}
	if me := get[string](t, tab, chromedp.Evaluate[string](`sdk.me().then((r) => r.ok ? r.data.userId : "")`, chromedp.EvalAwaitPromise)); me != user.UserID {
		t.Errorf("me = %q, want %s", me, user.UserID)
	}

	// Logout revokes the session at the emulator and clears the page.
	refresh := get[string](t, tab, chromedp.Evaluate[string](`sdk.getRefreshToken()`))
	if !evalBool(t, tab, `sdk.logout().then((r) => r.ok)`) {
		t.Fatal("logout failed")
	}
	waitJS(t, tab, `document.body.dataset.auth === "false"`, "onIsAuthenticatedChange(false) after logout")
	if left := get[string](t, tab, chromedp.Evaluate[string](`(localStorage.getItem("DSR") || "") + (localStorage.getItem("DS") || "")`)); left != "" {
		t.Error("logout left tokens in localStorage")
	}
	if _, _, err := sdk.Auth.RefreshSessionWithToken(ctx, refresh); err == nil {
		t.Error("the refresh token still works after the page logged out")
	}
	run(t, tab, chromedp.Reload())
	waitJS(t, tab, `document.body.dataset.state === "ready"`, "the page to start after logout")
	if auth := get[string](t, tab, chromedp.Evaluate[string](`document.body.dataset.auth`)); auth == "true" {
		t.Error("after logout a reload is signed in")
	}
}

// evalBool awaits a JavaScript promise of a boolean.
func evalBool(t *testing.T, tab context.Context, js string) bool {
	t.Helper()
	return get[bool](t, tab, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise))
}

// evalJSON awaits a JavaScript promise and returns its value as JSON.
func evalJSON(t *testing.T, tab context.Context, js string) string {
	t.Helper()
	return get[string](t, tab, chromedp.Evaluate[string](`Promise.resolve(`+js+`).then((v) => JSON.stringify(v))`, chromedp.EvalAwaitPromise))
}

// wantSession checks with the go-sdk that jwt is a valid session of userID.
func wantSession(t *testing.T, sdk *client.DescopeClient, jwt, userID, when string) {
	t.Helper()
	ok, tok, err := sdk.Auth.ValidateSessionWithToken(context.Background(), jwt)
	if !ok || err != nil || tok.ID != userID {
		t.Fatalf("%s the page's session token is not a valid session of %s: %v %v", when, userID, ok, err)
	}
}

// wantPreflight checks that the browser sent a CORS preflight for path and
// the emulator allowed it.
func wantPreflight(t *testing.T, emu *descopetest.Emulator, path string) {
	t.Helper()
	for _, r := range emu.RequestLog() {
		if r.Method == http.MethodOptions && r.Path == path {
			if r.Status != http.StatusNoContent {
				t.Errorf("the preflight of %s was answered %d", path, r.Status)
			}
			return
		}
	}
	t.Errorf("Chromium sent no preflight for %s: is the page on another origin?", path)
}
