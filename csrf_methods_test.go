package anonymous_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// The handlers of magic links, passkeys and of a conversion done elsewhere admit
// requests as the code's do: a page of another origin (even of the same
// site) gets 403 and a body not declared JSON 415, before Descope is asked
// anything, and a GET gets 405: opening a link converts nothing.
func TestSecurityMethodHandlersRefuseCrossOrigin(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := linkEnv(t, s)
			b, first := env.Visitor(t)
			tok := startLink(t, env, b, "ada@example.com")
			env.Emu.ResetRequests()
			attacks := map[string]func(*http.Request){
				"sibling subdomain, JSON": fromPage("http://evil.127.0.0.1.nip.io", "same-site", "application/json"),
				"another site, form":      fromPage("https://evil.example", "cross-site", "application/x-www-form-urlencoded"),
				"own page, text/plain":    fromPage(serverOrigin(env), "same-origin", "text/plain"),
			}
			for name, edit := range attacks {
				for path, body := range map[string]map[string]string{
					"/convert/link/start":     {"email": "mallory@example.com"},
					"/convert/link/verify":    {"token": tok},
					"/convert/complete":       {},
					"/convert/passkey/start":  {"name": "mallory"},
					"/convert/passkey/finish": {"transactionId": "x", "response": "{}"},
				} {
					me := env.Do(t, b, http.MethodPost, path, body, edit)
					if (me.Status != http.StatusForbidden && me.Status != http.StatusUnsupportedMediaType) || len(me.SetCookie) != 0 {
						t.Errorf("%s %s: %d %s", name, path, me.Status, me.Body)
					}
				}
			}
			for _, path := range []string{"/convert/link/verify?t=" + tok, "/convert/complete", "/convert/passkey/start", "/convert/passkey/finish"} {
				if me := env.Get(t, b, path); me.Status != http.StatusMethodNotAllowed || len(me.SetCookie) != 0 {
					t.Errorf("GET %s: %d", path, me.Status)
				}
			}
			if env.Calls() != 0 {
				t.Fatalf("refused requests reached Descope: %v", env.Emu.RequestLog())
			}
			if me := env.Get(t, b, "/whoami"); me.UserID != first.UserID || !me.Anonymous {
				t.Fatalf("visitor after the refused requests: %+v", me)
			}
			// The landing page's own POST converts.
			me := env.Do(t, b, http.MethodPost, "/convert/link/verify", map[string]string{"token": tok}, fromPage(serverOrigin(env), "same-origin", "application/json"))
			if me.Status != http.StatusOK || me.Anonymous {
				t.Fatalf("same-origin verify: %+v", me)
			}
		})
	}
}

// The link verify handler wants exactly {"token": …}.
func TestLinkVerifyHandlerBodies(t *testing.T) {
	env := linkEnv(t, anonymous.UserBacked)
	b, _ := env.Visitor(t)
	for body, want := range map[string]int{
		`{}`:                     http.StatusBadRequest,
		`{"token": 5}`:           http.StatusBadRequest,
		`{"token": "a", "x": 1}`: http.StatusBadRequest,
		`{"token": "a"} {}`:      http.StatusBadRequest,
		`{"token": "abc"}`:       http.StatusConflict, // no link conversion pending
	} {
		me := env.Do(t, b, http.MethodPost, "/convert/link/verify", nil, func(r *http.Request) {
			r.Body = http.NoBody
			r.Header.Set("Content-Type", "application/json")
			r.Body = ioNop(body)
			r.ContentLength = int64(len(body))
		})
		if me.Status != want || !strings.Contains(me.Body, "error") {
			t.Errorf("%s: %d %s, want %d", body, me.Status, me.Body, want)
		}
	}
}

// ioNop is a request body reading s.
func ioNop(s string) *nopBody { return &nopBody{strings.NewReader(s)} }

type nopBody struct{ *strings.Reader }

func (nopBody) Close() error { return nil }
