package anonymous_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// TestTrustedOrigins checks the two ways to let pages of other origins use
// the conversion handlers: WithTrustedOrigins names them; an application's
// own CrossOriginProtection (WithCrossOriginProtection) is consulted on each
// request, so an origin it trusts later counts from then on. A client that
// sends neither Origin nor Sec-Fetch-Site (not a browser) is let through.
func TestTrustedOrigins(t *testing.T) {
	const trusted = "https://app.example.com"
	start := map[string]string{"email": "ada@example.com"}

	var log syncBuffer
	env := anontest.NewEnv(t, netHTTP, nil, anonymous.WithTrustedOrigins(trusted, "http://localhost:3000"), anonymous.WithLogger(newTestLogger(&log)))
	b, _ := env.Visitor(t)
	if me := env.Do(t, b, http.MethodPost, "/convert/start", start, fromPage("https://evil.example.com", "same-site", "application/json")); me.Status != http.StatusForbidden {
		t.Errorf("untrusted sibling: %d %s", me.Status, me.Body)
	}
	if l := log.String(); !strings.Contains(l, "conversion request refused") || !strings.Contains(l, "origin=https://evil.example.com") {
		t.Errorf("the refusal was not logged with its origin: %s", l)
	}
	if me := env.Do(t, b, http.MethodPost, "/convert/start", start, fromPage(trusted, "same-site", "application/json")); me.Status != http.StatusOK {
		t.Errorf("trusted origin: %d %s", me.Status, me.Body)
	}
	if me := env.Do(t, b, http.MethodPost, "/convert/start", start, fromPage(trusted, "cross-site", "text/plain")); me.Status != http.StatusUnsupportedMediaType {
		t.Errorf("trusted origin, text/plain: %d %s, want 415", me.Status, me.Body)
	}
	if me := env.Post(t, b, "/convert/start", map[string]string{"email": "bob@example.com"}); me.Status != http.StatusOK {
		t.Errorf("no Origin, no Sec-Fetch-Site: %d %s", me.Status, me.Body)
	}

	own := http.NewCrossOriginProtection()
	own.AddInsecureBypassPattern("POST /convert/verify")
	env2 := anontest.NewEnv(t, netHTTP, nil, anonymous.WithCrossOriginProtection(own))
	b2, _ := env2.Visitor(t)
	from := fromPage(trusted, "cross-site", "application/json")
	if me := env2.Do(t, b2, http.MethodPost, "/convert/start", start, from); me.Status != http.StatusForbidden {
		t.Errorf("own protection, before trusting: %d %s", me.Status, me.Body)
	}
	if err := own.AddTrustedOrigin(trusted); err != nil {
		t.Fatal(err)
	}
	if me := env2.Do(t, b2, http.MethodPost, "/convert/start", start, from); me.Status != http.StatusOK {
		t.Errorf("own protection, after trusting: %d %s", me.Status, me.Body)
	}
	// The bypass pattern is the application's choice: the verify handler is
	// reached (and refuses the wrong code), not refused as cross-origin.
	bad := map[string]string{"email": "ada@example.com", "code": "000000"}
	if me := env2.Do(t, b2, http.MethodPost, "/convert/verify", bad, fromPage("https://evil.example.com", "cross-site", "application/json")); me.Status == http.StatusForbidden {
		t.Errorf("own protection's bypass pattern ignored: %d %s", me.Status, me.Body)
	}
}

func TestTrustedOriginsValidated(t *testing.T) {
	emu := descopetest.New()
	defer emu.Close()
	c := emu.MustClient(t)
	for name, opts := range map[string][]anonymous.Option{
		"no scheme":       {anonymous.WithTrustedOrigins("app.example.com")},
		"a path":          {anonymous.WithTrustedOrigins("https://app.example.com/")},
		"a query":         {anonymous.WithTrustedOrigins("https://app.example.com?x=1")},
		"upper case":      {anonymous.WithTrustedOrigins("https://App.example.com")},
		"default port":    {anonymous.WithTrustedOrigins("https://app.example.com:443")},
		"empty port":      {anonymous.WithTrustedOrigins("https://app.example.com:")},
		"user info":       {anonymous.WithTrustedOrigins("https://u@app.example.com")},
		"wildcard":        {anonymous.WithTrustedOrigins("*")},
		"null":            {anonymous.WithTrustedOrigins("null")},
		"nil protection":  {anonymous.WithCrossOriginProtection(nil)},
		"both options":    {anonymous.WithTrustedOrigins("https://app.example.com"), anonymous.WithCrossOriginProtection(http.NewCrossOriginProtection())},
		"both, reordered": {anonymous.WithCrossOriginProtection(http.NewCrossOriginProtection()), anonymous.WithTrustedOrigins("https://app.example.com")},
	} {
		if m, err := anonymous.New(c, opts...); err == nil || m != nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	for _, o := range []string{"https://app.example.com", "http://localhost:3000", "https://app.example.com:8443", "http://[::1]:8080"} {
		if _, err := anonymous.New(c, anonymous.WithTrustedOrigins(o)); err != nil {
			t.Errorf("%s refused: %v", o, err)
		}
	}
}
